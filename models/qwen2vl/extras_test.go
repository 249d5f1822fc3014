package qwen2vl_test

import (
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/internal/visref"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/onnx/visinstr"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
)

// The instrumented Qwen2-VL and Qwen2.5-VL twins' extras equal torch's own
// computation from the twin's module (scripts/twins/vision_extras.py): the
// attention each patch receives in the last block (mean over heads and
// query rows), averaged over the 4 patches of each merged token; the last
// block's output with a merged token's 4 rows side by side; its keys
// averaged over heads and patches. The Qwen2.5-VL twin has window
// attention (its graph reorders the patches by window_index and the
// features back by argsort(window_index)): its extras, computed in window
// order, come out in the features' order (grid 1×4×8: two windows, order
// 0 1 4 5 2 3 6 7). The features are bit-identical to the plain graph's,
// and FasterVLM keeps the merged token torch's scores rank first.
func TestInstrumentedExtrasEqualTorch(t *testing.T) {
	testenv.ORT(t)
	for _, tc := range []struct {
		folder, ref string
		grid        [3]int
	}{
		{twin, "vision-extras.json", [3]int{1, 4, 4}},
		{twin25, "vision-extras-25.json", [3]int{1, 4, 8}},
	} {
		folder := tc.folder
		ref, err := visref.Load(testdata(t, tc.ref))
		if err != nil {
			t.Fatal(err)
		}
		spec, err := models.Load(testdata(t, folder))
		if err != nil {
			t.Fatal(err)
		}
		in, err := models.VisionExtras(spec)
		if err != nil {
			t.Fatal(err)
		}
		if in.Attention != visinstr.Received || in.Layer != 1 || in.Rows.Group != 4 {
			t.Fatalf("%s: instrumentation %+v, want received attention of block 1, 4 patches per token", folder, in)
		}
		g := encoder.VisionGraph{Path: spec.Files.Vision, Features: "image_features"}
		o := ortx.Options{Threads: 1}
		x, _, err := encoder.OpenInstrumented(g, in, "", o)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Destroy()
		plain, err := encoder.OpenVision(g, o)
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Destroy()
		n := tc.grid[0] * tc.grid[1] * tc.grid[2]
		px := visref.Pattern(n * 1176)
		grid := [][3]int{tc.grid}
		got, err := x.EncodePatches(px, 1176, grid)
		if err != nil {
			t.Fatal(err)
		}
		base, err := plain.EncodePatches(px, 1176, grid)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Features.Data, base.Features.Data) {
			t.Errorf("%s: instrumented features differ from the plain graph's", folder)
		}
		if d := visref.Diff(base.Features.Data, visref.Matrix(ref.Features).Data); d > 1e-4 {
			t.Fatalf("%s: the torch module is not the twin: features differ by %g", folder, d)
		}
		for _, c := range []struct {
			name      string
			got, want []float32
			tol       float64
		}{
			{"received attention", got.CLSAttn, visref.Float32s(ref.Attention), 1e-6},
			{"pre-projector features", got.PreProj.Data, visref.Matrix(ref.PreProjector).Data, 1e-4},
			{"keys", got.Keys.Data, visref.Matrix(ref.Keys).Data, 1e-4},
		} {
			d := visref.Diff(c.got, c.want)
			t.Logf("%s: %s: %d values, max difference %.2g", folder, c.name, len(c.want), d)
			if d > c.tol {
				t.Errorf("%s: %s differs from torch by %g (tolerance %g)", folder, c.name, d, c.tol)
			}
		}
		if got.PreProj.Rows != n/4 || got.PreProj.Cols != 128 || got.Keys.Rows != n/4 || got.Keys.Cols != 16 {
			t.Errorf("%s: pre-projector %d×%d, keys %d×%d; want %d×128, %d×16", folder, got.PreProj.Rows, got.PreProj.Cols,
				got.Keys.Rows, got.Keys.Cols, n/4, n/4)
		}
		fv, err := pruning.FasterVLM{}.Apply(got, 1)
		if err != nil {
			t.Fatal(err)
		}
		best := 0
		for i, a := range ref.Attention {
			if a > ref.Attention[best] {
				best = i
			}
		}
		if !slices.Equal(fv.Source, []int{best}) {
			t.Errorf("%s: fastervlm keeps %v, torch's best merged token is %d", folder, fv.Source, best)
		}
	}
}

// The methods that need encoder extras run on both twins (the Qwen2.5-VL
// one with window attention) through the pipeline at a real budget (4 of
// 12 tokens, 112×84), each keeping the count its rule gives.
func TestExtrasMethodsAtBudget(t *testing.T) {
	testenv.ORT(t)
	for _, folder := range []string{twin, twin25} { // twin25: a window-attention graph
		t.Run(folder, func(t *testing.T) { extrasAtBudget(t, openFolder(t, folder, "", t.TempDir())) })
	}
}

func extrasAtBudget(t *testing.T, p *pipeline.Pipeline) {
	c := diffCases[4] // 112×84: 12 visual tokens
	for _, spec := range []string{"fastervlm", "fopru", "fopru:strategy=row", "visionzip", "flowcut", "mustdrop-merge", "adaptive"} {
		req := pipeline.Request{}
		if err := (pipeline.PruneSpec{Method: spec, Keep: "4"}).Apply(&req); err != nil {
			t.Fatal(err)
		}
		res := caption(t, p, c, req)
		t.Logf("%-20s %d → %d visual tokens, ids %v", spec, res.Visual.Before, res.Visual.AfterPre, res.GeneratedIDs)
		if res.Visual.Before != 12 || res.Visual.AfterPre < 1 || res.Visual.AfterPre > 4 || len(res.GeneratedIDs) == 0 {
			t.Errorf("%s keep 4: %d → %d visual tokens, ids %v", spec, res.Visual.Before, res.Visual.AfterPre, res.GeneratedIDs)
		}
		if exact := spec != "adaptive" && spec != "mustdrop-merge"; exact && res.Visual.AfterPre != 4 {
			t.Errorf("%s keep 4 kept %d", spec, res.Visual.AfterPre)
		}
	}
}
