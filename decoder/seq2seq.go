package decoder

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/internal/ortx"
)

// Seq2SeqFiles are the graphs of an encoder-decoder model (Florence-2):
// embed_tokens, encoder_model and decoder_model_merged.
type Seq2SeqFiles struct {
	Embed, Encoder, Decoder string
}

// Seq2Seq is an opened encoder-decoder language model. It owns its
// sessions. The encoder runs once over the prompt (visual tokens spliced
// in); the merged decoder then generates with two caches per layer: its own
// keys and values (growing by one row per step) and the cross-attention keys
// and values of the encoder output (computed on the first step, then fed
// back unchanged). Both are double buffers written by ORT directly.
type Seq2Seq struct {
	d         Dims // Hidden, Layers (decoder layers), Vocab
	embed     *ortx.Session
	encoder   *ortx.Session
	decoder   *ortx.Session
	embedHalf bool
	io        seq2seqIO
}

type seq2seqIO struct {
	useCache  bool // use_cache_branch
	numLogits bool // num_logits_to_keep
	selfMask  bool // the decoder declares attention_mask (its own tokens)
	kvType    ort.TensorElementDataType
	heads     int
	headDim   int
}

var s2sPastRE = regexp.MustCompile(`^past_key_values\.(\d+)\.(decoder|encoder)\.(key|value)$`)

// OpenSeq2Seq opens and checks the three graphs; d.Layers is the number of
// decoder layers (text_config.decoder_layers).
func OpenSeq2Seq(f Seq2SeqFiles, d Dims, o ortx.Options) (*Seq2Seq, error) {
	if d.Hidden <= 0 || d.Layers <= 0 || d.Vocab <= 0 {
		return nil, fmt.Errorf("decoder: bad dimensions %+v", d)
	}
	m := &Seq2Seq{d: d}
	var err error
	if m.embed, m.embedHalf, err = openEmbed(f.Embed, o); err != nil {
		return nil, err
	}
	if m.encoder, err = ortx.Open(f.Encoder, []ortx.Port{ortx.Float("inputs_embeds"), ortx.Int64("attention_mask")},
		[]ortx.Port{ortx.Float("last_hidden_state")}, o); err != nil {
		m.Destroy()
		return nil, fmt.Errorf("decoder: %w", err)
	}
	in, out, err := m.inspect(f.Decoder, o)
	if err != nil {
		m.Destroy()
		return nil, err
	}
	if m.decoder, err = ortx.Open(f.Decoder, in, out, o); err != nil {
		m.Destroy()
		return nil, fmt.Errorf("decoder: %w", err)
	}
	return m, nil
}

