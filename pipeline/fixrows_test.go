package pipeline

import (
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pruning"
)

// A prompt's fixed row (models.Prompt.Fixed: LLaVA-OneVision video's
// image_newline) replaces its token's embedding, stays when pruning drops
// visual tokens around it, and is not a visual slot; a row of the wrong
// size, out of range or on a visual slot is refused.
func TestFixRows(t *testing.T) {
	p := &Pipeline{Spec: &models.Spec{Family: "test", Text: models.Text{Hidden: 2}}}
	// [bos, v, v, v, newline(v id), txt]
	prompt := models.Prompt{IDs: []int{1, 9, 9, 9, 9, 5}, ImagePos: []int{1, 2, 3},
		Fixed: []models.FixedRow{{Pos: 4, Embed: []float32{7, 8}}}}
	embeds := []float32{0, 0, -1, -1, -1, -1, -1, -1, -1, -1, 5, 5}
	if err := p.fixRows(embeds, prompt); err != nil {
		t.Fatal(err)
	}
	if want := []float32{0, 0, -1, -1, -1, -1, -1, -1, 7, 8, 5, 5}; !slices.Equal(embeds, want) {
		t.Fatalf("embeds %v, want %v", embeds, want)
	}
	// keep visual tokens 0 and 2 of 3
	sel := pruning.Result{Source: []int{0, 2}, Features: pruning.Matrix{Rows: 2, Cols: 2, Data: []float32{100, 100, 102, 102}}}
	in := splice(2, prompt, embeds, sel)
	if want := []float32{0, 0, 100, 100, 102, 102, 7, 8, 5, 5}; !slices.Equal(in.Embeds, want) || !slices.Equal(in.ImageIdx, []int{1, 2}) {
		t.Errorf("spliced %v (visual rows %v), want %v with visual rows [1 2]", in.Embeds, in.ImageIdx, want)
	}
	for _, bad := range []models.FixedRow{{Pos: 4, Embed: []float32{1}}, {Pos: 6, Embed: []float32{1, 2}}, {Pos: 2, Embed: []float32{1, 2}}, {Pos: -1, Embed: []float32{1, 2}}} {
		pr := prompt
		pr.Fixed = []models.FixedRow{bad}
		if err := p.fixRows(make([]float32, 12), pr); err == nil {
			t.Errorf("fixed row %+v accepted", bad)
		}
	}
}
