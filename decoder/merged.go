package decoder

import (
	"fmt"
	"regexp"
	"strconv"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/internal/ortx"
)

// mergedIO is what the merged decoder graph declares, read from its ONNX
// metadata the way transformers.js does: feeds are built from the declared
// inputs, the optional ones (position_ids, use_cache_branch,
// num_logits_to_keep) only when present; the cache's element type and, where
// the dimensions are numeric, its head count and head size come from the
// past_key_values inputs.
type mergedIO struct {
	embedsHalf bool // inputs_embeds is float16
	hasPos     bool
	useCache   bool // use_cache_branch: bool [1], true iff the past is not empty
	numLogits  bool // num_logits_to_keep: int64 scalar, fed 1
	kvType     ort.TensorElementDataType
	logitsHalf bool
	kvHeads    int
	headDim    int
}

var pastRE = regexp.MustCompile(`^past_key_values\.(\d+)\.(key|value)$`)

// inspectMerged reads the merged graph's inputs and outputs, checks them
// against the decoder contract for d.Layers layers, and returns the port
// lists in feed order with what was found.
func inspectMerged(path string, d Dims, o ortx.Options) (io mergedIO, in, out []ortx.Port, err error) {
	ins, outs, err := ortx.Inspect(path, o)
	if err != nil {
		return io, nil, nil, fmt.Errorf("decoder: %w", err)
	}
	floatish := func(kind string, i ort.InputOutputInfo) (bool, error) {
		switch i.DataType {
		case ort.TensorElementDataTypeFloat:
			return false, nil
		case ort.TensorElementDataTypeFloat16:
			return true, nil
		}
		return false, ortx.Mismatch(path, kind, i.Name, fmt.Sprintf("is %s, want float32 or float16", i.DataType))
	}
	want := func(name string, t ort.TensorElementDataType) error {
		i, ok := ortx.Info(ins, name)
		if !ok {
			return ortx.Mismatch(path, "input", name, "is missing")
		}
		if i.DataType != t {
			return ortx.Mismatch(path, "input", name, fmt.Sprintf("is %s, want %s", i.DataType, t))
		}
		return nil
	}
	// Every declared input must be one the contract knows.
	seenPast := map[string]bool{}
	for _, i := range ins {
		switch i.Name {
		case "inputs_embeds", "attention_mask", "position_ids", "use_cache_branch", "num_logits_to_keep":
			continue
		}
		m := pastRE.FindStringSubmatch(i.Name)
		if m == nil {
			return io, nil, nil, ortx.Mismatch(path, "input", i.Name, "is not part of the decoder contract "+
				"(inputs_embeds, attention_mask, position_ids, past_key_values.N.key/value, use_cache_branch, num_logits_to_keep)")
		}
		if n, _ := strconv.Atoi(m[1]); n >= d.Layers {
			return io, nil, nil, ortx.Mismatch(path, "input", i.Name, fmt.Sprintf("is beyond the config's %d layers", d.Layers))
		}
		seenPast[i.Name] = true
	}
	e, ok := ortx.Info(ins, "inputs_embeds")
	if !ok {
		return io, nil, nil, ortx.Mismatch(path, "input", "inputs_embeds", "is missing")
	}
	if io.embedsHalf, err = floatish("input", e); err != nil {
		return io, nil, nil, err
	}
	if err := want("attention_mask", ort.TensorElementDataTypeInt64); err != nil {
		return io, nil, nil, err
	}
	in = []ortx.Port{{Name: "inputs_embeds", Type: e.DataType}, ortx.Int64("attention_mask")}
	if _, io.hasPos = ortx.Info(ins, "position_ids"); io.hasPos {
		if err := want("position_ids", ort.TensorElementDataTypeInt64); err != nil {
			return io, nil, nil, err
		}
		in = append(in, ortx.Int64("position_ids"))
	}
	first := fmt.Sprintf("past_key_values.%d.key", 0)
	p0, ok := ortx.Info(ins, first)
	if !ok {
		return io, nil, nil, ortx.Mismatch(path, "input", first, "is missing")
	}
	io.kvType = p0.DataType
	if _, err := floatish("input", p0); err != nil {
		return io, nil, nil, err
	}
	dims := p0.Dimensions
	if len(dims) != 4 {
		return io, nil, nil, ortx.Mismatch(path, "input", first, fmt.Sprintf("has shape %v, want (batch, heads, past, head_dim)", dims))
	}
	io.kvHeads, io.headDim = d.KVHeads, d.HeadDim
	if dims[1] > 0 {
		io.kvHeads = int(dims[1])
	}
	if dims[3] > 0 {
		io.headDim = int(dims[3])
	}
	if io.kvHeads <= 0 || io.headDim <= 0 {
		return io, nil, nil, ortx.Mismatch(path, "input", first, "has symbolic head dimensions and the config gives none")
	}
	out = []ortx.Port{{Name: "logits"}}
	for l := 0; l < d.Layers; l++ {
		for _, kv := range []string{"key", "value"} {
			name := fmt.Sprintf("past_key_values.%d.%s", l, kv)
			if err := want(name, io.kvType); err != nil {
				return io, nil, nil, err
			}
			in = append(in, ortx.Port{Name: name, Type: io.kvType})
			out = append(out, ortx.Port{Name: fmt.Sprintf("present.%d.%s", l, kv), Type: io.kvType})
		}
	}
	if _, io.useCache = ortx.Info(ins, "use_cache_branch"); io.useCache {
		if err := want("use_cache_branch", ort.TensorElementDataTypeBool); err != nil {
			return io, nil, nil, err
		}
		in = append(in, ortx.Bool("use_cache_branch"))
	}
	if _, io.numLogits = ortx.Info(ins, "num_logits_to_keep"); io.numLogits {
		if err := want("num_logits_to_keep", ort.TensorElementDataTypeInt64); err != nil {
			return io, nil, nil, err
		}
		in = append(in, ortx.Int64("num_logits_to_keep"))
	}
	lg, ok := ortx.Info(outs, "logits")
	if !ok {
		return io, nil, nil, ortx.Mismatch(path, "output", "logits", "is missing")
	}
	if io.logitsHalf, err = floatish("output", lg); err != nil {
		return io, nil, nil, err
	}
	out[0].Type = lg.DataType
	return io, in, out, nil
}

