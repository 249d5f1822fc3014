package llavaonevision_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/decoder"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
)

func byName(t *testing.T, name string) diffCase {
	t.Helper()
	for _, c := range diffCases {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no case %s", name)
	return diffCase{}
}

// Every pre-decoder method at --keep 1.0 keeps all visual tokens (of one
// image, and of two images in one prompt) and reproduces the unpruned ids;
// none is refused for a missing input — those needing encoder extras
// (fastervlm, fopru, visionzip, adaptive, flowcut, mustdrop-merge) get
// them from the instrumented vision graph; adaptive, whose keep is only an
// upper bound, runs with mass=1. One whose count is not exactly the budget
// (content-adaptive merges such as DTD's and DyCoke's across the two
// images, which act as frames) is only run; one that needs a single token
// grid (mustdrop-merge, fopru's row strategy) is refused on two images.
func TestKeepAllPreDecoderReproducesUnpruned(t *testing.T) {
	testenv.ORT(t)
	p := openTwin(t, "", "")
	cases := []diffCase{byName(t, "square"), byName(t, "tall"), byName(t, "two-images")}
	base := make([]*pipeline.Result, len(cases))
	for i, c := range cases {
		base[i] = caption(t, p, c, pipeline.Request{})
	}
	ran := 0
	for _, m := range pruning.Methods() {
		if m.Stage != pruning.PreDecoderStage {
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			spec := m.Name
			if m.Name == "adaptive" {
				spec = "adaptive:mass=1" // keep is its upper bound; mass=1 keeps every token
			}
			req := pipeline.Request{}
			if err := (pipeline.PruneSpec{Method: spec, Keep: "1.0"}).Apply(&req); err != nil {
				t.Fatal(err)
			}
			for i, c := range cases {
				res, err := captionErr(t, p, c, req)
				if errors.Is(err, pruning.ErrMissingInput) {
					t.Fatalf("%s: refused: %v", c.Name, err)
				}
				if err != nil && len(c.Images) > 1 && strings.Contains(err.Error(), "token grid 0×0") {
					t.Logf("%s: needs one token grid: %v", c.Name, err)
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", c.Name, err)
				}
				n := base[i].Visual.Before
				if res.Visual.AfterPre < n && m.Count != "exactly keep" && m.Count != "all tokens" {
					t.Logf("%s: keeps %d of %d at keep 1.0 (%s)", c.Name, res.Visual.AfterPre, n, m.Count)
					continue
				}
				if res.Visual.Before != n || res.Visual.AfterPre != n {
					t.Errorf("%s: visual tokens %d → %d, want %d → %d", c.Name, res.Visual.Before, res.Visual.AfterPre, n, n)
				}
				if !slices.Equal(res.GeneratedIDs, base[i].GeneratedIDs) {
					t.Errorf("%s: %v\nunpruned %v", c.Name, res.GeneratedIDs, base[i].GeneratedIDs)
				}
			}
			ran++
		})
	}
	if ran < 8 {
		t.Errorf("only %d pre-decoder methods ran on the twin", ran)
	}
}

// A budget covers the visual tokens of all the prompt's images together:
// 7 of the two images' 50 tokens, whichever image they come from, and the
// prompt loses exactly the dropped rows.
func TestPreDecoderBudgetAcrossImages(t *testing.T) {
	testenv.ORT(t)
	p := openTwin(t, "", "")
	c := byName(t, "two-images")
	full := caption(t, p, c, pipeline.Request{})
	for _, method := range []string{"divprune", "random", "stride", "pool", "cdpruner", "tome"} {
		req := pipeline.Request{}
		if err := (pipeline.PruneSpec{Method: method, Keep: "7"}).Apply(&req); err != nil {
			t.Fatal(err)
		}
		res := caption(t, p, c, req)
		if res.Visual.Before != 50 || res.Visual.AfterPre != 7 {
			t.Errorf("%s keep 7: %d → %d visual tokens, want 50 → 7", method, res.Visual.Before, res.Visual.AfterPre)
		}
		if len(res.GeneratedIDs) == 0 || !slices.Equal(res.PromptIDs, full.PromptIDs) {
			t.Errorf("%s: prompt ids %d (unpruned %d), generated %v", method, len(res.PromptIDs), len(full.PromptIDs), res.GeneratedIDs)
		}
	}
}

