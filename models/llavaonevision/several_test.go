package llavaonevision_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"image"
	"math"
	"os"
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

// Several images in one prompt, Python's layout (the processor's
// batch_num_images > 1, as apply_chat_template groups a conversation's
// images): each image is its base alone. BaseOnly by hand at the real
// sizes: 27² = 729 visual tokens, one newline, 730 slots (Python's
// num_image_tokens + 1), the newline the last slot; packing is the base
// rows then the newline.
func TestBaseOnly(t *testing.T) {
	a := llavaonevision.BaseOnly(27)
	if !a.Several() || a.Crops() != 0 || a.Tokens() != 730 || a.Visual() != 729 || a.Pooled() {
		t.Fatalf("%+v: several %v, %d crops, %d tokens, %d visual, pooled %v", a, a.Several(), a.Crops(), a.Tokens(), a.Visual(), a.Pooled())
	}
	for k := 0; k < a.Tokens(); k++ {
		if a.IsNewline(k) != (k == 729) {
			t.Errorf("slot %d: newline %v", k, a.IsNewline(k))
		}
	}
	b := llavaonevision.BaseOnly(2)
	got, err := b.Pack([]float32{1, 2, 3, 4, 5, 6, 7, 8}, 2, []float32{9, 9})
	if err != nil || !slices.Equal(got, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 9}) {
		t.Errorf("Pack: %v, %v", got, err)
	}
	if got, err := b.Pack(make([]float32, 10), 2, nil); err == nil {
		t.Errorf("Pack of 5 rows for a 2×2 base: %v", got)
	}
}

// The pixels of an image among several, by hand: a 140×70 (w×h) image is
// centred on a 140×140 square of 127 (int(0.5·255), the twin's
// image_mean), 35 rows above and below, then squashed to 70×70 with
// Pillow's bicubic and normalized; a square image is squashed as it is.
// (Locally, the pixels of wide140x70, tall70x105 and sq70 were checked
// bit-identical to pad_to_square + Pillow 9.4's resize + rescale and
// normalize run in Python.) A budget below the 26 slots refuses the image.
func TestSeveralPixels(t *testing.T) {
	spec, err := models.Load(pythonTwin(t))
	if err != nil {
		t.Fatal(err)
	}
	norm := func(v uint8) float32 { return (float32(float64(v)*(1/255.0)) - 0.5) / 0.5 }
	for _, name := range []string{"wide140x70", "tall70x105", "sq70"} {
		img := decode(t, name)
		w, h := img.Rect.Dx(), img.Rect.Dy()
		n := max(w, h)
		sq := image.NewNRGBA(image.Rect(0, 0, n, n))
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				c := [4]uint8{127, 127, 127, 255}
				if sy, sx := y-(n-h)/2, x-(n-w)/2; sy >= 0 && sy < h && sx >= 0 && sx < w {
					copy(c[:], img.Pix[sy*img.Stride+4*sx:])
				}
				copy(sq.Pix[y*sq.Stride+4*x:], c[:])
			}
		}
		base := sq
		if n != 70 {
			if base, err = encoder.ResizeNRGBA(sq, 70, 70, encoder.Resample(3), encoder.ResizerPIL); err != nil {
				t.Fatal(err)
			}
		}
		var want []float32
		for ch := 0; ch < 3; ch++ {
			for y := 0; y < 70; y++ {
				for x := 0; x < 70; x++ {
					want = append(want, norm(base.Pix[y*base.Stride+4*x+ch]))
				}
			}
		}
		px, err := spec.PreprocessImageWith(img, models.ImageOptions{PromptImages: 2})
		if err != nil {
			t.Fatal(err)
		}
		a, ok := px.Layout.(llavaonevision.Anyres)
		if !ok || !a.Several() || px.Images != 1 || a.Tokens() != 26 || !slices.Equal(px.Data, want) {
			t.Errorf("%s: %d inputs, layout %+v (%d tokens), pixels equal %v", name, px.Images, a, a.Tokens(), slices.Equal(px.Data, want))
		}
	}
	img := decode(t, "wide140x70")
	if _, err := spec.PreprocessImageWith(img, models.ImageOptions{PromptImages: 3, MaxImageTokens: 25}); err == nil ||
		!strings.Contains(err.Error(), "26 image tokens") {
		t.Errorf("budget 25: %v", err)
	}
	if _, err := spec.PreprocessImageWith(img, models.ImageOptions{PromptImages: 3, MaxImageTokens: 26}); err != nil {
		t.Errorf("budget 26: %v", err)
	}
}

