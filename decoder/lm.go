// Package decoder runs a VLM's language model on ONNX Runtime: token
// embedding, prefill over a prompt whose visual tokens are already spliced
// in, and generation with a KV cache.
//
// Two forms of the same model are supported and must give the same tokens:
// the merged graph (all layers in one Run per step) and the staged form,
// derived from the merged file at load time (package onnx/decsplit): the
// decoder cut at layer boundaries into stages, which lets a pruning method
// cut the sequence there. In the staged form every layer keeps its own KV
// cache holding exactly the rows that layer saw, its own attention mask
// length and its own next position id.
//
// The KV cache is never copied in Go: each cache tensor has two Go buffers
// of the final length; ORT reads the past from one and writes the present
// into the other, and the two swap roles after every step.
package decoder

import (
	"fmt"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/internal/ortx"
)

// Dims are the decoder's dimensions.
type Dims struct {
	Hidden, Layers, Heads, KVHeads, HeadDim, Vocab int
}

// Files are the decoder graphs: Embed and Merged are required. CacheDir is
// where stage graphs derived from Merged are cached ("" derives them in
// memory each time the process needs them).
type Files struct {
	Embed    string
	Merged   string
	CacheDir string
}

// LM is an opened language model. It owns its sessions.
type LM struct {
	d     Dims
	embed *ortx.Session
	split *splitter
	io    mergedIO

	mu                  sync.Mutex
	merged              *ortx.Session // opened on first use
	mergedPath          string
	mergedIn, mergedOut []ortx.Port
	o                   ortx.Options
	// embedHalf: embed_tokens returns float16 inputs_embeds.
	embedHalf bool
}

// Open opens the decoder graphs and checks their inputs and outputs.
func Open(f Files, d Dims, o ortx.Options) (*LM, error) {
	if d.Hidden <= 0 || d.Layers <= 0 || d.KVHeads <= 0 || d.HeadDim <= 0 || d.Vocab <= 0 || d.Heads <= 0 {
		return nil, fmt.Errorf("decoder: bad dimensions %+v", d)
	}
	m := &LM{d: d}
	var err error
	if m.embed, m.embedHalf, err = openEmbed(f.Embed, o); err != nil {
		return nil, err
	}
	io, in, out, err := inspectMerged(f.Merged, d, o)
	if err != nil {
		m.Destroy()
		return nil, err
	}
	m.io = io
	m.mergedPath, m.mergedIn, m.mergedOut, m.o = f.Merged, in, out, o
	m.split = &splitter{path: f.Merged, cacheDir: f.CacheDir, o: o}
	return m, nil
}

// Preload opens the merged graph now instead of on first use.
func (m *LM) Preload() error {
	_, err := m.mergedSession()
	return err
}

// mergedSession opens the merged graph on first use: a process that only
// runs the staged form (in-decoder pruning) never loads the merged weights
// a second time.
func (m *LM) mergedSession() (*ortx.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.merged == nil {
		s, err := ortx.Open(m.mergedPath, m.mergedIn, m.mergedOut, m.o)
		if err != nil {
			return nil, fmt.Errorf("decoder: %w", err)
		}
		m.merged = s
	}
	return m.merged, nil
}

// openEmbed opens an embed_tokens graph (input_ids → inputs_embeds, float32
// or float16).
func openEmbed(path string, o ortx.Options) (*ortx.Session, bool, error) {
	_, eo, err := ortx.Inspect(path, o)
	if err != nil {
		return nil, false, fmt.Errorf("decoder: %w", err)
	}
	ep, half := ortx.Float("inputs_embeds"), false
	if i, ok := ortx.Info(eo, "inputs_embeds"); ok && i.DataType == ort.TensorElementDataTypeFloat16 {
		ep, half = ortx.Float16("inputs_embeds"), true
	}
	s, err := ortx.Open(path, []ortx.Port{ortx.Int64("input_ids")}, []ortx.Port{ep}, o)
	if err != nil {
		return nil, false, fmt.Errorf("decoder: %w", err)
	}
	return s, half, nil
}

// Dims returns the model's dimensions.
func (m *LM) Dims() Dims { return m.d }

