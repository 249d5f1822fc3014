package decoder

import (
	"context"
	"slices"
	"testing"
)

// The staged form (any cut points, nothing dropped) generates the ids of
// the merged graph and of cache-free recomputation over many decode steps;
// random-weight twins flip on the smallest position or cache error.
func TestStagedDecodeEqualsMerged(t *testing.T) {
	for _, dir := range []string{"../models/smolvlm/testdata/smolvlm-twin-torch", "../models/scenes-tiny"} {
		lm := openLMAt(t, dir, "")
		ids := []int{1, 4, 4, 4, 4, 4, 4, 5, 6}
		x, err := lm.Embed(ids)
		if err != nil {
			t.Fatal(err)
		}
		pos := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8}
		in := Input{Embeds: x, Positions: pos, NextPos: 9, ImageIdx: []int{1, 2, 3, 4, 5, 6}, TotalVisual: 6}
		const n = 12
		want, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: n, Form: FormMerged}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: n, Recompute: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rec.IDs, want.IDs) {
			t.Fatalf("%s: merged %v, recompute %v", dir, want.IDs, rec.IDs)
		}
		all, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: n, Form: FormLayers}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(all.IDs, want.IDs) {
			t.Errorf("%s: cut after every layer: %v, merged %v", dir, all.IDs, want.IDs)
		}
		for l := 0; l < lm.d.Layers; l++ {
			out, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: n,
				Prune: fixedDrop{layer: l, keep: []int{0, 1, 2, 3, 4, 5}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.IDs, want.IDs) {
				t.Errorf("%s: cut after layer %d: %v, merged %v", dir, l, out.IDs, want.IDs)
			}
		}
		t.Logf("%s: %v", dir, want.IDs)
	}
}
