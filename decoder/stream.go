package decoder

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Stream is a merged-decoder KV cache kept across calls, for a prompt that
// arrives in pieces (a streamed video: vlmrun caption --stream-video).
//
// Contract: Append prefills rows after those the cache holds, with the
// position ids given (continuing the stream's), attending to every cached
// row, exactly as one prefill of the whole sequence would (causal
// attention: earlier rows never see later ones). Generate prefills a
// suffix, decodes, and then drops the suffix's and the generated tokens'
// rows again, so the stream can go on; the cache grows as needed up to
// MaxRows (an error beyond). Only the merged form, one position row
// (no M-RoPE), no in-decoder method. A Stream is not safe for concurrent
// use; it holds Go memory only (ORT values live for one Run).
type Stream struct {
	m       *LM
	caches  []*kvCache
	maxRows int
	// Prefill is the time spent prefilling (Append, and the suffix of
	// Generate).
	Prefill time.Duration
}

// NewStream opens the merged graph and returns an empty stream that holds
// at most maxRows cached rows (prefix, every appended row, a suffix and the
// generated tokens of one Generate).
func (m *LM) NewStream(maxRows int) (*Stream, error) {
	if maxRows < 1 {
		return nil, fmt.Errorf("decoder: a stream needs room for at least one row, not %d", maxRows)
	}
	if _, err := m.mergedSession(); err != nil {
		return nil, err
	}
	s := &Stream{m: m, maxRows: maxRows, caches: m.newCaches(min(maxRows, 256))}
	return s, nil
}

// Len is the number of cached rows.
func (s *Stream) Len() int { return s.caches[0].Len }

// Bytes is the memory the cached rows take (keys and values, all layers).
func (s *Stream) Bytes() int64 { return cacheBytes(s.caches) }

// reserve makes room for n more rows.
func (s *Stream) reserve(n int) error {
	need := s.Len() + n
	if need > s.maxRows {
		return fmt.Errorf("decoder: the stream would hold %d rows, over its limit of %d", need, s.maxRows)
	}
	for _, c := range s.caches {
		c.grow(min(max(need, 2*(len(c.buf[0][0])/c.rowBytes)), s.maxRows))
	}
	return nil
}

// Append prefills embeds (rows × hidden) at the given positions after the
// cached rows, and returns the logits of the last row.
func (s *Stream) Append(ctx context.Context, embeds []float32, positions []int64) ([]float32, error) {
	d := s.m.d
	n := len(positions)
	if n == 0 || len(embeds) != n*d.Hidden {
		return nil, fmt.Errorf("decoder: stream append of %d positions and %d embedding values (hidden %d)", n, len(embeds), d.Hidden)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	if err := s.reserve(n); err != nil {
		return nil, err
	}
	g := &gen{m: s.m}
	t := time.Now()
	logits := make([]float32, n*d.Vocab)
	last, err := g.stepMerged(s.caches, embeds, posIDs{dims: 1, p: slices.Clone(positions)}, logits)
	s.Prefill += time.Since(t)
	if err != nil {
		return nil, err
	}
	return slices.Clone(last), nil
}

// Truncate drops the cached rows from n on.
func (s *Stream) Truncate(n int) {
	if n >= s.Len() || n < 0 {
		return
	}
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	for _, c := range s.caches {
		c.gather(rows)
	}
}

// Generate prefills suffix (rows × hidden, at positions) after the cached
// rows, decodes as LM.Generate does in the merged form (opt.Form, Prune and
// Recompute must be unset), and restores the cache to the rows it held
// before. The generated tokens take the positions after the suffix's last.
func (s *Stream) Generate(ctx context.Context, suffix []float32, positions []int64, opt Options, emit func(id int) error) (*Output, error) {
	if opt.Prune != nil || opt.Recompute || (opt.Form != "" && opt.Form != FormAuto && opt.Form != FormMerged) {
		return nil, fmt.Errorf("decoder: a stream generates with the merged decoder only")
	}
	if opt.MaxNewTokens <= 0 {
		return nil, fmt.Errorf("decoder: max new tokens must be > 0")
	}
	if err := opt.Sampling.Validate(); err != nil {
		return nil, err
	}
	if len(positions) == 0 {
		return nil, fmt.Errorf("decoder: a stream answer needs a suffix")
	}
	base := s.Len()
	defer s.Truncate(base)
	if err := s.reserve(len(positions) + opt.MaxNewTokens); err != nil {
		return nil, err
	}
	g := &gen{m: s.m, opt: opt, sm: newSampler(opt.Sampling), out: &Output{Form: FormMerged}, emit: emit}
	g.start = time.Now()
	last, err := s.Append(ctx, suffix, positions)
	if err != nil {
		return nil, err
	}
	g.recordRows(s.caches)
	g.out.FirstLogits = last
	next := positions[len(positions)-1] + 1
	d := s.m.d
	logits := make([]float32, d.Vocab)
	for {
		id := g.sm.next(last)
		done, err := g.accept(id)
		if err != nil || done {
			g.out.KVBytes = cacheBytes(s.caches)
			return g.out, err
		}
		if err := ctx.Err(); err != nil {
			return g.out, fmt.Errorf("decoder: %w", err)
		}
		x, err := s.m.Embed([]int{id})
		if err != nil {
			return g.out, err
		}
		if last, err = g.stepMerged(s.caches, x, single(1, next), logits); err != nil {
			return g.out, err
		}
		next++
	}
}

// grow makes both buffers hold at least capacity rows, keeping the
// current Len rows (they are the first Len·rowBytes bytes of the current
// buffer: the (1, heads, Len, headDim) layout is contiguous).
func (c *kvCache) grow(capacity int) {
	size := c.rowBytes * max(capacity, 1)
	for i := range c.buf {
		for j := range c.buf[i] {
			if len(c.buf[i][j]) >= size {
				continue
			}
			nb := make([]byte, size)
			if i == c.cur {
				copy(nb, c.buf[i][j][:c.rowBytes*c.Len])
			}
			c.buf[i][j] = nb
		}
	}
}
