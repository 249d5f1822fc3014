package decoder

import (
	"fmt"
	"slices"

	"github.com/vlmrun/vlmrun/pruning"
)

// cut applies the in-decoder method at boundary b: it keeps every text row
// and the selected visual rows, gathering hidden states from b.Hidden into
// dst, adds a Recycler's merged rows after the last kept visual row (or
// writes a Merger's rewritten rows over the kept visual rows), and returns the new position ids and visual indices. Layers after
// the cut (later) get their next position from the method's policy. A
// RowRequester's extra attention rows are taken from the text rows the
// stage computed (b.queryRows). rows lists, per new row, the old row it
// came from (-1: a recycled row).
func (g *gen) cut(b *pruning.Boundary, dst []float32, pos posIDs, imageIdx []int, total int,
	later []*kvCache) (_ posIDs, _ []int, rows []int, _ error) {
	d := g.m.d
	s := pos.len()
	fail := func(err error) (posIDs, []int, []int, error) { return posIDs{}, nil, nil, err }
	m := g.opt.Prune
	if b.Attn.Data == nil && m.Needs()&pruning.NeedDecoderAttn != 0 {
		return fail(fmt.Errorf("decoder: %s at layer %d needs attention probabilities, and the decoder "+
			"export has no per-layer Softmax to read them from (fused attention)", m.Name(), b.Layer))
	}
	var keep []int
	var merged, rewritten pruning.Matrix
	var err error
	mg, merging := m.(pruning.Merger)
	switch rc, ok := m.(pruning.Recycler); {
	case ok:
		keep, merged, err = rc.SelectRecycle(b, total)
	case merging:
		keep, rewritten, err = mg.SelectMerge(b, total)
	default:
		keep, err = m.Select(b, total)
	}
	if err != nil {
		return fail(fmt.Errorf("decoder: %s at layer %d: %w", m.Name(), b.Layer, err))
	}
	merging = merging && rewritten.Rows > 0 // no rows: nothing rewritten
	if merging && (rewritten.Rows != len(keep) || rewritten.Cols != d.Hidden || len(rewritten.Data) < len(keep)*d.Hidden) {
		return fail(fmt.Errorf("decoder: %s returned %d×%d merged rows for %d kept tokens, want width %d",
			m.Name(), rewritten.Rows, rewritten.Cols, len(keep), d.Hidden))
	}
	if merged.Rows > 0 && (merged.Cols != d.Hidden || len(merged.Data) < merged.Rows*d.Hidden) {
		return fail(fmt.Errorf("decoder: %s returned %d×%d recycled rows, want width %d", m.Name(), merged.Rows, merged.Cols, d.Hidden))
	}
	drop := make(map[int]bool, len(imageIdx))
	for _, j := range imageIdx {
		drop[j] = true
	}
	for k, j := range keep {
		if j < 0 || j >= len(imageIdx) || (k > 0 && keep[k-1] >= j) {
			return fail(fmt.Errorf("decoder: %s returned invalid selection %v", m.Name(), keep))
		}
		delete(drop, imageIdx[j])
	}
	// Recycled rows go right after the last kept visual row (or where the
	// visual tokens were, when none is kept) and count as visual tokens.
	after := -1
	if merged.Rows > 0 {
		after = imageIdx[0] - 1
		if len(keep) > 0 {
			after = imageIdx[keep[len(keep)-1]]
		}
	}
	if (s-len(imageIdx)+len(keep)+merged.Rows)*d.Hidden > len(dst) {
		return fail(fmt.Errorf("decoder: %s: %d recycled rows do not fit the sequence", m.Name(), merged.Rows))
	}
	src := b.Hidden.Data
	var keepRows []int // source row per new row (-1: a recycled row placed after row after)
	var newImage []int
	n := 0
	insert := func() {
		for k := 0; k < merged.Rows; k++ {
			copy(dst[n*d.Hidden:(n+1)*d.Hidden], merged.Data[k*d.Hidden:(k+1)*d.Hidden])
			newImage = append(newImage, n)
			keepRows = append(keepRows, -1)
			n++
		}
	}
	if after < 0 && merged.Rows > 0 {
		insert()
	}
	for r := 0; r < s; r++ {
		if drop[r] {
			continue
		}
		if _, isImg := slices.BinarySearch(imageIdx, r); isImg {
			newImage = append(newImage, n)
		}
		copy(dst[n*d.Hidden:(n+1)*d.Hidden], src[r*d.Hidden:(r+1)*d.Hidden])
		keepRows = append(keepRows, r)
		n++
		if r == after {
			insert()
		}
	}
	// A Merger's rows replace the kept visual rows' hidden states, in order.
	if merging {
		for k := range keep {
			copy(dst[newImage[k]*d.Hidden:(newImage[k]+1)*d.Hidden], rewritten.Data[k*d.Hidden:(k+1)*d.Hidden])
		}
	}
	rows = slices.Clone(keepRows)
	// Recycled rows take the position of the row before them (the first
	// token's when they lead).
	for i, r := range keepRows {
		if r < 0 {
			keepRows[i] = 0
			if i > 0 {
				keepRows[i] = keepRows[i-1]
			}
		}
	}
	newPos := pos.gather(keepRows)
	// Renumbering (PyramidDrop, SparseVLM) is defined by those methods' code
	// for 1-D positions; with M-RoPE (three rows) the kept tokens keep their
	// (t, h, w) ids, as every other method's do.
	if m.Positions() == pruning.Renumber && newPos.dims == 1 {
		for i := range newPos.p {
			newPos.p[i] = int64(i % n)
		}
		for _, c := range later {
			c.NextPos = int64(n)
		}
	}
	return newPos, newImage, rows, nil
}