// inspect checks the merged decoder's declared inputs against the
// encoder-decoder contract and returns the ports in feed order.
func (m *Seq2Seq) inspect(path string, o ortx.Options) (in, out []ortx.Port, err error) {
	ins, outs, err := ortx.Inspect(path, o)
	if err != nil {
		return nil, nil, fmt.Errorf("decoder: %w", err)
	}
	for _, i := range ins {
		switch i.Name {
		case "inputs_embeds", "encoder_hidden_states", "encoder_attention_mask", "attention_mask",
			"use_cache_branch", "num_logits_to_keep":
			continue
		}
		sm := s2sPastRE.FindStringSubmatch(i.Name)
		if sm == nil {
			return nil, nil, ortx.Mismatch(path, "input", i.Name, "is not part of the encoder-decoder contract "+
				"(inputs_embeds, encoder_hidden_states, encoder_attention_mask, attention_mask, "+
				"past_key_values.N.decoder/encoder.key/value, use_cache_branch, num_logits_to_keep)")
		}
		if n, _ := strconv.Atoi(sm[1]); n >= m.d.Layers {
			return nil, nil, ortx.Mismatch(path, "input", i.Name, fmt.Sprintf("is beyond the config's %d decoder layers", m.d.Layers))
		}
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
	for _, p := range []ortx.Port{ortx.Float("inputs_embeds"), ortx.Float("encoder_hidden_states"),
		ortx.Int64("encoder_attention_mask")} {
		if err := want(p.Name, p.Type); err != nil {
			return nil, nil, err
		}
		in = append(in, p)
	}
	if _, m.io.selfMask = ortx.Info(ins, "attention_mask"); m.io.selfMask {
		if err := want("attention_mask", ort.TensorElementDataTypeInt64); err != nil {
			return nil, nil, err
		}
		in = append(in, ortx.Int64("attention_mask"))
	}
	first := "past_key_values.0.decoder.key"
	p0, ok := ortx.Info(ins, first)
	if !ok {
		return nil, nil, ortx.Mismatch(path, "input", first, "is missing")
	}
	m.io.kvType = p0.DataType
	if p0.DataType != ort.TensorElementDataTypeFloat && p0.DataType != ort.TensorElementDataTypeFloat16 {
		return nil, nil, ortx.Mismatch(path, "input", first, fmt.Sprintf("is %s, want float32 or float16", p0.DataType))
	}
	if dims := p0.Dimensions; len(dims) != 4 || dims[1] <= 0 || dims[3] <= 0 {
		return nil, nil, ortx.Mismatch(path, "input", first, fmt.Sprintf("has shape %v, want (batch, heads, past, head_dim) with numeric heads and head_dim", dims))
	} else {
		m.io.heads, m.io.headDim = int(dims[1]), int(dims[3])
	}
	out = []ortx.Port{ortx.Float("logits")}
	for l := 0; l < m.d.Layers; l++ {
		for _, part := range []string{"decoder", "encoder"} {
			for _, kv := range []string{"key", "value"} {
				name := fmt.Sprintf("past_key_values.%d.%s.%s", l, part, kv)
				if err := want(name, m.io.kvType); err != nil {
					return nil, nil, err
				}
				in = append(in, ortx.Port{Name: name, Type: m.io.kvType})
				out = append(out, ortx.Port{Name: fmt.Sprintf("present.%d.%s.%s", l, part, kv), Type: m.io.kvType})
			}
		}
	}
	if _, m.io.useCache = ortx.Info(ins, "use_cache_branch"); m.io.useCache {
		if err := want("use_cache_branch", ort.TensorElementDataTypeBool); err != nil {
			return nil, nil, err
		}
		in = append(in, ortx.Bool("use_cache_branch"))
	}
	if _, m.io.numLogits = ortx.Info(ins, "num_logits_to_keep"); m.io.numLogits {
		if err := want("num_logits_to_keep", ort.TensorElementDataTypeInt64); err != nil {
			return nil, nil, err
		}
		in = append(in, ortx.Int64("num_logits_to_keep"))
	}
	if lg, ok := ortx.Info(outs, "logits"); !ok || lg.DataType != ort.TensorElementDataTypeFloat {
		return nil, nil, ortx.Mismatch(path, "output", "logits", "is missing or not float32")
	}
	return in, out, nil
}

// Embed returns the embeddings (len(ids) × Hidden) of the token ids.
func (m *Seq2Seq) Embed(ids []int) ([]float32, error) {
	return embedIDs(m.embed, m.embedHalf, m.d, ids)
}

// HasLayers reports false: there is no per-layer form.
func (m *Seq2Seq) HasLayers() bool { return false }

// Sessions returns every open session.
func (m *Seq2Seq) Sessions() []*ortx.Session { return []*ortx.Session{m.embed, m.encoder, m.decoder} }

// Destroy releases every session.
func (m *Seq2Seq) Destroy() {
	if m == nil {
		return
	}
	m.embed.Destroy()
	m.encoder.Destroy()
	m.decoder.Destroy()
}

// Seq2SeqOptions control encoder-decoder generation: Options plus the
// decoder start token and the logits processors transformers.js applies
// (see Processors).
type Seq2SeqOptions struct {
	Options
	DecoderStart int
	Processors
}

// Generate encodes the prompt embeddings (L × Hidden) once and generates.
// Output.IDs are the generated ids, without the decoder start token.
func (m *Seq2Seq) Generate(ctx context.Context, embeds []float32, opt Seq2SeqOptions, emit func(int) error) (*Output, error) {
	d := m.d
	L := len(embeds) / d.Hidden
	if L == 0 || len(embeds) != L*d.Hidden {
		return nil, fmt.Errorf("decoder: encoder input has %d values (hidden %d)", len(embeds), d.Hidden)
	}
	if opt.MaxNewTokens <= 0 {
		return nil, fmt.Errorf("decoder: max new tokens must be > 0")
	}
	if err := opt.Sampling.Validate(); err != nil {
		return nil, err
	}
	if opt.Prune != nil || (opt.Form != "" && opt.Form != FormAuto && opt.Form != FormMerged) {
		return nil, fmt.Errorf("decoder: an encoder-decoder model runs only its merged decoder (no in-decoder pruning)")
	}
	g := &gen{opt: opt.Options, sm: newSampler(opt.Sampling), out: &Output{Form: FormMerged}, emit: emit}
	g.start = time.Now()
	enc := make([]float32, L*d.Hidden)
	if err := m.encode(embeds, g.mask(L), enc); err != nil {
		return g.out, err
	}
	ids := []int{opt.DecoderStart}
	maxLen := 1 + opt.MaxNewTokens
	var self, cross []*kvCache
	newCaches := func(capacity int) {
		self, cross = make([]*kvCache, d.Layers), make([]*kvCache, d.Layers)
		for i := range self {
			self[i] = newTypedKVCache(m.io.heads, m.io.headDim, capacity, m.io.kvType)
			cross[i] = newTypedKVCache(m.io.heads, m.io.headDim, L, m.io.kvType)
		}
	}
	newCaches(maxLen)
	logits := make([]float32, maxLen*d.Vocab)
	x, err := m.Embed(ids)
	if err != nil {
		return g.out, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return g.out, fmt.Errorf("decoder: %w", err)
		}
		if opt.Recompute {
			newCaches(len(ids))
			if x, err = m.Embed(ids); err != nil {
				return g.out, err
			}
		}
		last, err := m.step(self, cross, x, enc, L, logits, g)
		if err != nil {
			return g.out, err
		}
		if len(g.out.IDs) == 0 {
			g.out.FirstLogits = slices.Clone(last)
		}
		opt.Processors.apply(ids, maxLen, last)
		id := g.sm.next(last)
		ids = append(ids, id)
		done, err := g.accept(id)
		if err != nil || done {
			g.out.KVBytes = cacheBytes(self) + cacheBytes(cross)
			return g.out, err
		}
		if x, err = m.Embed([]int{id}); err != nil {
			return g.out, err
		}
	}
}

