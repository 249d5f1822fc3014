package llavaonevision_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/models/llavaonevision"
	"github.com/vlmrun/vlmrun/pipeline"
)

// pythonTwin is the twin with vlmrun_config.json asking for Python's
// anyres layout (the twin's model.safetensors holds image_newline).
func pythonTwin(t *testing.T) string {
	t.Helper()
	dir := copyTwin(t, nil)
	if err := os.WriteFile(filepath.Join(dir, llavaonevision.ConfigFile), []byte(`{"image_layout": "python"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The layout is opt-in: without vlmrun_config.json the twin runs
// transformers.js's layout (no packing hook); with "python" it packs, and
// its resizes default to Pillow's. A folder without image_newline, or
// another layout name, is refused with the reason.
func TestPythonLayoutLoad(t *testing.T) {
	spec, err := models.Load(testdata(t, twin))
	if err != nil {
		t.Fatal(err)
	}
	if spec.PackVisual != nil {
		t.Error("the default layout packs")
	}
	py, err := models.Load(pythonTwin(t))
	if err != nil {
		t.Fatal(err)
	}
	if py.PackVisual == nil || py.Preprocess.Resizer != encoder.ResizerPIL {
		t.Errorf("python layout: pack %v, resizer %q", py.PackVisual != nil, py.Preprocess.Resizer)
	}
	noNewline := pythonTwin(t)
	if err := os.Remove(filepath.Join(noNewline, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	if _, err := models.Load(noNewline); err == nil || !strings.Contains(err.Error(), "image_newline") {
		t.Errorf("no image_newline: %v", err)
	}
	bad := copyTwin(t, nil)
	if err := os.WriteFile(filepath.Join(bad, llavaonevision.ConfigFile), []byte(`{"image_layout": "anyres"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := models.Load(bad); err == nil || !strings.Contains(err.Error(), `image_layout "anyres"`) {
		t.Errorf("unknown layout: %v", err)
	}
}

// A 140×70 image, by hand: the 70×140 pinpoint (h×w) keeps it whole, so it
// is not resized for the crops: crop 0 is its left half, crop 1 its right
// half, after the base image (the whole image squashed to 70×70 with
// Pillow's bicubic); each normalized as (v/255 − 0.5)/0.5. Tokens: 25 base
// + a 5×10 map (no unpadding: 140/70 = 10/5) + 5 newlines = 80.
func TestPythonLayoutCrops(t *testing.T) {
	spec, err := models.Load(pythonTwin(t))
	if err != nil {
		t.Fatal(err)
	}
	img := decode(t, "wide140x70")
	px, err := spec.PreprocessImage(img)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := px.Layout.(llavaonevision.Anyres)
	if !ok || px.Images != 3 || a.Rows != 1 || a.Cols != 2 || a.Tokens() != 80 || len(px.Data) != 3*3*70*70 {
		t.Fatalf("%d images, layout %+v (%d tokens), %d values", px.Images, a, a.Tokens(), len(px.Data))
	}
	base, err := encoder.ResizeNRGBA(img, 70, 70, encoder.Resample(3), encoder.ResizerPIL)
	if err != nil {
		t.Fatal(err)
	}
	norm := func(v uint8) float32 { return (float32(float64(v)*(1/255.0)) - 0.5) / 0.5 }
	want := make([]float32, 0, len(px.Data))
	for _, src := range []struct {
		m  *image.NRGBA
		x0 int
	}{{base, 0}, {img, 0}, {img, 70}} {
		for ch := 0; ch < 3; ch++ {
			for y := 0; y < 70; y++ {
				for x := 0; x < 70; x++ {
					want = append(want, norm(src.m.Pix[y*src.m.Stride+4*(src.x0+x)+ch]))
				}
			}
		}
	}
	if !slices.Equal(px.Data, want) {
		t.Errorf("pixel values differ from the hand-built base + two halves")
	}
}

// --max-image-tokens picks among the pinpoints whose layout fits, and is
// never exceeded; below the smallest layout the image is refused.
func TestPythonLayoutBudget(t *testing.T) {
	spec, err := models.Load(pythonTwin(t))
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewNRGBA(image.Rect(0, 0, 420, 420))
	full, err := spec.PreprocessImage(img)
	if err != nil {
		t.Fatal(err)
	}
	if a := full.Layout.(llavaonevision.Anyres); a.Rows != 6 || a.Cols != 6 || a.Tokens() != 25+15*15+15 {
		t.Fatalf("420×420: %+v, %d tokens", a, a.Tokens())
	}
	prev := 1 << 30
	for _, max := range []int{1000, 265, 264, 150, 100, 55} {
		px, err := spec.PreprocessImageWith(img, models.ImageOptions{MaxImageTokens: max})
		if err != nil {
			t.Fatalf("max %d: %v", max, err)
		}
		a := px.Layout.(llavaonevision.Anyres)
		if a.Tokens() > max || a.Tokens() > prev || px.Images != 1+a.Crops() {
			t.Errorf("max %d: %d tokens (%d×%d crops)", max, a.Tokens(), a.Rows, a.Cols)
		}
		prev = a.Tokens()
		t.Logf("max %4d: %d×%d crops, %d tokens", max, a.Rows, a.Cols, a.Tokens())
	}
	if _, err := spec.PreprocessImageWith(img, models.ImageOptions{MaxImageTokens: 54}); err == nil ||
		!strings.Contains(err.Error(), "at least 55 image tokens") {
		t.Errorf("max 54: %v", err)
	}
	// an unsplit image with no count of the prompt's images is not a
	// Python layout (several images: several_test.go)
	if _, err := spec.PreprocessImageWith(img, models.ImageOptions{NoSplit: true}); err == nil ||
		!strings.Contains(err.Error(), "how many images share the prompt") {
		t.Errorf("NoSplit alone: %v", err)
	}
}

// Through the pipeline: the prompt holds the packed count of image tokens,
// of which the newline rows are fixed rows (not visual tokens: pruning
// never sees them), and generation runs. Counts at the twin's sizes (70 px crops, 5×5
// tokens), cross-checked locally against transformers'
// _get_number_of_features: 140×70 → 80 (above); 70×70 → the 70×70
// pinpoint, 25 + 5·5 + 5 = 55; 70×105 (w×h) → the 140×70 (h×w) pinpoint, a
// 10×5 map, taller than the image (70/105 > 5/10): new_h = int(round(105 ·
// 5/70, 7)) = 7, padding 1 row each side, 8×5 + 8 newlines: 25 + 48 = 73.
// Pre-decoder methods prune the packed tokens, newlines left out (keep 1.0
// reproduces the unpruned ids, a budget of 20 keeps 20 of 75) and
// in-decoder ones run; so do the methods that read encoder extras, except
// on a pooled map.
func TestPythonLayoutPipeline(t *testing.T) {
	testenv.ORT(t)
	dir := pythonTwin(t)
	p, err := pipeline.Open(dir, pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, c := range []struct {
		image        string
		tokens, rows int
	}{{"wide140x70", 80, 5}, {"sq70", 55, 5}, {"tall70x105", 73, 8}} {
		res := caption(t, p, diffCase{Name: c.image, Images: []string{c.image}}, pipeline.Request{})
		n := 0
		for _, id := range res.PromptIDs {
			if id == p.Spec.ImageTokenID {
				n++
			}
		}
		if res.Visual.Before != c.tokens-c.rows || n != c.tokens || len(res.GeneratedIDs) == 0 {
			t.Errorf("%s: %d visual tokens, %d image tokens in the prompt, ids %v; want %d and %d", c.image, res.Visual.Before, n, res.GeneratedIDs,
				c.tokens-c.rows, c.tokens)
		}
		t.Logf("%s: %d tokens → %v", c.image, res.Visual.Before, res.GeneratedIDs)
	}
	// Pruning of the packed tokens: keep 1.0 reproduces the unpruned ids,
	// a real budget keeps its count; an in-decoder method runs.
	wide := diffCase{Name: "wide", Images: []string{"wide140x70"}}
	base := caption(t, p, wide, pipeline.Request{})
	for _, c := range []struct {
		method, keep string
		after        int
	}{{"divprune", "1.0", 75}, {"random", "1.0", 75}, {"divprune", "20", 20}, {"fastv:k=1,r=0", "", 75}} {
		req := pipeline.Request{}
		if err := (pipeline.PruneSpec{Method: c.method, Keep: c.keep}).Apply(&req); err != nil {
			t.Fatal(err)
		}
		res := caption(t, p, wide, req)
		if res.Visual.Before != 75 || (c.keep != "" && res.Visual.AfterPre != c.after) || len(res.GeneratedIDs) == 0 {
			t.Errorf("%s keep %s: %d → %d visual tokens, ids %v", c.method, c.keep, res.Visual.Before, res.Visual.AfterPre, res.GeneratedIDs)
		}
		if c.after == 75 && !slices.Equal(res.GeneratedIDs, base.GeneratedIDs) {
			t.Errorf("%s keep %s: ids %v, unpruned %v", c.method, c.keep, res.GeneratedIDs, base.GeneratedIDs)
		}
	}
	// The encoder-extras methods on the packed tokens (each token's own
	// crop row's extras): keep 1.0 reproduces the unpruned ids, keep 20
	// keeps 20 of 75; mustdrop-merge and fopru's row strategy need one
	// token grid to prune, which the packed tokens do not form; a pooled map
	// (440×410: 28×30 → 14×15) refuses the extras methods.
	for _, m := range []string{"fastervlm", "fopru", "visionzip", "flowcut", "adaptive:mass=1", "fopru:strategy=row", "mustdrop-merge"} {
		for _, keep := range []string{"1.0", "20"} {
			req := pipeline.Request{}
			if err := (pipeline.PruneSpec{Method: m, Keep: keep}).Apply(&req); err != nil {
				t.Fatal(err)
			}
			res, err := captionErr(t, p, wide, req)
			if (m == "fopru:strategy=row" || m == "mustdrop-merge") && keep != "1.0" {
				if err == nil {
					t.Errorf("%s on packed tokens: %d kept", m, res.Visual.AfterPre)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s keep %s: %v", m, keep, err)
			}
			if keep == "1.0" && (res.Visual.AfterPre != 75 || !slices.Equal(res.GeneratedIDs, base.GeneratedIDs)) {
				t.Errorf("%s keep 1.0: %d kept, ids %v, unpruned %v", m, res.Visual.AfterPre, res.GeneratedIDs, base.GeneratedIDs)
			}
			if keep == "20" && (m != "adaptive:mass=1" && res.Visual.AfterPre != 20 || res.Visual.AfterPre > 20) {
				t.Errorf("%s keep 20: %d kept", m, res.Visual.AfterPre)
			}
		}
	}
	req := pipeline.Request{}
	if err := (pipeline.PruneSpec{Method: "fastervlm", Keep: "0.5"}).Apply(&req); err != nil {
		t.Fatal(err)
	}
	if _, err := captionErr(t, p, diffCase{Name: "grad", Images: []string{"grad440x410"}}, req); err == nil ||
		!strings.Contains(err.Error(), "anyres_max_9") {
		t.Errorf("fastervlm on a pooled map: %v", err)
	}
}

func openFrames(t *testing.T, names ...string) []pipeline.Frame {
	var fs []pipeline.Frame
	for _, n := range names {
		path := testdata(t, "images", n+".png")
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		fs = append(fs, pipeline.Frame{Name: path, R: f})
	}
	return fs
}

// The packed visual tokens equal an independent computation from the
// Python rules (scripts/twins/onevision_anyres_ref.py: Pillow crops, the
// twin's torch vision module, numpy/torch packing with torch's bilinear
// interpolate, image_newline from model.safetensors): a tall image
// (unpadded columns), a 100×80 one on a 2×2 grid (unpadded rows) and a
// 440×410 gradient on the 6×6 grid (unpadded and pooled to 14×15).
// (Locally the crops' pixel values were also checked bit-identical to
// these steps run with Pillow 9.4.)
func TestPythonLayoutEqualsReference(t *testing.T) {
	testenv.ORT(t)
	raw, err := os.ReadFile(testdata(t, "anyres-features.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string]struct {
		Crops  [2]int `json:"crops"`
		Tokens int    `json:"tokens"`
		Dim    int    `json:"dim"`
		F32LE  string `json:"features_f32le"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	spec, err := models.Load(pythonTwin(t))
	if err != nil {
		t.Fatal(err)
	}
	v, err := encoder.OpenVision(encoder.VisionGraph{Path: spec.Files.Vision, Width: 70, Height: 70, Features: "image_features"},
		ortx.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Destroy()
	if len(ref) != 3 {
		t.Fatalf("%d reference images", len(ref))
	}
	for name, r := range ref {
		b, err := base64.StdEncoding.DecodeString(r.F32LE)
		if err != nil || len(b) != 4*r.Tokens*r.Dim {
			t.Fatalf("%s: %d bytes, %v", name, len(b), err)
		}
		want := make([]float32, r.Tokens*r.Dim)
		for i := range want {
			want[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		px, err := spec.PreprocessImage(decode(t, name))
		if err != nil {
			t.Fatal(err)
		}
		a := px.Layout.(llavaonevision.Anyres)
		raw, err := v.EncodeChunks(px.Data, px.Images, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := spec.PackVisual(px, raw)
		if err != nil {
			t.Fatal(err)
		}
		pr, err := spec.BuildImagePrompt("", px, got.Features.Rows)
		if err != nil {
			t.Fatal(err)
		}
		if a.Rows != r.Crops[0] || a.Cols != r.Crops[1] || a.Tokens() != r.Tokens || got.Features.Cols != r.Dim ||
			got.Features.Rows != r.Tokens-a.OutH || len(pr.ImagePos) != got.Features.Rows || len(pr.Fixed) != a.OutH {
			t.Fatalf("%s: %d×%d crops, %d×%d visual tokens, prompt %d visual + %d fixed; reference %v, %d×%d",
				name, a.Rows, a.Cols, got.Features.Rows, got.Features.Cols, len(pr.ImagePos), len(pr.Fixed), r.Crops, r.Tokens, r.Dim)
		}
		// The prompt's image slots in order, visual rows from the packed
		// features and newline rows from the fixed rows, against the
		// reference's rows.
		first := min(pr.ImagePos[0], pr.Fixed[0].Pos)
		vis, fixed := 0, 0
		d := 0.0
		for k := 0; k < r.Tokens; k++ {
			var row []float32
			switch {
			case vis < len(pr.ImagePos) && pr.ImagePos[vis] == first+k:
				row = got.Features.Data[vis*r.Dim : (vis+1)*r.Dim]
				vis++
			case fixed < len(pr.Fixed) && pr.Fixed[fixed].Pos == first+k:
				row = pr.Fixed[fixed].Embed
				fixed++
			default:
				t.Fatalf("%s: image slot %d is neither a visual nor a fixed row", name, k)
			}
			for c, w := range want[k*r.Dim : (k+1)*r.Dim] {
				d = math.Max(d, math.Abs(float64(row[c]-w))/math.Max(1, math.Abs(float64(w))))
			}
		}
		t.Logf("%s: %d×%d crops, %d tokens (pooled %v), max difference %.2g", name, a.Rows, a.Cols, r.Tokens, a.Pooled(), d)
		if d > 1e-4 {
			t.Errorf("%s: packed tokens differ from the reference by %g", name, d)
		}
	}
}
