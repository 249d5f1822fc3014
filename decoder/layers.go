package decoder

import (
	"context"
	"fmt"
	"slices"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/pruning"
)

// layered runs the per-layer form: each layer is its own graph with its own
// cache, and an in-decoder pruning method may shorten the sequence at the
// boundaries it names. Layers before a cut keep every row they saw; layers
// after it see (and cache) only the kept rows.
func (g *gen) layered(ctx context.Context, in Input) error {
	d := g.m.d
	L := len(in.Positions)
	capacity := L + g.opt.MaxNewTokens
	caches := make([]*kvCache, d.Layers)
	for i := range caches {
		caches[i] = newKVCache(d.KVHeads, d.HeadDim, capacity)
		caches[i].NextPos = in.NextPos
	}
	hid := [2][]float32{make([]float32, capacity*d.Hidden), make([]float32, capacity*d.Hidden)}
	attn := make([]float32, d.Heads*capacity)
	logits := make([]float32, d.Vocab)
	cur := 0
	copy(hid[cur], in.Embeds)
	pos := slices.Clone(in.Positions)
	imageIdx := slices.Clone(in.ImageIdx)
	var boundaries []int
	if g.opt.Prune != nil {
		boundaries = g.opt.Prune.Layers()
	}
	g.start = time.Now()
	prefill := true
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("decoder: %w", err)
		}
		for i, c := range caches {
			s := len(pos)
			if !prefill {
				pos[0] = c.NextPos
			}
			if err := g.stepLayer(i, c, hid[cur][:s*d.Hidden], pos, g.mask(c.Len+s), hid[1-cur][:s*d.Hidden],
				attn[:d.Heads*(c.Len+s)]); err != nil {
				return err
			}
			cur = 1 - cur
			if prefill && slices.Contains(boundaries, i) && i < d.Layers-1 {
				var err error
				pos, imageIdx, err = g.cut(i, hid[cur][:s*d.Hidden], hid[1-cur], attn[:d.Heads*s],
					pos, imageIdx, in.TotalVisual, caches[i+1:])
				if err != nil {
					return err
				}
				cur = 1 - cur
			}
		}
		if prefill {
			g.recordRows(caches)
			prefill = false
		}
		s := len(pos)
		last := hid[cur][(s-1)*d.Hidden : s*d.Hidden]
		if err := g.runHead(last, logits); err != nil {
			return err
		}
		if len(g.out.IDs) == 0 {
			g.out.FirstLogits = slices.Clone(logits)
		}
		id := g.sm.next(logits)
		done, err := g.accept(id)
		if err != nil || done {
			g.out.KVBytes = cacheBytes(caches)
			return err
		}
		e, err := g.m.Embed([]int{id})
		if err != nil {
			return err
		}
		copy(hid[cur], e)
		pos = pos[:1]
		for _, c := range caches {
			c.NextPos++
		}
	}
}

// cut applies the in-decoder method at the boundary after layer i: it keeps
// every text row and the selected visual rows, gathering hidden states from
// src into dst, and returns the new position ids and visual indices. Layers
// after the cut (later) get their next position from the method's policy.
func (g *gen) cut(i int, src, dst, attn []float32, pos []int64, imageIdx []int, total int,
	later []*kvCache) ([]int64, []int, error) {
	d := g.m.d
	s := len(pos)
	b := &pruning.Boundary{
		Layer:     i,
		Hidden:    pruning.Matrix{Rows: s, Cols: d.Hidden, Data: src},
		Attn:      pruning.Matrix{Rows: d.Heads, Cols: s, Data: attn},
		ImageIdx:  imageIdx,
		LastToken: s - 1,
	}
	keep, err := g.opt.Prune.Select(b, total)
	if err != nil {
		return nil, nil, fmt.Errorf("decoder: %s at layer %d: %w", g.opt.Prune.Name(), i, err)
	}
	drop := make(map[int]bool, len(imageIdx))
	for _, j := range imageIdx {
		drop[j] = true
	}
	for k, j := range keep {
		if j < 0 || j >= len(imageIdx) || (k > 0 && keep[k-1] >= j) {
			return nil, nil, fmt.Errorf("decoder: %s returned invalid selection %v", g.opt.Prune.Name(), keep)
		}
		delete(drop, imageIdx[j])
	}
	newPos := make([]int64, 0, s)
	var newImage []int
	n := 0
	for r := 0; r < s; r++ {
		if drop[r] {
			continue
		}
		if _, isImg := slices.BinarySearch(imageIdx, r); isImg {
			newImage = append(newImage, n)
		}
		copy(dst[n*d.Hidden:(n+1)*d.Hidden], src[r*d.Hidden:(r+1)*d.Hidden])
		newPos = append(newPos, pos[r])
		n++
	}
	if g.opt.Prune.Positions() == pruning.Renumber {
		for r := range newPos {
			newPos[r] = int64(r)
		}
		for _, c := range later {
			c.NextPos = int64(n)
		}
	}
	return newPos, newImage, nil
}

// stepLayer runs layer i on x (s rows) with the given attention mask over
// the cache's rows plus the new ones.
func (g *gen) stepLayer(i int, c *kvCache, x []float32, pos, mask []int64, out, attn []float32) error {
	d := g.m.d
	s := len(pos)
	vals := newValues()
	defer vals.destroy()
	pk, pv := c.pastValues(vals)
	nk, nv := c.presentValues(vals, s)
	ins := []ort.Value{
		vals.f32(x, 1, int64(s), int64(d.Hidden)),
		vals.i64(mask, 1, int64(c.Len+s)),
		vals.i64(pos, 1, int64(s)),
		pk, pv,
	}
	outs := []ort.Value{
		vals.f32(out, 1, int64(s), int64(d.Hidden)),
		nk, nv,
		vals.f32(attn, 1, int64(d.Heads), int64(c.Len+s)),
	}
	if vals.err != nil {
		return vals.err
	}
	if err := g.m.layers[i].Run(ins, outs); err != nil {
		return fmt.Errorf("decoder: %w", err)
	}
	c.commit(s)
	return nil
}

func (g *gen) runHead(last, logits []float32) error {
	d := g.m.d
	vals := newValues()
	defer vals.destroy()
	in := vals.f32(last, 1, 1, int64(d.Hidden))
	out := vals.f32(logits, 1, 1, int64(d.Vocab))
	if vals.err != nil {
		return vals.err
	}
	if err := g.m.head.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
		return fmt.Errorf("decoder: %w", err)
	}
	return nil
}
