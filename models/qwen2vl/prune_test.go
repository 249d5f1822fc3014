package qwen2vl_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/decoder"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
)

// Every pre-decoder method at --keep 1.0 keeps all of the image's visual
// tokens and reproduces the unpruned ids on the Qwen2-VL twin (kept tokens
// keep their (t, h, w) position ids) — those needing encoder extras through
// the instrumented vision graph (received attention per merged token),
// none refused; one whose count is content-dependent is only run, and
// adaptive, whose keep is only an upper bound, runs with mass=1.
func TestKeepAllPreDecoderReproducesUnpruned(t *testing.T) {
	testenv.ORT(t)
	p := openTwin(t, "", "")
	cases := []diffCase{diffCases[0], diffCases[2], diffCases[3]}
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
				f, err := os.Open(testdata(t, "images", c.Image+".png"))
				if err != nil {
					t.Fatal(err)
				}
				req.Prompt, req.MaxNewTokens = c.Prompt, 12
				res, err := p.Caption(context.Background(), c.Image, f, req, nil)
				f.Close()
				if errors.Is(err, pruning.ErrMissingInput) {
					t.Fatalf("refused: %v", err)
				}
				if err != nil {
					t.Fatalf("%s: %v", c.Name, err)
				}
				n := base[i].Visual.Before
				if res.Visual.AfterPre < n && strings.HasPrefix(m.Count, "content-dependent") {
					t.Logf("%s: keeps %d of %d at keep 1.0 (%s)", c.Name, res.Visual.AfterPre, n, m.Count)
					return
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
	if ran < 5 {
		t.Errorf("only %d pre-decoder methods ran on the twin", ran)
	}
}

// Pre-decoder pruning at a real budget drops image rows from the prompt;
// the result differs from the unpruned run's ids only through the visual
// tokens (checked to run, with the budget held).
func TestPreDecoderBudget(t *testing.T) {
	testenv.ORT(t)
	p := openTwin(t, "", "")
	c := diffCases[4] // 112×84: 12 visual tokens
	req := pipeline.Request{}
	if err := (pipeline.PruneSpec{Method: "divprune", Keep: "0.25"}).Apply(&req); err != nil {
		t.Fatal(err)
	}
	res := caption(t, p, c, req)
	if res.Visual.Before != 12 || res.Visual.AfterPre != 3 || len(res.GeneratedIDs) == 0 {
		t.Errorf("divprune keep 0.25: %d → %d visual tokens, want 12 → 3 (ids %v)", res.Visual.Before, res.Visual.AfterPre, res.GeneratedIDs)
	}
}

// --max-image-tokens is Qwen2-VL's max_pixels (tokens × 28²): the image is
// shrunk by smart_resize until it fits, and never exceeds the budget.
func TestMaxImageTokens(t *testing.T) {
	testenv.ORT(t)
	p := openTwin(t, "", "")
	c := diffCases[4] // 112×84: 12 visual tokens
	for _, budget := range []int{12, 6, 4, 1} {
		res := caption(t, p, c, pipeline.Request{Image: models.ImageOptions{MaxImageTokens: budget}})
		if res.Visual.Before > budget || res.Visual.Before == 0 {
			t.Errorf("--max-image-tokens %d: %d visual tokens", budget, res.Visual.Before)
		}
		t.Logf("--max-image-tokens %d: %d visual tokens", budget, res.Visual.Before)
	}
}

// FastV runs inside the decoder on the twin through the staged form
// derived from its torch-exported M-RoPE decoder; the staged form without
// pruning, and FastV with r=0, equal the merged file.
func TestInDecoderFastVOnQwen2VLTwin(t *testing.T) {
	testenv.ORT(t)
	p := openTwin(t, "", t.TempDir())
	c := diffCases[4]
	merged := caption(t, p, c, pipeline.Request{Form: decoder.FormMerged})
	staged := caption(t, p, c, pipeline.Request{Form: decoder.FormLayers})
	if !slices.Equal(staged.GeneratedIDs, merged.GeneratedIDs) {
		t.Errorf("staged ids %v, merged %v", staged.GeneratedIDs, merged.GeneratedIDs)
	}
	for _, spec := range []string{"fastv:k=1,r=0", "fastv:k=1,r=0.5"} {
		m, err := pruning.Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		res := caption(t, p, c, pipeline.Request{In: m.In})
		rows := res.Visual.LayerRows
		t.Logf("%s: KV rows per layer %v, ids %v", spec, rows, res.GeneratedIDs)
		n := len(res.PromptIDs)
		if strings.HasSuffix(spec, "r=0") {
			if rows[0] != n || rows[len(rows)-1] != n || !slices.Equal(res.GeneratedIDs, merged.GeneratedIDs) {
				t.Errorf("%s: rows %v (want %d each), ids %v, unpruned %v", spec, rows, n, res.GeneratedIDs, merged.GeneratedIDs)
			}
		} else if rows[0] != n || rows[1] >= n {
			t.Errorf("%s: KV rows per layer %v: want %d in layer 0 and fewer after", spec, rows, n)
		}
	}
}

// Every in-decoder method runs on the twin's staged M-RoPE decoder (DART,
// AIM and SparseVLM at half of the 12 tokens) and cuts the KV cache of the
// layers after its boundaries; under settings that drop nothing it
// reproduces the unpruned ids.
func TestInDecoderMethodsOnQwen2VLTwin(t *testing.T) {
	testenv.ORT(t)
	p := openTwin(t, "", t.TempDir())
	c := diffCases[4]
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
