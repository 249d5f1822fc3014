package smolvlm_test

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/decoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/internal/tjsref"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/models/smolvlm"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
)

// captionIDs captions the case's image through the pipeline with req.
func captionIDs(t *testing.T, p *pipeline.Pipeline, c diffCase, req pipeline.Request) *pipeline.Result {
	t.Helper()
	imgPath := testdata(t, "images", c.Image+".png")
	f, err := os.Open(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if c.Prompt != smolvlm.DefaultPrompt {
		req.Prompt = c.Prompt
	}
	req.MaxNewTokens = 12
	res, err := p.Caption(context.Background(), imgPath, f, req, nil)
	if err != nil {
		t.Fatalf("%s: caption: %v", c.Name, err)
	}
	return res
}

func openTwin(t *testing.T, c diffCase, cache string) *pipeline.Pipeline {
	t.Helper()
	dt, err := models.ParseDTypes(c.DType)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.Open(testdata(t, c.Twin), pipeline.Options{ORT: ortx.Options{Threads: 1}, DTypes: dt, CacheDir: cache})
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	t.Cleanup(p.Close)
	return p
}

// The staged form, derived from each twin's unchanged merged decoder and cut
// after every layer, generates the same ids as the merged file and as
// transformers.js 4.3.1 (golden.json) on every differential case: fp32,
// fp16, q8, q4, the legacy If merge, the hand-built anonymous graphs and
// the resized images.
func TestStagedFormMatchesMergedAndTransformersJS(t *testing.T) {
	testenv.ORT(t)
	golden := tjsref.LoadGolden[refResult](t, testdata(t, "golden.json"))
	cache := t.TempDir()
	for _, c := range diffCases {
		t.Run(c.Name, func(t *testing.T) {
			p := openTwin(t, c, cache)
			merged := captionIDs(t, p, c, pipeline.Request{Form: decoder.FormMerged})
			staged := captionIDs(t, p, c, pipeline.Request{Form: decoder.FormLayers})
			if !slices.Equal(staged.GeneratedIDs, merged.GeneratedIDs) {
				t.Errorf("staged ids %v, merged %v", staged.GeneratedIDs, merged.GeneratedIDs)
			}
			if g, ok := golden[c.Name]; !ok {
				t.Errorf("no golden result for %s", c.Name)
			} else if !slices.Equal(staged.GeneratedIDs, g.GeneratedIDs) {
				t.Errorf("staged ids %v, transformers.js %v", staged.GeneratedIDs, g.GeneratedIDs)
			}
			if n := len(staged.Visual.LayerRows); n != p.Spec.Text.Layers {
				t.Errorf("%d KV row counts for %d layers", n, p.Spec.Text.Layers)
			}
		})
	}
}

// Every in-decoder method runs on the torch-exported SmolVLM twin (every
// dtype), cuts the KV cache of the layers after its boundaries, and at keep
// 1.0 (nothing dropped) reproduces the unpruned ids.
func TestInDecoderMethodsOnSmolVLMTwin(t *testing.T) {
	testenv.ORT(t)
	specs := []string{"fastv:k=1,r=0.75", "pdrop:layers=1/2/3", "sparsevlm:layers=1/2", "aim:start=1,step=0.3",
		"dart:k=2", "dart:k=1,pivot=hidden", "adaptive-fastv:k=2,mass=0.5"}
	cache := t.TempDir()
	for _, dt := range []string{"", "fp32,decoder_model_merged=fp16", "fp32,decoder_model_merged=q8", "fp32,decoder_model_merged=q4"} {
		c := diffCase{Name: "torch " + dt, Twin: "smolvlm-twin-torch", Image: "land64x48", DType: dt}
		p := openTwin(t, c, cache)
		base := captionIDs(t, p, c, pipeline.Request{Form: decoder.FormMerged})
		for _, spec := range specs {
			m, err := pruning.Parse(spec)
			if err != nil {
				t.Fatal(err)
			}
			in := m.In
			if b, ok := in.(pruning.Budgeted); ok && m.Info.Name == "dart" {
				// DART's default 128 tokens is more than the twin has.
				if in, err = b.WithBudget(pruning.KeepRatio(0.5)); err != nil {
					t.Fatal(err)
				}
			}
			res := captionIDs(t, p, c, pipeline.Request{In: in})
			rows := res.Visual.LayerRows
			if len(rows) != p.Spec.Text.Layers || rows[len(rows)-1] >= rows[0] {
				t.Errorf("%s %s: KV rows per layer %v: no layer lost a row", dt, spec, rows)
			}
			t.Logf("%-32s %-30s KV rows %v", dt, spec, rows)
		}
		for _, spec := range []string{"fastv:k=1,r=0", "pdrop:layers=1/2,ratios=1/1", "dart:k=2,exact=true",
			"aim:start=1"} {
			m, err := pruning.Parse(spec)
			if err != nil {
				t.Fatal(err)
			}
			in := m.In
			if b, ok := in.(pruning.Budgeted); ok && (spec == "dart:k=2,exact=true" || spec == "aim:start=1") {
				if in, err = b.WithBudget(pruning.KeepRatio(1)); err != nil {
					t.Fatal(err)
				}
			}
			res := captionIDs(t, p, c, pipeline.Request{In: in})
			if rows := res.Visual.LayerRows; rows[len(rows)-1] != rows[0] {
				t.Errorf("%s %s keeping everything: KV rows %v", dt, spec, rows)
			}
			if !slices.Equal(res.GeneratedIDs, base.GeneratedIDs) {
				t.Errorf("%s %s keeping everything: ids %v, unpruned %v", dt, spec, res.GeneratedIDs, base.GeneratedIDs)
			}
		}
	}
}
