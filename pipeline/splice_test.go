package pipeline

import (
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pruning"
)

func TestSplice(t *testing.T) {
	// prompt: [bos, img0, img1, img2, img3, txt, txt]; hidden 1; embeds are
	// the prompt index, visual features are 100+source.
	prompt := models.Prompt{IDs: []int{1, 4, 4, 4, 4, 5, 6}, ImagePos: []int{1, 2, 3, 4}}
	embeds := []float32{0, -1, -1, -1, -1, 5, 6}
	feat := func(src ...int) pruning.Matrix {
		m := pruning.Matrix{Rows: len(src), Cols: 1}
		for _, s := range src {
			m.Data = append(m.Data, float32(100+s))
		}
		return m
	}
	cases := []struct {
		name      string
		sel       pruning.Result
		embeds    []float32
		positions []int64
		imageIdx  []int
		next      int64
	}{
		{"keep all", pruning.Result{Source: []int{0, 1, 2, 3}, Features: feat(0, 1, 2, 3), Positions: pruning.KeepOriginal},
			[]float32{0, 100, 101, 102, 103, 5, 6}, []int64{0, 1, 2, 3, 4, 5, 6}, []int{1, 2, 3, 4}, 7},
		{"original gaps", pruning.Result{Source: []int{1, 3}, Features: feat(1, 3), Positions: pruning.KeepOriginal},
			[]float32{0, 101, 103, 5, 6}, []int64{0, 2, 4, 5, 6}, []int{1, 2}, 7},
		{"renumber", pruning.Result{Source: []int{1, 3}, Features: feat(1, 3), Positions: pruning.Renumber},
			[]float32{0, 101, 103, 5, 6}, []int64{0, 1, 2, 3, 4}, []int{1, 2}, 5},
		{"renumber official order", pruning.Result{Source: []int{3, 0, -1}, Features: feat(3, 0, -1), Positions: pruning.Renumber},
			[]float32{0, 103, 100, 99, 5, 6}, []int64{0, 1, 2, 3, 4, 5}, []int{1, 2, 3}, 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := splice(1, prompt, embeds, c.sel)
			if !slices.Equal(in.Embeds, c.embeds) || !slices.Equal(in.Positions, c.positions) ||
				!slices.Equal(in.ImageIdx, c.imageIdx) || in.NextPos != c.next {
				t.Errorf("got embeds %v pos %v img %v next %d\nwant embeds %v pos %v img %v next %d",
					in.Embeds, in.Positions, in.ImageIdx, in.NextPos, c.embeds, c.positions, c.imageIdx, c.next)
			}
		})
	}
}