// FastV (k=1) runs inside the decoder through the staged form derived from
// the twin's torch-exported Qwen2 decoder (fp32, fp16, q4): layer 0 keeps
// every prompt row, later layers lose the dropped visual rows; r=0 keeps
// everything and gives the unpruned ids; the staged form without pruning
// equals the merged file — on one image and on two.
func TestInDecoderFastV(t *testing.T) {
	testenv.ORT(t)
	cache := t.TempDir()
	for _, dt := range []string{"", "fp32,decoder_model_merged=fp16", "fp32,decoder_model_merged=q4"} {
		p := openTwin(t, dt, cache)
		for _, c := range []diffCase{byName(t, "square-b"), byName(t, "two-images")} {
			merged := caption(t, p, c, pipeline.Request{Form: decoder.FormMerged})
			staged := caption(t, p, c, pipeline.Request{Form: decoder.FormLayers})
			if !slices.Equal(staged.GeneratedIDs, merged.GeneratedIDs) {
				t.Errorf("%q %s: staged ids %v, merged %v", dt, c.Name, staged.GeneratedIDs, merged.GeneratedIDs)
			}
			for _, spec := range []string{"fastv:k=1", "fastv:k=1,r=0"} {
				m, err := pruning.Parse(spec)
				if err != nil {
					t.Fatal(err)
				}
				res := caption(t, p, c, pipeline.Request{In: m.In})
				rows := res.Visual.LayerRows
				t.Logf("%-32q %-10s %-14s KV rows per layer %v", dt, c.Name, spec, rows)
				if len(rows) != p.Spec.Text.Layers {
					t.Fatalf("%q %s: %d KV row counts for %d layers", dt, spec, len(rows), p.Spec.Text.Layers)
				}
				n := len(res.PromptIDs)
				if strings.HasSuffix(spec, "r=0") {
					if rows[0] != n || rows[3] != n || !slices.Equal(res.GeneratedIDs, merged.GeneratedIDs) {
						t.Errorf("%q %s %s keeping everything: rows %v (want %d each), ids %v, unpruned %v", dt, c.Name, spec,
							rows, n, res.GeneratedIDs, merged.GeneratedIDs)
					}
					continue
				}
				if rows[0] != n || rows[1] >= n || rows[2] != rows[1] || rows[3] != rows[1] {
					t.Errorf("%q %s %s: KV rows per layer %v: want %d in layer 0 and fewer after", dt, c.Name, spec, rows, n)
				}
			}
		}
	}
}

// Every in-decoder method runs on the staged decoder with two images (DART,
// AIM and SparseVLM at half of the 50 tokens) and cuts the KV cache after
// its boundaries; under settings that drop nothing it reproduces the
// unpruned ids.
func TestInDecoderMethods(t *testing.T) {
	testenv.ORT(t)
	p := openTwin(t, "", t.TempDir())
	c := byName(t, "two-images")
	base := caption(t, p, c, pipeline.Request{Form: decoder.FormMerged})
	parse := func(spec string, keep float64) pruning.InDecoder {
		m, err := pruning.Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		in := m.In
		if b, ok := in.(pruning.Budgeted); ok && (m.Info.Name == "dart" || m.Info.Name == "aim" || m.Info.Name == "sparsevlm") {
			if in, err = b.WithBudget(pruning.KeepRatio(keep)); err != nil {
				t.Fatal(err)
			}
		}
		return in
	}
	for _, spec := range []string{"fastv:k=1,r=0.75", "pdrop:layers=1/2/3", "sparsevlm:layers=1/2", "aim:start=1,step=0.3",
		"dart:k=2", "dart:k=1,pivot=hidden", "adaptive-fastv:k=2,mass=0.5"} {
		res := caption(t, p, c, pipeline.Request{In: parse(spec, 0.5)})
		rows := res.Visual.LayerRows
		t.Logf("%-30s KV rows %v", spec, rows)
		if len(rows) != p.Spec.Text.Layers || rows[len(rows)-1] >= rows[0] {
			t.Errorf("%s: KV rows per layer %v: no layer lost a row", spec, rows)
		}
	}
	for _, spec := range []string{"fastv:k=1,r=0", "pdrop:layers=1/2,ratios=1/1", "dart:k=2,exact=true", "aim:start=1"} {
		res := caption(t, p, c, pipeline.Request{In: parse(spec, 1)})
		if rows := res.Visual.LayerRows; rows[len(rows)-1] != rows[0] {
			t.Errorf("%s keeping everything: KV rows %v", spec, rows)
		}
		if !slices.Equal(res.GeneratedIDs, base.GeneratedIDs) {
			t.Errorf("%s keeping everything: ids %v, unpruned %v", spec, res.GeneratedIDs, base.GeneratedIDs)
		}
	}
}
