package decoder

import (
	"fmt"
	"slices"

	"github.com/vlmrun/vlmrun/pruning"
)

// cut applies the in-decoder method at boundary b: it keeps every text row
// and the selected visual rows, gathering hidden states from b.Hidden into
// dst, and returns the new position ids and visual indices. Layers after
// the cut (later) get their next position from the method's policy. A
// RowRequester's extra attention rows are taken from the text rows the
// stage computed (b.queryRows).
func (g *gen) cut(b *pruning.Boundary, dst []float32, pos []int64, imageIdx []int, total int,
	later []*kvCache) ([]int64, []int, error) {
	d := g.m.d
	s := len(pos)
	m := g.opt.Prune
	if b.Attn.Data == nil && m.Needs()&pruning.NeedDecoderAttn != 0 {
		return nil, nil, fmt.Errorf("decoder: %s at layer %d needs attention probabilities, and the decoder "+
			"export has no per-layer Softmax to read them from (fused attention)", m.Name(), b.Layer)
	}
	keep, err := m.Select(b, total)
	if err != nil {
		return nil, nil, fmt.Errorf("decoder: %s at layer %d: %w", m.Name(), b.Layer, err)
	}
	drop := make(map[int]bool, len(imageIdx))
	for _, j := range imageIdx {
		drop[j] = true
	}
	for k, j := range keep {
		if j < 0 || j >= len(imageIdx) || (k > 0 && keep[k-1] >= j) {
			return nil, nil, fmt.Errorf("decoder: %s returned invalid selection %v", m.Name(), keep)
		}
		delete(drop, imageIdx[j])
	}
	src := b.Hidden.Data
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
	if m.Positions() == pruning.Renumber {
		for r := range newPos {
			newPos[r] = int64(r)
		}
		for _, c := range later {
			c.NextPos = int64(n)
		}
	}
	return newPos, newImage, nil
}