// MergedLogitsLastOnly reports whether the merged graph takes
// num_logits_to_keep, so that prefill computes the LM head for the last
// position only; without it the graph computes logits for every position.
func (m *LM) MergedLogitsLastOnly() bool { return m.io.numLogits }

// HasLayers reports whether the staged form is available (it is derived
// from the merged file when first used; a file whose layers are not
// recognised fails then, with the reason).
func (m *LM) HasLayers() bool { return m.split != nil }

// SplitTimes reports, for the last stage set opened, the time spent
// deriving its graphs (0 when they came from the cache) and creating their
// sessions.
func (m *LM) SplitTimes() (build, load time.Duration) {
	m.split.mu.Lock()
	defer m.split.mu.Unlock()
	return m.split.buildTime, m.split.loadTime
}

// Sessions returns every open session (for run-time statistics).
func (m *LM) Sessions() []*ortx.Session {
	s := []*ortx.Session{m.embed}
	m.mu.Lock()
	if m.merged != nil {
		s = append(s, m.merged)
	}
	m.mu.Unlock()
	return append(s, m.split.sessions()...)
}

// Destroy releases every session.
func (m *LM) Destroy() {
	if m == nil {
		return
	}
	m.embed.Destroy()
	m.merged.Destroy()
	m.split.destroy()
}

// Embed returns the embeddings (len(ids) × Hidden) of the token ids.
func (m *LM) Embed(ids []int) ([]float32, error) {
	return embedIDs(m.embed, m.embedHalf, m.d, ids)
}

// embedIDs runs an embed_tokens graph (float32 or float16 output) on ids.
func embedIDs(sess *ortx.Session, half bool, d Dims, ids []int) ([]float32, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("decoder: embed: no tokens")
	}
	ids64 := make([]int64, len(ids))
	for i, id := range ids {
		if id < 0 || id >= d.Vocab {
			return nil, fmt.Errorf("decoder: embed: token id %d outside the vocabulary (%d)", id, d.Vocab)
		}
		ids64[i] = int64(id)
	}
	out := make([]float32, len(ids)*d.Hidden)
	vals := newValues()
	defer vals.destroy()
	in := vals.i64(ids64, 1, int64(len(ids)))
	var hb []byte
	var o ort.Value
	if half {
		hb = make([]byte, 2*len(out))
		o = vals.raw(ort.TensorElementDataTypeFloat16, hb, 1, int64(len(ids)), int64(d.Hidden))
	} else {
		o = vals.f32(out, 1, int64(len(ids)), int64(d.Hidden))
	}
	if vals.err != nil {
		return nil, vals.err
	}
	if err := sess.Run([]ort.Value{in}, []ort.Value{o}); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	if half {
		ortx.HalfToFloat(out, hb)
	}
	return out, nil
}

// values collects the ORT tensor wrappers of one Run so that one deferred
// call releases them all, and remembers the first error in creating them.
// The Go buffers they wrap are owned elsewhere.
type values struct {
	v   []ort.Value
	err error
}

func newValues() *values { return &values{} }

func (vs *values) f32(data []float32, shape ...int64) ort.Value {
	t, err := ortx.Tensor(data, shape...)
	return vs.keep(t, err)
}

func (vs *values) i64(data []int64, shape ...int64) ort.Value {
	t, err := ortx.Tensor(data, shape...)
	return vs.keep(t, err)
}

func (vs *values) raw(t ort.TensorElementDataType, data []byte, shape ...int64) ort.Value {
	v, err := ortx.Raw(t, data, shape...)
	if err != nil {
		return vs.keep(nil, err)
	}
	return vs.keep(v, nil)
}

func (vs *values) scalar(x int64) ort.Value {
	v, err := ort.NewScalar(x)
	if err != nil {
		return vs.keep(nil, fmt.Errorf("ortx: scalar: %w", err))
	}
	return vs.keep(v, nil)
}

func (vs *values) keep(t ort.Value, err error) ort.Value {
	if err != nil {
		if vs.err == nil {
			vs.err = fmt.Errorf("decoder: %w", err)
		}
		return nil
	}
	vs.v = append(vs.v, t)
	return t
}

func (vs *values) destroy() {
	for _, v := range vs.v {
		v.Destroy()
	}
	vs.v = nil
}