// encode runs the encoder over embeds with an all-ones mask into out.
func (m *Seq2Seq) encode(embeds []float32, mask []int64, out []float32) error {
	L := len(mask)
	vals := newValues()
	defer vals.destroy()
	in := []ort.Value{vals.f32(embeds, 1, int64(L), int64(m.d.Hidden)), vals.i64(mask, 1, int64(L))}
	o := []ort.Value{vals.f32(out, 1, int64(L), int64(m.d.Hidden))}
	if vals.err != nil {
		return vals.err
	}
	if err := m.encoder.Run(in, o); err != nil {
		return fmt.Errorf("decoder: %w", err)
	}
	return nil
}

// step runs the decoder on x (s rows). On the first step (empty caches) the
// cross caches receive the encoder keys and values; afterwards they are fed
// back and ORT writes them into the other buffer, which becomes current.
func (m *Seq2Seq) step(self, cross []*kvCache, x, enc []float32, L int, logits []float32, g *gen) ([]float32, error) {
	d := m.d
	s := len(x) / d.Hidden
	past := self[0].Len
	vals := newValues()
	defer vals.destroy()
	ins := []ort.Value{
		vals.f32(x, 1, int64(s), int64(d.Hidden)),
		vals.f32(enc, 1, int64(L), int64(d.Hidden)),
		vals.i64(g.mask(L), 1, int64(L)),
	}
	if m.io.selfMask {
		ins = append(ins, vals.i64(g.mask(past+s), 1, int64(past+s)))
	}
	rows := s
	if m.io.numLogits {
		rows = 1
	}
	outs := []ort.Value{vals.f32(logits[:rows*d.Vocab], 1, int64(rows), int64(d.Vocab))}
	grow := 0
	if cross[0].Len == 0 {
		grow = L
	}
	for i := range self {
		pk, pv := self[i].pastValues(vals)
		nk, nv := self[i].presentValues(vals, s)
		ck, cv := cross[i].pastValues(vals)
		ek, ev := cross[i].presentValues(vals, grow)
		ins = append(ins, pk, pv, ck, cv)
		outs = append(outs, nk, nv, ek, ev)
	}
	if m.io.useCache {
		flag := []byte{0}
		if past > 0 {
			flag[0] = 1
		}
		ins = append(ins, vals.raw(ort.TensorElementDataTypeBool, flag, 1))
	}
	if m.io.numLogits {
		ins = append(ins, vals.scalar(1))
	}
	if vals.err != nil {
		return nil, vals.err
	}
	if err := m.decoder.Run(ins, outs); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	for i := range self {
		self[i].commit(s)
		cross[i].commit(grow)
	}
	return logits[(rows-1)*d.Vocab : rows*d.Vocab], nil
}
