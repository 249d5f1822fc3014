package decoder

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vlmrun/vlmrun/pruning"
)

// Form selects which decoder graphs run.
type Form string

// Decoder forms.
const (
	FormAuto   Form = "auto"   // merged unless an in-decoder method needs layers
	FormMerged Form = "merged" // decoder_model_merged: one Run per step
	FormLayers Form = "layers" // stages derived from the merged file, cut at the method's layers (every layer without one)
)

// Input is a prefill: the prompt's embeddings with visual tokens spliced in.
type Input struct {
	Embeds []float32 // L × Hidden
	// Positions are the L position ids, or for M-RoPE (PosDims 3) three
	// rows of L (temporal, height, width; row-major), fed as [3, 1, L].
	Positions []int64
	PosDims   int   // 0 or 1: one row; 3: M-RoPE
	NextPos   int64 // position id of the first generated token (every row)
	// ImageIdx are the sequence indices of the visual tokens (ascending);
	// TotalVisual is the visual-token count before any pruning.
	ImageIdx    []int
	TotalVisual int
}

// Options controls generation.
type Options struct {
	MaxNewTokens int
	EOS          []int
	Sampling     Sampling
	Form         Form
	// Prune is an optional in-decoder pruning method (needs FormLayers).
	Prune pruning.InDecoder
	// Recompute disables the KV cache: every step re-runs the whole sequence
	// through the merged graph. Slow; a reference for tests.
	Recompute bool
}

// Output is the result of Generate.
type Output struct {
	IDs     []int         // generated ids, including a final EOS if one was produced
	Prefill time.Duration // time to first token
	Decode  time.Duration // the remaining tokens
	// KVBytes is the live KV cache size at the end; LayerRows lists the rows
	// each layer's cache held right after prefill.
	KVBytes   int64
	LayerRows []int
	Form      Form
	// SplitBuild is deriving the stage graphs (0 on a cache hit) and
	// SessionOpen opening the decoder sessions this call was the first to
	// need (stages, or the merged graph); neither counts in Prefill.
	SplitBuild, SessionOpen time.Duration
	// SelectedSteps counts the decode steps at which a decode-step selector
	// (pruning.DecodeSelector) restricted the visual rows attended.
	SelectedSteps int
	// FirstLogits are the prefill's logits for the last prompt position.
	FirstLogits []float32
}

// ErrStopped is returned (wrapped) when the emit callback stops generation.
var ErrStopped = errors.New("generation stopped")

// Generate runs prefill then decoding, calling emit with every new id.
// If emit returns an error, generation stops and that error is returned.
func (m *LM) Generate(ctx context.Context, in Input, opt Options, emit func(id int) error) (*Output, error) {
	pq, err := newPosIDs(in)
	if err != nil {
		return nil, err
	}
	L := pq.len()
	if L == 0 || len(in.Positions) != pq.dims*L || len(in.Embeds) != L*m.d.Hidden {
		return nil, fmt.Errorf("decoder: prefill has %d positions and %d embedding values (hidden %d)",
			L, len(in.Embeds), m.d.Hidden)
	}
	if opt.MaxNewTokens <= 0 {
		return nil, fmt.Errorf("decoder: max new tokens must be > 0")
	}
	if err := opt.Sampling.Validate(); err != nil {
		return nil, err
	}
	form := opt.Form
	if form == "" || form == FormAuto {
		form = FormMerged
		if opt.Prune != nil {
			form = FormLayers
		}
	}
	if opt.Prune != nil && form != FormLayers {
		return nil, fmt.Errorf("decoder: in-decoder pruning (%s) needs the per-layer decoder form", opt.Prune.Name())
	}
	if form == FormLayers && !m.HasLayers() {
		return nil, fmt.Errorf("decoder: this model has no decoder that can be split into layers")
	}
	if opt.Recompute && form != FormMerged {
		return nil, fmt.Errorf("decoder: cache-free recomputation uses the merged form")
	}
	g := &gen{m: m, opt: opt, sm: newSampler(opt.Sampling), out: &Output{Form: form}, emit: emit}
	switch {
	case opt.Recompute:
		err = g.recompute(ctx, in)
	case form == FormMerged:
		err = g.merged(ctx, in)
	case form == FormLayers:
		err = g.staged(ctx, in)
	default:
		err = fmt.Errorf("decoder: unknown form %q", form)
	}
	return g.out, err
}

