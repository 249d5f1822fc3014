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
// the embedded model's 4 decoder layers.
var modelParams = map[string]string{
	"pdrop":     "pdrop:layers=1/2/3",
	"sparsevlm": "sparsevlm:layers=1/2/3",
	"aim":       "aim:start=1",
	"dart":      "dart:pivot=hidden",
}

// keepAllParams are the settings under which a method whose parameters set
// its counts keeps every token.
var keepAllParams = map[string]string{
	"adaptive":       "adaptive:mass=1",
	"fastv":          "fastv:r=0",
	"pdrop":          "pdrop:layers=1/2/3,ratios=1/1/1",
	"adaptive-fastv": "adaptive-fastv:mass=1",
	"prunevid":       "prunevid:tau=1,ratio=1,order=spatial", // clusters a lone frame's tokens otherwise
}

// Keeping every visual token must reproduce the unpruned output token for
// token, for every method, on the embedded model.
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
		spec := m.Name
		if s, ok := modelParams[m.Name]; ok {
			spec = s
		}
		t.Run(m.Name, func(t *testing.T) {
			if m.Name == "aim" {
				t.Skip("AIM prunes progressively to zero by design (step in (0, 1]); it has no keep-all setting")
			}
			req := pipeline.Request{}
			keep := "1.0"
			if s, ok := keepAllParams[m.Name]; ok {
				spec = s
				if m.Stage == pruning.InDecoderStage {
					keep = "" // the parameters set the counts
				}
			}
			if err := (pipeline.PruneSpec{Method: spec, Keep: keep}).Apply(&req); err != nil {
				t.Fatal(err)
			}
			for i, img := range imgs {
				res, err := p.Caption(context.Background(), "a.png", bytes.NewReader(img), req, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(res.GeneratedIDs, base[i]) {
					t.Errorf("image %d: %v\nunpruned %v", i, res.GeneratedIDs, base[i])
				}
			}
		})
	}
}
