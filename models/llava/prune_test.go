package llava_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/decoder"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
)

// Every pre-decoder method at --keep 1.0 keeps all of the image's visual
// tokens (the budget is taken over the image's 17 tokens) and reproduces the
// unpruned ids on the LLaVA twin — those needing encoder extras (CLS
// attention, pre-projector features, keys: fastervlm, fopru, visionzip,
// adaptive, flowcut, mustdrop-merge) through the instrumented vision graph,
// none refused; one whose count is content-dependent (below the budget by
// design) is only run, and adaptive, whose keep is only an upper bound,
// runs with mass=1.
func TestKeepAllPreDecoderReproducesUnpruned(t *testing.T) {
	testenv.ORT(t)
	p := openTwin(t, "", "", "")
	cases := []diffCase{diffCases[0], diffCases[2], diffCases[3]}
	base := make([][]int, len(cases))
	for i, c := range cases {
		base[i] = caption(t, p, c, pipeline.Request{}).GeneratedIDs
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
				if res.Visual.AfterPre < 17 && strings.HasPrefix(m.Count, "content-dependent") {
					// e.g. PruneVid: its merges and clusters set the count
					// below the budget by design.
					t.Logf("%s: keeps %d of 17 at keep 1.0 (%s)", c.Name, res.Visual.AfterPre, m.Count)
					return
				}
				if res.Visual.Before != 17 || res.Visual.AfterPre != 17 {
					t.Errorf("%s: visual tokens %d → %d, want 17 → 17", c.Name, res.Visual.Before, res.Visual.AfterPre)
				}
				if !slices.Equal(res.GeneratedIDs, base[i]) {
					t.Errorf("%s: %v\nunpruned %v", c.Name, res.GeneratedIDs, base[i])
				}
			}
			ran++
		})
	}
	if ran < 5 {
		t.Errorf("only %d pre-decoder methods ran on the twin", ran)
	}
}

// Pre-decoder pruning at a real budget drops image rows from the prompt and
// keeps the rest of it.
func TestPreDecoderBudget(t *testing.T) {
	testenv.ORT(t)
	p := openTwin(t, "", "", "")
	c := diffCases[0]
	full := caption(t, p, c, pipeline.Request{})
	req := pipeline.Request{}
	if err := (pipeline.PruneSpec{Method: "divprune", Keep: "0.25"}).Apply(&req); err != nil {
		t.Fatal(err)
	}
	res := caption(t, p, c, req)
	if res.Visual.Before != 17 || res.Visual.AfterPre != 4 {
		t.Errorf("divprune keep 0.25: %d → %d visual tokens, want 17 → 4", res.Visual.Before, res.Visual.AfterPre)
	}
	if len(res.GeneratedIDs) == 0 || len(full.PromptIDs) != len(res.PromptIDs) {
		t.Errorf("prompt ids %d (unpruned %d), generated %v", len(res.PromptIDs), len(full.PromptIDs), res.GeneratedIDs)
	}
}

// FastV (k=1) runs inside the decoder on the twin through the staged form
// derived from its torch-exported merged decoder (onnx/decsplit): layer 0
// keeps every prompt row, layers 1–3 lose the dropped visual tokens' rows;
// with r=0 nothing is dropped and the ids are the unpruned ones; the
// staged form without pruning equals the merged file.
func TestInDecoderFastVOnLLaVATwin(t *testing.T) {
	testenv.ORT(t)
	cache := t.TempDir()
	for _, dt := range []string{"", "fp32,decoder_model_merged=fp16", "fp32,decoder_model_merged=q4"} {
		p := openTwin(t, dt, cache, "")
		c := diffCases[2]
		merged := caption(t, p, c, pipeline.Request{Form: decoder.FormMerged})
		staged := caption(t, p, c, pipeline.Request{Form: decoder.FormLayers})
		if !slices.Equal(staged.GeneratedIDs, merged.GeneratedIDs) {
			t.Errorf("%q: staged ids %v, merged %v", dt, staged.GeneratedIDs, merged.GeneratedIDs)
		}
		for _, spec := range []string{"fastv:k=1", "fastv:k=1,r=0"} {
			m, err := pruning.Parse(spec)
			if err != nil {
				t.Fatal(err)
			}
			res := caption(t, p, c, pipeline.Request{In: m.In})
			rows := res.Visual.LayerRows
			t.Logf("%-32q %-14s KV rows per layer %v, ids %v", dt, spec, rows, res.GeneratedIDs)
			if len(rows) != p.Spec.Text.Layers {
				t.Fatalf("%q %s: %d KV row counts for %d layers", dt, spec, len(rows), p.Spec.Text.Layers)
			}
			n := len(res.PromptIDs) // the prefill's rows
			if strings.HasSuffix(spec, "r=0") {
				if rows[0] != n || rows[3] != n || !slices.Equal(res.GeneratedIDs, merged.GeneratedIDs) {
					t.Errorf("%q %s keeping everything: rows %v (want %d each), ids %v, unpruned %v", dt, spec, rows, n,
						res.GeneratedIDs, merged.GeneratedIDs)
				}
				continue
			}
			if rows[0] != n || rows[1] >= n || rows[3] != rows[1] || rows[2] != rows[1] {
				t.Errorf("%q %s: KV rows per layer %v: want %d in layer 0 and fewer after", dt, spec, rows, n)
			}
		}
	}
}

// Every in-decoder method runs on the twin's staged decoder (DART, AIM and
// SparseVLM at half of the 17 tokens: their defaults exceed them) and cuts the KV
// cache of the layers after its boundaries; under settings that drop
// nothing it reproduces the unpruned ids.
func TestInDecoderMethodsOnLLaVATwin(t *testing.T) {
	testenv.ORT(t)
	p := openTwin(t, "", t.TempDir(), "")
	c := diffCases[3]
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
