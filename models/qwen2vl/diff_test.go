package qwen2vl_test

import (
	"context"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/internal/tjsref"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/models/qwen2vl"
	"github.com/vlmrun/vlmrun/pipeline"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from a live transformers.js run")

const (
	twin   = "qwen2vl-twin"
	twin25 = "qwen2_5vl-twin" // the same weights in Qwen2.5-VL's layout
)

func (c diffCase) twin() string {
	if c.Twin == "" {
		return twin
	}
	return c.Twin
}

// diffCase is one differential-test case. Prompt is the user text given to
// both (transformers.js renders it with the folder's chat template, as one
// user message holding the image then the text; "" is vlmrun's default,
// qwen2vl.DefaultPrompt). Every case is exact: pixel_values bit-identical,
// input_ids, grid, position ids and generated ids equal, whether the sides
// are multiples of 28 with an area within [min_pixels, max_pixels], so
// smart_resize leaves them as they are, or the image is resized (the
// sharp- cases: sharp's bicubic affine in transformers.js,
// encoder.ResizerSharp here).
type diffCase struct {
	Name      string `json:"name"`
	Twin      string `json:"-"` // "" = twin (Qwen2-VL); twin25 for Qwen2.5-VL
	Image     string `json:"-"`
	Prompt    string `json:"prompt"`
	DType     string `json:"dtype,omitempty"`
	MaxNew    int    `json:"max_new_tokens"`
	Model     string `json:"model"`
	ImagePath string `json:"image"`
}

var diffCases = []diffCase{
	{Name: "square", Image: "sq56"},
	{Name: "square-84", Image: "sq84", Prompt: "What is in the picture?"},
	{Name: "wide", Image: "wide112x56"},
	{Name: "tall", Image: "tall56x84", Prompt: "Describe the image in one sentence."},
	{Name: "wide-112x84", Image: "wide112x84", Prompt: "Locate the objects in the image."},
	{Name: "q4-wide", Image: "wide112x56", DType: "fp32,decoder_model_merged=q4"},
	{Name: "sharp-tiny-upscale", Image: "tiny20x14"},
	{Name: "sharp-round-70", Image: "round70x56"},
	{Name: "sharp-downscale", Image: "big200x150"},
	{Name: "qwen2.5-square", Twin: twin25, Image: "sq56"},
	{Name: "qwen2.5-wide-112x84", Twin: twin25, Image: "wide112x84", Prompt: "Locate the objects in the image."},
	{Name: "qwen2.5-q4-tall", Twin: twin25, Image: "tall56x84", DType: "fp32,decoder_model_merged=q4"},
}

// refResult is what transformers.js produced for one case.
type refResult struct {
	InputIDs     []int `json:"input_ids"`
	GeneratedIDs []int `json:"generated_ids"`
	PixelShape   []int `json:"pixel_shape"`
	tjsref.PixelRecord
	Grid        []int   `json:"image_grid_thw"`
	PositionIDs []int64 `json:"position_ids"`
	RopeDelta   []int64 `json:"rope_delta"`
}

func testdata(t testing.TB, parts ...string) string {
	return filepath.Join(append([]string{testenv.Repo(t), "models", "qwen2vl", "testdata"}, parts...)...)
}

// reference runs transformers.js on every case, or returns nil when it is
// not installed (scripts/setup-transformersjs.sh). VLMRUN_REQUIRE_TJS=1
// makes a missing installation a failure.
func reference(t *testing.T, cases []diffCase) map[string]refResult {
	t.Helper()
	if !tjsref.Available(t, *update) {
		return nil
	}
	for i := range cases {
		cases[i].Model = testdata(t, cases[i].twin())
		cases[i].ImagePath = testdata(t, "images", cases[i].Image+".png")
		if cases[i].Prompt == "" {
			cases[i].Prompt = qwen2vl.DefaultPrompt
		}
		cases[i].MaxNew = 12
	}
	var names []string
	for _, c := range cases {
		names = append(names, c.Name)
	}
	return tjsref.Records[refResult](t, cases, names)
}

func openTwin(t *testing.T, dtype, cache string) *pipeline.Pipeline {
	t.Helper()
	return openFolder(t, twin, dtype, cache)
}

func openFolder(t *testing.T, twin, dtype, cache string) *pipeline.Pipeline {
	t.Helper()
	dt, err := models.ParseDTypes(dtype)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.Open(testdata(t, twin), pipeline.Options{ORT: ortx.Options{Threads: 1}, DTypes: dt, CacheDir: cache})
	if err != nil {
		t.Fatalf("open %s (%s): %v", twin, dtype, err)
	}
	t.Cleanup(p.Close)
	return p
}

// pixels preprocesses the case's image as the pipeline does.
func pixels(t *testing.T, p *pipeline.Pipeline, c diffCase) models.Pixels {
	t.Helper()
	imgPath := testdata(t, "images", c.Image+".png")
	f, err := os.Open(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := encoder.DecodeImage(imgPath, f, encoder.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	px, err := p.Spec.PreprocessImage(img)
	if err != nil {
		t.Fatalf("%s: preprocess: %v", c.Name, err)
	}
	return px
}

// caption runs the case through the pipeline with req (12 new tokens).
func caption(t *testing.T, p *pipeline.Pipeline, c diffCase, req pipeline.Request) *pipeline.Result {
	t.Helper()
	imgPath := testdata(t, "images", c.Image+".png")
	f, err := os.Open(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	req.Prompt = c.Prompt
	req.MaxNewTokens = 12
	res, err := p.Caption(context.Background(), imgPath, f, req, nil)
	if err != nil {
		t.Fatalf("%s: caption: %v", c.Name, err)
	}
	return res
}

func loadGolden(t *testing.T) map[string]refResult {
	t.Helper()
	return tjsref.LoadGolden[refResult](t, testdata(t, "golden.json"))
}

// TestDifferentialTransformersJS compares vlmrun with transformers.js 4.3.1
// on the Qwen2-VL twin (and the same weights as a Qwen2.5-VL folder): identical input_ids, image_grid_thw, M-RoPE position
// ids (get_rope_index, and the decode position max + 1 = L + rope_delta) and
// generated ids, and bit-identical pixel_values where smart_resize keeps the
// size; KV-cached generation also equals cache-free recomputation.
func TestDifferentialTransformersJS(t *testing.T) {
	testenv.ORT(t)
	cases := slices.Clone(diffCases)
	ref := reference(t, cases)
	var golden map[string]refResult
	if ref == nil {
		golden = loadGolden(t)
	}
	pipes := map[string]*pipeline.Pipeline{}
	for _, c := range cases {
		key := c.twin() + "|" + c.DType
		if pipes[key] == nil {
			pipes[key] = openFolder(t, c.twin(), c.DType, "")
		}
		t.Run(c.Name, func(t *testing.T) {
			p := pipes[key]
			res := caption(t, p, c, pipeline.Request{})
			px := pixels(t, p, c)
			r, live := ref[c.Name]
			if !live {
				var ok bool
				if r, ok = golden[c.Name]; !ok {
					t.Fatalf("no golden result for %s (run with -update and transformers.js installed)", c.Name)
				}
			}
			if !slices.Equal(res.PromptIDs, r.InputIDs) {
				t.Errorf("input_ids differ:\n vlmrun %v\n tjs    %v", res.PromptIDs, r.InputIDs)
			}
			g := px.Grids[0]
			if !slices.Equal(g[:], r.Grid) {
				t.Errorf("image_grid_thw: vlmrun %v, tjs %v", g, r.Grid)
			}
			n := g[0] * g[1] * g[2]
			if want := []int{n, px.PatchDim}; !slices.Equal(r.PixelShape, want) || len(px.Data) != n*px.PatchDim {
				t.Errorf("pixel_values shape: tjs %v, vlmrun %v (%d values)", r.PixelShape, want, len(px.Data))
			}
			pos, dims, next, err := p.Spec.Positions(models.Prompt{IDs: res.PromptIDs}, px)
			if err != nil || dims != 3 {
				t.Fatalf("positions: %v (%d rows)", err, dims)
			}
			if !slices.Equal(pos, r.PositionIDs) {
				t.Errorf("position ids differ:\n vlmrun %v\n tjs    %v", pos, r.PositionIDs)
			}
			if len(r.RopeDelta) != 1 || next != int64(len(res.PromptIDs))+r.RopeDelta[0] {
				t.Errorf("next position %d, tjs L + rope_delta = %d + %v", next, len(res.PromptIDs), r.RopeDelta)
			}
			if live && len(r.Pixels) == len(px.Data) {
				maxDiff, meanDiff := 0.0, 0.0
				for i := range px.Data {
					d := math.Abs(float64(px.Data[i] - r.Pixels[i]))
					maxDiff, meanDiff = math.Max(maxDiff, d), meanDiff+d/float64(len(px.Data))
				}
				t.Logf("pixel_values |vlmrun - tjs|: max %.3g, mean %.3g", maxDiff, meanDiff)
			}
			if tjsref.Digest(px.Data) != r.PixelSHA256 {
				t.Errorf("pixel_values digest %s, tjs %s (sum %v, tjs %v)", tjsref.Digest(px.Data), r.PixelSHA256, tjsref.Sum(px.Data), r.PixelSum)
			}
			if !slices.Equal(res.GeneratedIDs, r.GeneratedIDs) {
				t.Errorf("generated ids differ:\n vlmrun %v\n tjs    %v", res.GeneratedIDs, r.GeneratedIDs)
			}
			rc := caption(t, p, c, pipeline.Request{Recompute: true})
			if !slices.Equal(rc.GeneratedIDs, res.GeneratedIDs) {
				t.Errorf("cache-free recomputation %v, cached %v", rc.GeneratedIDs, res.GeneratedIDs)
			}
		})
	}
	if *update && ref != nil {
		var names []string
		for _, c := range cases {
			names = append(names, c.Name)
		}
		tjsref.WriteGolden(t, testdata(t, "golden.json"), names, ref)
	}
}
