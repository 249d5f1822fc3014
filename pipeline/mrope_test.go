package pipeline

import (
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/models/qwen2vl"
	"github.com/vlmrun/vlmrun/pruning"
)

// TestMRoPEPrunedPositions checks the position ids of a pruned Qwen2-VL
// prompt against a hand-computed case: two text tokens and
// <|vision_start|>, an image of grid (1, 4, 6) (2×3 visual tokens: t = 3,
// h = 3 + row, w = 3 + column), <|vision_end|> and two text tokens at 6, 7,
// 8. Kept visual tokens keep their (t, h, w) ids whatever the method's
// position policy, dropped ones leave gaps, and generation continues at 9,
// the unpruned prompt's max + 1.
func TestMRoPEPrunedPositions(t *testing.T) {
	const vs, img, ve = 50, 51, 52
	tk := qwen2vl.RopeTokens{Image: img, Video: 53, VisionStart: vs, Merge: 2}
	px := models.Pixels{Images: 1, Grids: [][3]int{{1, 4, 6}}}
	p := &Pipeline{Spec: &models.Spec{Family: "qwen2_vl", Text: models.Text{Hidden: 1},
		Positions: func(pr models.Prompt, px models.Pixels) ([]int64, int, int64, error) {
			g := []qwen2vl.Grid{px.Grids[0]}
			pos, next, err := qwen2vl.RopeIndex(pr.IDs, g, tk)
			return pos, 3, next, err
		}}}
	prompt := models.Prompt{IDs: []int{7, 8, vs, img, img, img, img, img, img, ve, 9, 10},
		ImagePos: []int{3, 4, 5, 6, 7, 8}}
	embeds := make([]float32, len(prompt.IDs))
	feat := func(n int) pruning.Matrix { return pruning.Matrix{Rows: n, Cols: 1, Data: make([]float32, n)} }
	for _, c := range []struct {
		name string
		sel  pruning.Result
		want []int64
	}{
		{"keep all", pruning.Result{Source: []int{0, 1, 2, 3, 4, 5}, Features: feat(6), Positions: pruning.KeepOriginal}, []int64{
			0, 1, 2, 3, 3, 3, 3, 3, 3, 6, 7, 8,
			0, 1, 2, 3, 3, 3, 4, 4, 4, 6, 7, 8,
			0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7, 8}},
		// tokens 1 (row 0, column 1) and 4 (row 1, column 1)
		{"original", pruning.Result{Source: []int{1, 4}, Features: feat(2), Positions: pruning.KeepOriginal}, []int64{
			0, 1, 2, 3, 3, 6, 7, 8,
			0, 1, 2, 3, 4, 6, 7, 8,
			0, 1, 2, 4, 4, 6, 7, 8}},
		{"renumber, ascending", pruning.Result{Source: []int{1, 4}, Features: feat(2), Positions: pruning.Renumber}, []int64{
			0, 1, 2, 3, 3, 6, 7, 8,
			0, 1, 2, 3, 4, 6, 7, 8,
			0, 1, 2, 4, 4, 6, 7, 8}},
		// result order: the slots take 4 then 5, each with its source's ids
		{"renumber, result order", pruning.Result{Source: []int{5, 0}, Features: feat(2), Positions: pruning.Renumber}, []int64{
			0, 1, 2, 3, 3, 6, 7, 8,
			0, 1, 2, 4, 3, 6, 7, 8,
			0, 1, 2, 5, 3, 6, 7, 8}},
	} {
		in := splice(1, prompt, embeds, c.sel)
		if err := p.positions(&in, prompt, px, c.sel); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if in.PosDims != 3 || !slices.Equal(in.Positions, c.want) || in.NextPos != 9 {
			t.Errorf("%s: dims %d positions %v next %d,\nwant 3 %v next 9", c.name, in.PosDims, in.Positions, in.NextPos, c.want)
		}
	}
}

// TestMRoPEPrunedPositionsTwoImages: a budget across two images of one
// Qwen2-VL prompt, hand-computed. Text 0, <|vision_start|> 1, the first
// image (grid (1, 4, 4): 2×2 tokens, t = 2, h = 2 + row, w = 2 + column),
// <|vision_end|> 4, <|vision_start|> 5, the second (grid (1, 2, 4): 1×2
// tokens at offset 6), <|vision_end|> 8, text 9; generation from 10. Kept
// tokens of either image keep their own (t, h, w) ids, and dropping a
// whole image leaves its block's gap.
func TestMRoPEPrunedPositionsTwoImages(t *testing.T) {
	const vs, img, ve = 50, 51, 52
	tk := qwen2vl.RopeTokens{Image: img, Video: 53, VisionStart: vs, Merge: 2}
	px := models.Pixels{Images: 2, Grids: [][3]int{{1, 4, 4}, {1, 2, 4}}}
	p := &Pipeline{Spec: &models.Spec{Family: "qwen2_vl", Text: models.Text{Hidden: 1},
		Positions: func(pr models.Prompt, px models.Pixels) ([]int64, int, int64, error) {
			var g []qwen2vl.Grid
			for _, x := range px.Grids {
				g = append(g, x)
			}
			pos, next, err := qwen2vl.RopeIndex(pr.IDs, g, tk)
			return pos, 3, next, err
		}}}
	prompt := models.Prompt{IDs: []int{7, vs, img, img, img, img, ve, vs, img, img, ve, 9},
		ImagePos: []int{2, 3, 4, 5, 8, 9}}
	embeds := make([]float32, len(prompt.IDs))
	feat := func(n int) pruning.Matrix { return pruning.Matrix{Rows: n, Cols: 1, Data: make([]float32, n)} }
	for _, c := range []struct {
		name string
		sel  pruning.Result
		want []int64
	}{
		{"keep all", pruning.Result{Source: []int{0, 1, 2, 3, 4, 5}, Features: feat(6), Positions: pruning.KeepOriginal}, []int64{
			0, 1, 2, 2, 2, 2, 4, 5, 6, 6, 8, 9,
			0, 1, 2, 2, 3, 3, 4, 5, 6, 6, 8, 9,
			0, 1, 2, 3, 2, 3, 4, 5, 6, 7, 8, 9}},
		// the first image's token 1 (row 0, column 1) and both of the second's
		{"across both", pruning.Result{Source: []int{1, 4, 5}, Features: feat(3), Positions: pruning.KeepOriginal}, []int64{
			0, 1, 2, 4, 5, 6, 6, 8, 9,
			0, 1, 2, 4, 5, 6, 6, 8, 9,
			0, 1, 3, 4, 5, 6, 7, 8, 9}},
		// the first image dropped whole
		{"second only", pruning.Result{Source: []int{4, 5}, Features: feat(2), Positions: pruning.KeepOriginal}, []int64{
			0, 1, 4, 5, 6, 6, 8, 9,
			0, 1, 4, 5, 6, 6, 8, 9,
			0, 1, 4, 5, 6, 7, 8, 9}},
	} {
		in := splice(1, prompt, embeds, c.sel)
		if err := p.positions(&in, prompt, px, c.sel); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if in.PosDims != 3 || !slices.Equal(in.Positions, c.want) || in.NextPos != 10 {
			t.Errorf("%s: dims %d positions %v next %d,\nwant 3 %v next 10", c.name, in.PosDims, in.Positions, in.NextPos, c.want)
		}
	}
}