// stepMerged runs one step of the merged graph over x (s rows) with the
// caches' past, writing the new cache into their other buffers (no copy),
// and returns the last position's logits.
func (g *gen) stepMerged(caches []*kvCache, x []float32, pos posIDs, logits []float32) ([]float32, error) {
	m := g.m
	d, io := m.d, m.io
	s := pos.len()
	past := caches[0].Len
	vals := newValues()
	defer vals.destroy()
	var ins []ort.Value
	if io.embedsHalf {
		h := make([]byte, 2*len(x))
		ortx.FloatToHalf(h, x)
		ins = append(ins, vals.raw(ort.TensorElementDataTypeFloat16, h, 1, int64(s), int64(d.Hidden)))
	} else {
		ins = append(ins, vals.f32(x, 1, int64(s), int64(d.Hidden)))
	}
	ins = append(ins, vals.i64(g.mask(past+s), 1, int64(past+s)))
	if io.hasPos {
		ins = append(ins, vals.i64(pos.p, pos.shape()...))
	}
	rows := s
	if io.numLogits {
		rows = 1
	}
	var half []byte
	var outs []ort.Value
	if io.logitsHalf {
		half = make([]byte, 2*rows*d.Vocab)
		outs = append(outs, vals.raw(ort.TensorElementDataTypeFloat16, half, 1, int64(rows), int64(d.Vocab)))
	} else {
		outs = append(outs, vals.f32(logits[:rows*d.Vocab], 1, int64(rows), int64(d.Vocab)))
	}
	for _, c := range caches {
		pk, pv := c.pastValues(vals)
		nk, nv := c.presentValues(vals, s)
		ins = append(ins, pk, pv)
		outs = append(outs, nk, nv)
	}
	if io.useCache {
		flag := []byte{0}
		if past > 0 {
			flag[0] = 1
		}
		ins = append(ins, vals.raw(ort.TensorElementDataTypeBool, flag, 1))
	}
	if io.numLogits {
		ins = append(ins, vals.scalar(1))
	}
	if vals.err != nil {
		return nil, vals.err
	}
	sess, err := m.mergedSession()
	if err != nil {
		return nil, err
	}
	if err := sess.Run(ins, outs); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	for _, c := range caches {
		c.commit(s)
	}
	last := logits[(rows-1)*d.Vocab : rows*d.Vocab]
	if io.logitsHalf {
		ortx.HalfToFloat(last, half[2*(rows-1)*d.Vocab:])
	}
	return last, nil
}

// newCaches makes one cache per layer for the merged graph, of the graph's
// element type and head geometry, holding up to capacity rows.
func (m *LM) newCaches(capacity int) []*kvCache {
	caches := make([]*kvCache, m.d.Layers)
	for i := range caches {
		caches[i] = newTypedKVCache(m.io.kvHeads, m.io.headDim, capacity, m.io.kvType)
	}
	return caches
}