type gen struct {
	m     *LM
	opt   Options
	sm    *sampler
	out   *Output
	emit  func(int) error
	start time.Time
	ones  []int64
	// qBuf and kBuf receive the pre-RoPE query and key projections of the
	// stage that outputs them (prunevid-inner), as many rows as the prompt.
	qBuf, kBuf []float32
}

// accept records a sampled id and reports whether generation is over.
func (g *gen) accept(id int) (bool, error) {
	now := time.Now()
	if len(g.out.IDs) == 0 {
		g.out.Prefill = now.Sub(g.start)
	} else {
		g.out.Decode = now.Sub(g.start) - g.out.Prefill
	}
	g.out.IDs = append(g.out.IDs, id)
	if g.emit != nil {
		if err := g.emit(id); err != nil {
			return true, err
		}
	}
	return slices.Contains(g.opt.EOS, id) || len(g.out.IDs) >= g.opt.MaxNewTokens, nil
}

func (g *gen) mask(n int) []int64 {
	for len(g.ones) < n {
		g.ones = append(g.ones, 1)
	}
	return g.ones[:n]
}

// merged runs the merged graph with the double-buffered cache.
func (g *gen) merged(ctx context.Context, in Input) error {
	if err := g.openMerged(); err != nil {
		return err
	}
	d := g.m.d
	pos, err := newPosIDs(in)
	if err != nil {
		return err
	}
	L := pos.len()
	caches := g.m.newCaches(L + g.opt.MaxNewTokens)
	logits := make([]float32, L*d.Vocab)
	x := in.Embeds
	next := in.NextPos
	g.start = time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("decoder: %w", err)
		}
		s := pos.len()
		last, err := g.stepMerged(caches, x, pos, logits[:s*d.Vocab])
		if err != nil {
			return err
		}
		if len(g.out.IDs) == 0 {
			g.recordRows(caches)
			g.out.FirstLogits = slices.Clone(last)
		}
		id := g.sm.next(last)
		done, err := g.accept(id)
		if err != nil || done {
			g.out.KVBytes = cacheBytes(caches)
			return err
		}
		if x, err = g.m.Embed([]int{id}); err != nil {
			return err
		}
		pos = single(pos.dims, next)
		next++
	}
}

// openMerged opens the merged graph before timing starts, recording the
// time when this call opened it.
func (g *gen) openMerged() error {
	g.m.mu.Lock()
	open := g.m.merged != nil
	g.m.mu.Unlock()
	t := time.Now()
	if _, err := g.m.mergedSession(); err != nil {
		return err
	}
	if !open {
		g.out.SessionOpen = time.Since(t)
	}
	return nil
}

// recompute re-runs the whole sequence without a cache at every step.
func (g *gen) recompute(ctx context.Context, in Input) error {
	if err := g.openMerged(); err != nil {
		return err
	}
	d := g.m.d
	x := slices.Clone(in.Embeds)
	pos, err := newPosIDs(in)
	if err != nil {
		return err
	}
	next := in.NextPos
	g.start = time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("decoder: %w", err)
		}
		caches := g.m.newCaches(pos.len())
		s := pos.len()
		last, err := g.stepMerged(caches, x, pos, make([]float32, s*d.Vocab))
		if err != nil {
			return err
		}
		id := g.sm.next(last)
		done, err := g.accept(id)
		if err != nil || done {
			return err
		}
		e, err := g.m.Embed([]int{id})
		if err != nil {
			return err
		}
		x = append(x, e...)
		pos = pos.appendToken(next)
		next++
	}
}

func (g *gen) recordRows(caches []*kvCache) {
	for _, c := range caches {
		g.out.LayerRows = append(g.out.LayerRows, c.Len)
	}
}

func cacheBytes(caches []*kvCache) int64 {
	var n int64
	for _, c := range caches {
		n += c.bytes()
	}
	return n
}
