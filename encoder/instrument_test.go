package encoder

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/graphcache"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/onnx"
	"github.com/vlmrun/vlmrun/onnx/visinstr"
	"github.com/vlmrun/vlmrun/pruning"
)

// pattern returns n deterministic pixel values in [-2.5, 2.5].
func pattern(n int) []float32 {
	px := make([]float32, n)
	for i := range px {
		px[i] = float32(float64((i*7919+13)%251)/50.0 - 2.5)
	}
	return px
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// The embedded scenes-tiny model exports its own extras from torch (the
// last layer's CLS attention over the patches, head mean, and its keys with
// the heads side by side). Instrumenting its vision graph as if it had none
// finds the same layer: the CLS row (CLS column dropped) equals the graph's
// cls_attention, the head mean of its patch_keys equals the instrumented
// keys, and the features are bit-identical to the plain graph's.
func TestInstrumentMatchesExportedExtras(t *testing.T) {
	testenv.ORT(t)
	path := filepath.Join(testenv.Repo(t), "models", "scenes-tiny", "onnx", "vision_encoder.onnx")
	o := ortx.Options{Threads: 1}
	g := VisionGraph{Path: path, Width: 96, Height: 96, Features: "image_features"}
	full := g
	full.PreProj, full.CLSAttn, full.Keys = "patch_features", "cls_attention", "patch_keys"
	ref, err := OpenVision(full, o)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Destroy()
	cache := t.TempDir()
	in := Instrument{Attention: visinstr.CLS, Layer: 3, Rows: ExtraRows{CLSFirst: true}}
	v, info, err := OpenInstrumented(g, in, cache, o)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Destroy()
	if info.Build <= 0 || len(info.Missing) != 0 {
		t.Errorf("first open: build %v, missing %v", info.Build, info.Missing)
	}
	px := pattern(3 * 96 * 96)
	want, err := ref.Encode(px)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Encode(px)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(got.Features.Data, want.Features.Data); d != 0 {
		t.Errorf("features differ from the plain graph's by %g", d)
	}
	if got.Has()&(pruning.NeedCLSAttn|pruning.NeedKeys|pruning.NeedPreProj) != pruning.NeedCLSAttn|pruning.NeedKeys|pruning.NeedPreProj {
		t.Fatalf("instrumented graph provides %v", got.Has())
	}
	if len(got.CLSAttn) != 64 || got.PreProj.Rows != 64 || got.Keys.Rows != 64 || got.Keys.Cols != 32 {
		t.Fatalf("extras: attention %d, pre-projector %d×%d, keys %d×%d; want 64, 64×128, 64×32",
			len(got.CLSAttn), got.PreProj.Rows, got.PreProj.Cols, got.Keys.Rows, got.Keys.Cols)
	}
	if d := maxDiff(got.CLSAttn, want.CLSAttn); d > 1e-6 {
		t.Errorf("CLS attention differs from the exported cls_attention by %g", d)
	}
	if d := maxDiff(got.Keys.Data, meanRows(want.Keys, 4).Data); d > 1e-5 {
		t.Errorf("keys differ from the head mean of the exported patch_keys by %g", d)
	}

	// A second open reads the cache; a damaged entry is rebuilt.
	v2, info, err := OpenInstrumented(g, in, cache, o)
	if err != nil {
		t.Fatal(err)
	}
	v2.Destroy()
	if info.Build != 0 {
		t.Errorf("second open rebuilt the graph (%v)", info.Build)
	}
	files, _ := filepath.Glob(filepath.Join(cache, "*.onnx"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v", files)
	}
	// The entry holds no copy of the weights: the initializers of 4 KiB or
	// more are external data in the source file, which ORT maps.
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	dm, err := onnx.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	refs := 0
	for _, init := range dm.Graph.Initializers {
		switch {
		case init.External != nil && init.External["location"] != filepath.Base(path):
			t.Errorf("initializer %q is external data in %q, want %q", init.Name, init.External["location"], filepath.Base(path))
		case init.External != nil:
			refs++
		case len(init.Raw) >= 4096:
			t.Errorf("initializer %q holds its %d bytes (a copy of the weights)", init.Name, len(init.Raw))
		}
	}
	if refs == 0 {
		t.Error("no initializer of the instrumented graph refers to the source file")
	}
	if err := os.WriteFile(files[0], []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	v3, info, err := OpenInstrumented(g, in, cache, o)
	if err != nil {
		t.Fatalf("damaged cache entry: %v", err)
	}
	defer v3.Destroy()
	if info.Build <= 0 {
		t.Errorf("damaged cache entry was not rebuilt")
	}
	again, err := v3.Encode(px)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(again.CLSAttn, got.CLSAttn); d != 0 {
		t.Errorf("rebuilt graph's attention differs by %g", d)
	}
	key, _ := graphcache.Key(instrumentVersion, path, visinstr.Options{Input: "pixel_values", Features: "image_features",
		Attention: visinstr.CLS, Layer: 3}.Key())
	if _, ok := graphcache.Read(cache, key, 1); !ok {
		t.Errorf("rebuilt entry not written back")
	}
}

// Graphs that cannot be instrumented, or a config that names another
// layer, are refused with the file name and the reason.
func TestInstrumentRefusals(t *testing.T) {
	testenv.ORT(t)
	root := filepath.Join(testenv.Repo(t), "models", "scenes-tiny", "onnx")
	for _, tc := range []struct {
		file, features string
		in             Instrument
		want           string
	}{
		{"vision_encoder.onnx", "image_features", Instrument{Attention: visinstr.CLS, Layer: 1}, "depends on 4 attention layers, but the config's feature layer is layer 1"},
		{"embed_tokens.onnx", "inputs_embeds", Instrument{Attention: visinstr.CLS, Layer: -1}, `no "pixel_values" input`},
	} {
		g := VisionGraph{Path: filepath.Join(root, tc.file), Width: 96, Height: 96, Features: tc.features}
		v, _, err := OpenInstrumented(g, tc.in, "", ortx.Options{Threads: 1})
		if err == nil {
			v.Destroy()
			t.Errorf("%s: instrumented", tc.file)
			continue
		}
		if !errors.Is(err, visinstr.ErrUnrecognised) || !strings.Contains(err.Error(), tc.file) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant the file name and %q", tc.file, err, tc.want)
		}
	}
}

// The extras' rows map to the feature rows: the CLS row dropped when the
// features leave it out, merged patches averaged (attention, keys) or put
// side by side (pre-projector features); other counts are errors.
func TestExtraRowsAlign(t *testing.T) {
	for _, tc := range []struct {
		r           ExtraRows
		rows, n     int
		skip, group int
		err         bool
	}{
		{ExtraRows{}, 5, 5, 0, 1, false},
		{ExtraRows{}, 6, 5, 0, 0, true},
		{ExtraRows{CLSFirst: true}, 6, 5, 1, 1, false},
		{ExtraRows{CLSFirst: true}, 5, 5, 0, 1, false},
		{ExtraRows{CLSFirst: true}, 7, 5, 0, 0, true},
		{ExtraRows{Group: 4}, 16, 4, 0, 4, false},
		{ExtraRows{Group: 4}, 16, 5, 0, 0, true},
	} {
		skip, g, err := tc.r.align("x", tc.rows, tc.n)
		if (err != nil) != tc.err || (err == nil && (skip != tc.skip || g != tc.group)) {
			t.Errorf("%+v: %d rows for %d: skip %d group %d err %v", tc.r, tc.rows, tc.n, skip, g, err)
		}
	}
	m := meanRows(pruning.Matrix{Rows: 2, Cols: 4, Data: []float32{1, 2, 3, 4, 5, 6, 7, 9}}, 2)
	if m.Cols != 2 || maxDiff(m.Data, []float32{2, 3, 6, 7.5}) != 0 {
		t.Errorf("meanRows: %+v", m)
	}
}
