package pipeline_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
)

// modelParams adapts layer-numbered defaults (set for 32-layer LLaVA) to
// the embedded model's 4 decoder layers (pdrop scales its own default;
// pruning.FitDepth refuses the others, see TestFitDepth).
var modelParams = map[string]string{
	"pdrop":         "pdrop:layers=1/2/3",
	"sparsevlm":     "sparsevlm:layers=1/2/3",
	"aim":           "aim:start=1",
	"dart":          "dart:pivot=hidden",
	"mustdrop":      "mustdrop:layers=1/2/3",
	"holitom-inner": "holitom-inner:k=2",
}

// keepAllParams are the methods for which --keep 1.0 does not mean "keep
// every token", and the parameters that do. docs/measured.md lists the same
// methods: adaptive (--keep is only its upper bound; its attention-mass
// criterion picks fewer), adaptive-fastv and zipvl (their counts come from
// their parameters; --keep is refused), prunevid (static-token merging and
// clustering happen before the budget), dycoke-kv (decode-time selection
// set by p; p=0 attends to every image key), prunevid-inner (only after
// prunevid, whose grouping it reads; alpha=1 keeps every token).
var keepAllParams = map[string]string{
	"adaptive":       "adaptive:mass=1",
	"adaptive-fastv": "adaptive-fastv:mass=1",
	"zipvl":          "zipvl:tau=1",
	"prunevid":       "prunevid:tau=1,ratio=1,segment=1",
	"dycoke-kv":      "dycoke-kv:p=0",
	"prunevid-inner": "prunevid:tau=1,ratio=1,segment=1,order=spatial+prunevid-inner:alpha=1",
}

// --keep 1.0 keeps every visual token at every decoder layer and
// reproduces the unpruned output token for token, for every method but
// those in keepAllParams, which do both with the parameters given there
// (issue 20: AIM was skipped as having "no keep-all setting", and FastV,
// PyramidDrop and adaptive methods were only checked with parameters).
func TestKeepAllReproducesUnpruned(t *testing.T) {
	p := open(t)
	var imgs [][]byte
	for i := 0; i < 3; i++ {
		img, _ := scenePNG(t, 7003, i, 300)
		imgs = append(imgs, img)
	}
	base := make([][]int, len(imgs))
	for i, img := range imgs {
		res, err := p.Caption(context.Background(), "a.png", bytes.NewReader(img), pipeline.Request{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		base[i] = res.GeneratedIDs
	}
	for _, m := range pruning.Methods() {
		spec, keep := m.Name, "1.0"
		if s, ok := modelParams[m.Name]; ok {
			spec = s
		}
		if s, ok := keepAllParams[m.Name]; ok {
			spec, keep = s, ""
		}
		t.Run(m.Name, func(t *testing.T) {
			req := pipeline.Request{}
			if err := (pipeline.PruneSpec{Method: spec, Keep: keep}).Apply(&req); err != nil {
				t.Fatalf("%s --keep %q: %v", spec, keep, err)
			}
			for i, img := range imgs {
				res, err := p.Caption(context.Background(), "a.png", bytes.NewReader(img), req, nil)
				if err != nil {
					t.Fatal(err)
				}
				if res.Visual.AfterPre != res.Visual.Before {
					t.Errorf("image %d: %s --keep %q kept %d of %d visual tokens before the decoder", i, spec, keep, res.Visual.AfterPre, res.Visual.Before)
				}
				for l, rows := range res.Visual.LayerRows {
					if rows != len(res.PromptIDs) {
						t.Errorf("image %d: %s --keep %q: layer %d cached %d rows of %d", i, spec, keep, l, rows, len(res.PromptIDs))
					}
				}
				if !slices.Equal(res.GeneratedIDs, base[i]) {
					t.Errorf("image %d: %v\nunpruned %v", i, res.GeneratedIDs, base[i])
				}
			}
		})
	}
}
