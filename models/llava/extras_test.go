package llava_test

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/internal/visref"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/onnx"
	"github.com/vlmrun/vlmrun/onnx/visinstr"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
)

// openInstrumented instruments the vision graph at path as the twin's
// config says and opens it with the plain graph.
func openInstrumented(t *testing.T, path string) (x, plain *encoder.Vision) {
	t.Helper()
	spec, err := models.Load(testdata(t, twin))
	if err != nil {
		t.Fatal(err)
	}
	in, err := models.VisionExtras(spec)
	if err != nil {
		t.Fatal(err)
	}
	if in.Attention != visinstr.CLS || in.Layer != 0 || !in.Rows.CLSFirst {
		t.Fatalf("instrumentation %+v, want the CLS row of layer 0 (vision_feature_layer -2 of 2)", in)
	}
	g := encoder.VisionGraph{Path: path, Width: 56, Height: 56, Features: "image_features"}
	o := ortx.Options{Threads: 1}
	x, _, err = encoder.OpenInstrumented(g, in, "", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Destroy)
	if plain, err = encoder.OpenVision(g, o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(plain.Destroy)
	return x, plain
}

// The instrumented LLaVA twin's extras equal torch's own computation from
// the twin's module (scripts/twins/vision_extras.py): the CLS query's
// attention row of the feature layer (hidden_states[-2]) averaged over
// heads, that layer's output and its head-mean keys; its features are
// bit-identical to the plain graph's. FasterVLM keeps the top tokens of
// torch's scores, and VisionZip selects and merges the same tokens from
// the instrumented extras as from torch's.
func TestInstrumentedExtrasEqualTorch(t *testing.T) {
	testenv.ORT(t)
	ref, err := visref.Load(testdata(t, "vision-extras.json"))
	if err != nil {
		t.Fatal(err)
	}
	x, plain := openInstrumented(t, testdata(t, twin, "onnx", "vision_encoder.onnx"))
	px := visref.Pattern(3 * 56 * 56)
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
	want := visref.Matrix(ref.Features)
	if d := visref.Diff(base.Features.Data, want.Data); d > 1e-4 {
		t.Fatalf("the torch module is not the twin: features differ by %g", d)
	}
	for _, c := range []struct {
		name      string
		got, want []float32
		tol       float64
	}{
		{"CLS attention", got.CLSAttn, visref.Float32s(ref.Attention), 1e-6},
		{"pre-projector features", got.PreProj.Data, visref.Matrix(ref.PreProjector).Data, 1e-4},
		{"keys", got.Keys.Data, visref.Matrix(ref.Keys).Data, 1e-4},
	} {
		d := visref.Diff(c.got, c.want)
		t.Logf("%s: %d values, max difference %.2g", c.name, len(c.want), d)
		if d > c.tol {
			t.Errorf("%s differs from torch by %g (tolerance %g)", c.name, d, c.tol)
		}
	}
	// FasterVLM's 4 of 17 are torch's top 4 (ascending).
	fv, err := pruning.FasterVLM{}.Apply(got, 4)
	if err != nil {
		t.Fatal(err)
	}
	order := make([]int, len(ref.Attention))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return -cmpFloat(ref.Attention[a], ref.Attention[b])
	})
	top := slices.Clone(order[:4])
	slices.Sort(top)
	if !slices.Equal(fv.Source, top) {
		t.Errorf("fastervlm keeps %v, torch's top 4 are %v", fv.Source, top)
	}
	torch := &pruning.Visual{Features: got.Features, CLSAttn: visref.Float32s(ref.Attention), Keys: visref.Matrix(ref.Keys)}
	vzGot, err := pruning.VisionZip{}.Apply(got, 6)
	if err != nil {
		t.Fatal(err)
	}
	vzRef, err := pruning.VisionZip{}.Apply(torch, 6)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(vzGot.Source, vzRef.Source) || !slices.Equal(vzGot.Sizes, vzRef.Sizes) {
		t.Errorf("visionzip: sources %v sizes %v; from torch's extras %v %v", vzGot.Source, vzGot.Sizes, vzRef.Source, vzRef.Sizes)
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// An export whose features leave out the CLS row (Python's count, 576 of
// 577 on LLaVA-1.5: projector(hidden_states[-2][:, 1:])) gets the same
// extras without the CLS row. The twin's graph is edited here to slice the
// CLS row off before the projector.
func TestInstrumentedExtrasDropCLSRow(t *testing.T) {
	testenv.ORT(t)
	ref, err := visref.Load(testdata(t, "vision-extras.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Open(testdata(t, twin, "onnx", "vision_encoder.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	g := m.Graph
	proj := slices.IndexFunc(g.Nodes, func(n *onnx.Node) bool { return n.Name == "/multi_modal_projector/linear_1/MatMul" })
	if proj < 0 {
		t.Fatal("no projector MatMul in the twin")
	}
	z := g.Nodes[proj].Inputs[0]
	g.Nodes[proj].Inputs[0] = "patches_only"
	g.Initializers = append(g.Initializers, onnx.Int64Tensor("cls_s", []int64{1}, 1),
		onnx.Int64Tensor("cls_e", []int64{1}, math.MaxInt64), onnx.Int64Tensor("cls_a", []int64{1}, 1))
	g.Nodes = slices.Insert(g.Nodes, proj, onnx.NewNode("drop_cls", "Slice", []string{z, "cls_s", "cls_e", "cls_a"}, []string{"patches_only"}))
	path := filepath.Join(t.TempDir(), "vision_encoder.onnx")
	if err := os.WriteFile(path, m.MarshalSelfContained(), 0o644); err != nil {
		t.Fatal(err)
	}
	x, plain := openInstrumented(t, path)
	px := visref.Pattern(3 * 56 * 56)
	got, err := x.Encode(px)
	if err != nil {
		t.Fatal(err)
	}
	base, err := plain.Encode(px)
	if err != nil {
		t.Fatal(err)
	}
	if got.Features.Rows != 16 || !slices.Equal(got.Features.Data, base.Features.Data) {
		t.Fatalf("features: %d rows, equal to the plain graph's: %v", got.Features.Rows, slices.Equal(got.Features.Data, base.Features.Data))
	}
	pre, keys := visref.Matrix(ref.PreProjector), visref.Matrix(ref.Keys)
	for _, c := range []struct {
		name      string
		got, want []float32
	}{
		{"CLS attention", got.CLSAttn, visref.Float32s(ref.Attention[1:])},
		{"pre-projector features", got.PreProj.Data, pre.Data[pre.Cols:]},
		{"keys", got.Keys.Data, keys.Data[keys.Cols:]},
	} {
		if d := visref.Diff(c.got, c.want); d > 1e-4 {
			t.Errorf("%s without the CLS row differs from torch by %g", c.name, d)
		}
	}
}

// Through the pipeline: a method needing extras opens the instrumented
// graph (recording its build and session time, a cache entry written),
// FasterVLM at 0.25 keeps 4 of 17, a second pipeline on the same cache
// reads the entry (no build time), and a request that needs no extras
// never opens it.
func TestPipelineInstrumentsOnlyWhenNeeded(t *testing.T) {
	testenv.ORT(t)
	cache := t.TempDir()
	c := diffCases[0]
	p := openTwin(t, "", cache, "")
	plain := caption(t, p, c, pipeline.Request{})
	div := pipeline.Request{}
	if err := (pipeline.PruneSpec{Method: "divprune", Keep: "0.25"}).Apply(&div); err != nil {
		t.Fatal(err)
	}
	if res := caption(t, p, c, div); res.Timings.EncoderInstrumentBuild != 0 || res.Timings.EncoderSessionOpen != 0 {
		t.Errorf("divprune opened the instrumented graph: %+v", res.Timings)
	}
	if files, _ := filepath.Glob(filepath.Join(cache, "*.onnx")); len(files) != 0 {
		t.Errorf("requests without extras cached %v", files)
	}
	for i, wantBuild := range []bool{true, false} {
		if i == 1 {
			p = openTwin(t, "", cache, "")
		}
		req := pipeline.Request{}
		if err := (pipeline.PruneSpec{Method: "fastervlm", Keep: "0.25"}).Apply(&req); err != nil {
			t.Fatal(err)
		}
		res := caption(t, p, c, req)
		tm := res.Timings
		t.Logf("pipeline %d: encoder_instrument_build_ms %.2f, encoder_session_open_ms %.2f, encode_ms %.2f", i, tm.EncoderInstrumentBuild, tm.EncoderSessionOpen, tm.Encode)
		if (tm.EncoderInstrumentBuild > 0) != wantBuild || tm.EncoderSessionOpen <= 0 {
			t.Errorf("pipeline %d: build %v ms, open %v ms; want a build: %v", i, tm.EncoderInstrumentBuild, tm.EncoderSessionOpen, wantBuild)
		}
		if res.Visual.Before != 17 || res.Visual.AfterPre != 4 || len(res.GeneratedIDs) == 0 {
			t.Errorf("fastervlm 0.25: %d → %d visual tokens, ids %v", res.Visual.Before, res.Visual.AfterPre, res.GeneratedIDs)
		}
		again := caption(t, p, c, req)
		if again.Timings.EncoderInstrumentBuild != 0 || again.Timings.EncoderSessionOpen != 0 || !slices.Equal(again.GeneratedIDs, res.GeneratedIDs) {
			t.Errorf("second request reopened the graph or changed: %+v %v", again.Timings, again.GeneratedIDs)
		}
		if after := caption(t, p, c, pipeline.Request{}); !slices.Equal(after.GeneratedIDs, plain.GeneratedIDs) {
			t.Errorf("unpruned ids after instrumenting %v, before %v", after.GeneratedIDs, plain.GeneratedIDs)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(cache, "*.onnx")); len(files) != 1 {
		t.Errorf("cache holds %v, want one instrumented vision graph", files)
	}
}