// The tokens of three images in one prompt (wide, tall, square) equal
// scripts/twins/onevision_anyres_ref.py's independent torch computation
// (testdata/anyres-several.json: padded squares, the twin's torch vision
// module, image_newline after each image's 25 rows), slot by slot: visual
// rows from the packed features, newline rows from the prompt's fixed rows.
func TestSeveralEqualsReference(t *testing.T) {
	testenv.ORT(t)
	raw, err := os.ReadFile(testdata(t, "anyres-several.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Images []string `json:"images"`
		Tokens int      `json:"tokens"`
		Dim    int      `json:"dim"`
		F32LE  string   `json:"features_f32le"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(ref.F32LE)
	if err != nil || len(b) != 4*ref.Tokens*ref.Dim || len(ref.Images) != 3 {
		t.Fatalf("reference: %d bytes for %d×%d, %d images, %v", len(b), ref.Tokens, ref.Dim, len(ref.Images), err)
	}
	want := make([]float32, ref.Tokens*ref.Dim)
	for i := range want {
		want[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
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
	var pxs []models.Pixels
	var nVis []int
	var rows []float32
	for _, name := range ref.Images {
		px, err := spec.PreprocessImageWith(decode(t, name), models.ImageOptions{PromptImages: len(ref.Images)})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := v.EncodeChunks(px.Data, px.Images, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := spec.PackVisual(px, raw)
		if err != nil {
			t.Fatal(err)
		}
		pxs, nVis, rows = append(pxs, px), append(nVis, got.Features.Rows), append(rows, got.Features.Data...)
	}
	pr, err := spec.BuildChat(models.UserTurn("", "Compare.", len(ref.Images)), pxs, nVis)
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.ImagePos) != 75 || len(pr.Fixed) != 3 || ref.Tokens != 78 {
		t.Fatalf("prompt: %d visual + %d fixed slots; reference %d", len(pr.ImagePos), len(pr.Fixed), ref.Tokens)
	}
	first := min(pr.ImagePos[0], pr.Fixed[0].Pos)
	vis, fixed, d := 0, 0, 0.0
	for k := 0; k < ref.Tokens; k++ {
		var row []float32
		switch {
		case vis < len(pr.ImagePos) && pr.ImagePos[vis] == first+k:
			row = rows[vis*ref.Dim : (vis+1)*ref.Dim]
			vis++
		case fixed < len(pr.Fixed) && pr.Fixed[fixed].Pos == first+k:
			if k%26 != 25 {
				t.Fatalf("slot %d is a newline row", k)
			}
			row = pr.Fixed[fixed].Embed
			fixed++
		default:
			t.Fatalf("image slot %d is neither a visual nor a fixed row", k)
		}
		for c, w := range want[k*ref.Dim : (k+1)*ref.Dim] {
			d = math.Max(d, math.Abs(float64(row[c]-w))/math.Max(1, math.Abs(float64(w))))
		}
	}
	t.Logf("3 images, 78 slots: max difference %.2g", d)
	if d > 1e-4 {
		t.Errorf("tokens differ from the reference by %g", d)
	}
}

// Through the pipeline: two images in a conversation (Chat) and in one
// prompt (CaptionFrames: vlmrun video IMAGE IMAGE) give the same prompt
// (2×26 image tokens: 50 visual, 2 fixed newline rows) and ids; a budget
// covers both images (keep 1.0 reproduces the unpruned ids, 20 keeps 20 of
// 50, fastv r=0 keeps all; so do the encoder-extras methods);
// --max-image-tokens 25 is refused, 26 runs.
func TestSeveralPipeline(t *testing.T) {
	testenv.ORT(t)
	p, err := pipeline.Open(pythonTwin(t), pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	names := []string{"wide140x70", "tall70x105"}
	chat := func(req pipeline.Request) (*pipeline.Result, error) {
		req.MaxNewTokens = 12
		return p.Chat(context.Background(), models.UserTurn("", "Compare.", 2), openFrames(t, names...), req, nil)
	}
	base, err := chat(pipeline.Request{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, id := range base.PromptIDs {
		if id == p.Spec.ImageTokenID {
			n++
		}
	}
	if n != 52 || base.Visual.Before != 50 || len(base.GeneratedIDs) == 0 {
		t.Fatalf("%d image tokens, %d visual, ids %v; want 52, 50", n, base.Visual.Before, base.GeneratedIDs)
	}
	t.Logf("two images: %d image tokens, %d visual → %v", n, base.Visual.Before, base.GeneratedIDs)
	frames := caption(t, p, diffCase{Name: "two", Images: names, Prompt: "Compare."}, pipeline.Request{})
	if !slices.Equal(frames.PromptIDs, base.PromptIDs) || !slices.Equal(frames.GeneratedIDs, base.GeneratedIDs) {
		t.Errorf("CaptionFrames: prompt equal %v, ids %v; Chat %v", slices.Equal(frames.PromptIDs, base.PromptIDs),
			frames.GeneratedIDs, base.GeneratedIDs)
	}
	for _, c := range []struct {
		method, keep string
		after        int
	}{{"divprune", "1.0", 50}, {"random", "1.0", 50}, {"divprune", "20", 20}, {"fastv:k=1,r=0", "", 50}} {
		req := pipeline.Request{}
		if err := (pipeline.PruneSpec{Method: c.method, Keep: c.keep}).Apply(&req); err != nil {
			t.Fatal(err)
		}
		res, err := chat(req)
		if err != nil {
			t.Fatalf("%s keep %s: %v", c.method, c.keep, err)
		}
		if res.Visual.Before != 50 || (c.keep != "" && res.Visual.AfterPre != c.after) || len(res.GeneratedIDs) == 0 {
			t.Errorf("%s keep %s: %d → %d visual tokens, ids %v", c.method, c.keep, res.Visual.Before, res.Visual.AfterPre, res.GeneratedIDs)
		}
		if c.after == 50 && !slices.Equal(res.GeneratedIDs, base.GeneratedIDs) {
			t.Errorf("%s keep %s: ids %v, unpruned %v", c.method, c.keep, res.GeneratedIDs, base.GeneratedIDs)
		}
	}
	req := pipeline.Request{Image: models.ImageOptions{MaxImageTokens: 25}}
	if _, err := chat(req); err == nil || !strings.Contains(err.Error(), "26 image tokens") {
		t.Errorf("max 25: %v", err)
	}
	req.Image.MaxImageTokens = 26
	if res, err := chat(req); err != nil || !slices.Equal(res.GeneratedIDs, base.GeneratedIDs) {
		t.Errorf("max 26: %v, %v", res, err)
	}
	// the encoder-extras methods: each base token keeps its own row's
	// extras (keep 1.0 reproduces the unpruned ids; 20 of 50 across both)
	for _, m := range []string{"fastervlm", "visionzip", "flowcut"} {
		for _, keep := range []string{"1.0", "20"} {
			req := pipeline.Request{}
			if err := (pipeline.PruneSpec{Method: m, Keep: keep}).Apply(&req); err != nil {
				t.Fatal(err)
			}
			res, err := chat(req)
			if err != nil {
				t.Fatalf("%s keep %s: %v", m, keep, err)
			}
			if want := map[string]int{"1.0": 50, "20": 20}[keep]; res.Visual.AfterPre != want ||
				(keep == "1.0" && !slices.Equal(res.GeneratedIDs, base.GeneratedIDs)) {
				t.Errorf("%s keep %s: %d kept, ids %v, unpruned %v", m, keep, res.Visual.AfterPre, res.GeneratedIDs, base.GeneratedIDs)
			}
		}
	}
}

// The instrumented vision graph computes its extras for one image (its
// attention and keys average over batch·heads), so the base and crops of
// an anyres image run through it one by one: for a 140×70 image's three
// inputs, the extras of one EncodeChunks call equal those of the three
// inputs encoded alone, in order, and each input's received attention sums
// to 1 (a mean of softmax rows).
func TestInstrumentedCropsOneByOne(t *testing.T) {
	testenv.ORT(t)
	spec, err := models.Load(pythonTwin(t))
	if err != nil {
		t.Fatal(err)
	}
	in, err := models.VisionExtras(spec)
	if err != nil {
		t.Fatal(err)
	}
	x, _, err := encoder.OpenInstrumented(encoder.VisionGraph{Path: spec.Files.Vision, Width: 70, Height: 70, Features: "image_features"},
		in, "", ortx.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Destroy()
	px, err := spec.PreprocessImage(decode(t, "wide140x70"))
	if err != nil || px.Images != 3 {
		t.Fatalf("%d inputs, %v", px.Images, err)
	}
	all, err := x.EncodeChunks(px.Data, px.Images, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all.CLSAttn) != 75 || all.Keys.Rows != 75 || all.PreProj.Rows != 75 || all.Features.Rows != 75 {
		t.Fatalf("%d features, %d attention, %d keys, %d pre-projector rows; want 75", all.Features.Rows, len(all.CLSAttn), all.Keys.Rows, all.PreProj.Rows)
	}
	per := 3 * 70 * 70
	for i := 0; i < 3; i++ {
		one, err := x.EncodeChunks(px.Data[i*per:(i+1)*per], 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		sum := 0.0
		for _, a := range one.CLSAttn {
			sum += float64(a)
		}
		k, p := one.Keys.Cols, one.PreProj.Cols
		if !slices.Equal(one.CLSAttn, all.CLSAttn[25*i:25*(i+1)]) || !slices.Equal(one.Keys.Data, all.Keys.Data[25*i*k:25*(i+1)*k]) ||
			!slices.Equal(one.PreProj.Data, all.PreProj.Data[25*i*p:25*(i+1)*p]) || math.Abs(sum-1) > 1e-5 {
			t.Errorf("input %d: extras differ from its own run (attention sum %v)", i, sum)
		}
	}
}
