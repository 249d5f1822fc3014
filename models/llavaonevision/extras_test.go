package llavaonevision_test

import (
	"cmp"
	"slices"
	"strings"
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

// The instrumented OneVision twin's extras equal torch's own computation
// from the twin's SigLIP module (scripts/twins/vision_extras_onevision.py):
// the attention each patch receives in the feature layer
// (vision_feature_layer -1: encoder layer 1 of 2), mean over heads and
// query rows; that layer's output (the pre-projector features) and its
// keys averaged over heads. The features are bit-identical to the plain
// graph's; FasterVLM keeps torch's top tokens and VisionZip selects and
// merges the same tokens from the instrumented extras as from torch's.
func TestInstrumentedExtrasEqualTorch(t *testing.T) {
	testenv.ORT(t)
	ref, err := visref.Load(testdata(t, "vision-extras.json"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := models.Load(testdata(t, twin))
	if err != nil {
		t.Fatal(err)
	}
	in, err := models.VisionExtras(spec)
	if err != nil {
		t.Fatal(err)
	}
	if in.Attention != visinstr.Received || in.Layer != 1 || in.Rows.CLSFirst || in.Rows.Group > 1 {
		t.Fatalf("instrumentation %+v, want the received attention of layer 1 (vision_feature_layer -1 of 2), one row per patch", in)
	}
	g := encoder.VisionGraph{Path: spec.Files.Vision, Width: 70, Height: 70, Features: "image_features"}
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
	px := visref.Pattern(3 * 70 * 70)
	got, err := x.Encode(px)
	if err != nil {
		t.Fatal(err)
	}
	base, err := plain.Encode(px)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Features.Data, base.Features.Data) {
		t.Errorf("instrumented features differ from the plain graph's")
	}
	if d := visref.Diff(base.Features.Data, visref.Matrix(ref.Features).Data); d > 1e-4 {
		t.Fatalf("the torch module is not the twin: features differ by %g", d)
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
		t.Logf("%s: %d values, max difference %.2g", c.name, len(c.want), d)
		if d > c.tol {
			t.Errorf("%s differs from torch by %g (tolerance %g)", c.name, d, c.tol)
		}
	}
	if got.PreProj.Rows != 25 || got.PreProj.Cols != 32 || got.Keys.Rows != 25 || got.Keys.Cols != 16 {
		t.Errorf("pre-projector %d×%d, keys %d×%d; want 25×32, 25×16", got.PreProj.Rows, got.PreProj.Cols, got.Keys.Rows, got.Keys.Cols)
	}
	// FasterVLM's 6 of 25 are torch's top 6 (in ascending order).
	fv, err := pruning.FasterVLM{}.Apply(got, 6)
	if err != nil {
		t.Fatal(err)
	}
	order := make([]int, len(ref.Attention))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ref.Attention[b], ref.Attention[a]) })
	top := slices.Clone(order[:6])
	slices.Sort(top)
	if !slices.Equal(fv.Source, top) {
		t.Errorf("fastervlm keeps %v, torch's top 6 are %v", fv.Source, top)
	}
	torch := &pruning.Visual{Features: got.Features, CLSAttn: visref.Float32s(ref.Attention), Keys: visref.Matrix(ref.Keys),
		GridH: 5, GridW: 5}
	got.GridH, got.GridW = 5, 5
	vzGot, err := pruning.VisionZip{}.Apply(got, 8)
	if err != nil {
		t.Fatal(err)
	}
	vzRef, err := pruning.VisionZip{}.Apply(torch, 8)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(vzGot.Source, vzRef.Source) || !slices.Equal(vzGot.Sizes, vzRef.Sizes) {
		t.Errorf("visionzip: sources %v sizes %v; from torch's extras %v %v", vzGot.Source, vzGot.Sizes, vzRef.Source, vzRef.Sizes)
	}
}

// The methods that need encoder extras run on the twin through the
// pipeline at a real budget (6 of 25 tokens; 6 of 50 over two images),
// each keeping the count its rule gives (adaptive and mustdrop-merge: at
// most the budget). FOPru's row strategy and MustDrop's spatial merge work
// on one token grid, so two images (no single grid) are refused.
func TestExtrasMethodsAtBudget(t *testing.T) {
	testenv.ORT(t)
	p := openTwin(t, "", t.TempDir())
	for _, c := range []diffCase{byName(t, "tall"), byName(t, "two-images")} {
		n := 25 * len(c.Images)
		for _, spec := range []string{"fastervlm", "fopru", "fopru:strategy=row", "visionzip", "flowcut", "mustdrop-merge", "adaptive"} {
			req := pipeline.Request{}
			if err := (pipeline.PruneSpec{Method: spec, Keep: "6"}).Apply(&req); err != nil {
				t.Fatal(err)
			}
			if (spec == "fopru:strategy=row" || spec == "mustdrop-merge") && len(c.Images) > 1 {
				if _, err := captionErr(t, p, c, req); err == nil || !strings.Contains(err.Error(), "token grid") {
					t.Errorf("%s %s: %v, want a refusal naming the token grid", c.Name, spec, err)
				}
				continue
			}
			res := caption(t, p, c, req)
			t.Logf("%s %-20s %d → %d visual tokens, ids %v", c.Name, spec, res.Visual.Before, res.Visual.AfterPre, res.GeneratedIDs)
			if res.Visual.Before != n || res.Visual.AfterPre < 1 || res.Visual.AfterPre > 6 || len(res.GeneratedIDs) == 0 {
				t.Errorf("%s %s keep 6: %d → %d visual tokens, ids %v", c.Name, spec, res.Visual.Before, res.Visual.AfterPre, res.GeneratedIDs)
			}
			if exact := spec != "adaptive" && spec != "mustdrop-merge"; exact && res.Visual.AfterPre != 6 {
				t.Errorf("%s %s keep 6 kept %d", c.Name, spec, res.Visual.AfterPre)
			}
		}
	}
}
