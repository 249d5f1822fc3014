package smolvlm_test

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
	"github.com/vlmrun/vlmrun/models/smolvlm"
	"github.com/vlmrun/vlmrun/pipeline"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from a live transformers.js run")

// diffCase is one differential-test case: a twin folder, an image, a prompt
// and a dtype. Every case must give bit-identical pixel_values and equal
// input_ids and generated ids, whether the image's longest edge already
// equals size.longest_edge (no pixel-space resize) or it is resized first
// (the sharp- cases: sharp's lanczos3 in transformers.js,
// encoder.ResizerSharp here).
type diffCase struct {
	Name   string `json:"name"`
	Twin   string `json:"-"`
	Image  string `json:"-"`
	Prompt string `json:"prompt"`
	DType  string `json:"dtype,omitempty"`
	MaxNew int    `json:"max_new_tokens"`
	// set for the reference runner
	Model     string `json:"model"`
	ImagePath string `json:"image"`
}

var diffCases = []diffCase{
	{Name: "split-square-2x2", Twin: "smolvlm-twin", Image: "sq64", Prompt: smolvlm.DefaultPrompt},
	{Name: "split-landscape-2x2", Twin: "smolvlm-twin", Image: "land64x48", Prompt: smolvlm.DefaultPrompt},
	{Name: "split-portrait-2x2", Twin: "smolvlm-twin", Image: "port48x64", Prompt: "What is in the picture?"},
	{Name: "split-wide-1x2", Twin: "smolvlm-twin", Image: "wide64x24", Prompt: "Describe the image in one sentence."},
	{Name: "split-landscape-fp16", Twin: "smolvlm-twin", Image: "land64x48", Prompt: smolvlm.DefaultPrompt, DType: "fp16"},
	{Name: "split-portrait-fp16", Twin: "smolvlm-twin", Image: "port48x64", Prompt: "Locate the objects in the image.", DType: "fp16"},
	{Name: "sharp-upscale", Twin: "smolvlm-twin", Image: "small32x20", Prompt: smolvlm.DefaultPrompt},
	{Name: "sharp-downscale", Twin: "smolvlm-twin", Image: "big100x80", Prompt: smolvlm.DefaultPrompt},
	{Name: "legacy-nosplit-square", Twin: "smolvlm-twin-legacy", Image: "sq32", Prompt: smolvlm.DefaultPrompt},
	{Name: "legacy-nosplit-landscape", Twin: "smolvlm-twin-legacy", Image: "land32x24", Prompt: "What is in the picture?"},
	{Name: "legacy-nosplit-portrait", Twin: "smolvlm-twin-legacy", Image: "port24x32", Prompt: "There is a green triangle at the top left."},
	// Decoders exported by torch.onnx.export from a Llama module tree named
	// like transformers' (scripts/twins/smolvlm_torch.py); the non-fp32
	// variants exist for the decoder only, hence the per-file dtypes.
	{Name: "torch-split-square", Twin: "smolvlm-twin-torch", Image: "sq64", Prompt: smolvlm.DefaultPrompt},
	{Name: "torch-split-landscape", Twin: "smolvlm-twin-torch", Image: "land64x48", Prompt: smolvlm.DefaultPrompt},
	{Name: "torch-split-portrait", Twin: "smolvlm-twin-torch", Image: "port48x64", Prompt: "What is in the picture?"},
	{Name: "torch-fp16-landscape", Twin: "smolvlm-twin-torch", Image: "land64x48", Prompt: smolvlm.DefaultPrompt, DType: "fp32,decoder_model_merged=fp16"},
	{Name: "torch-fp16-wide", Twin: "smolvlm-twin-torch", Image: "wide64x24", Prompt: "Describe the image in one sentence.", DType: "fp32,decoder_model_merged=fp16"},
	{Name: "torch-q8-landscape", Twin: "smolvlm-twin-torch", Image: "land64x48", Prompt: smolvlm.DefaultPrompt, DType: "fp32,decoder_model_merged=q8"},
	{Name: "torch-q8-portrait", Twin: "smolvlm-twin-torch", Image: "port48x64", Prompt: "Locate the objects in the image.", DType: "fp32,decoder_model_merged=q8"},
	{Name: "torch-q4-landscape", Twin: "smolvlm-twin-torch", Image: "land64x48", Prompt: smolvlm.DefaultPrompt, DType: "fp32,decoder_model_merged=q4"},
	{Name: "torch-q4-square", Twin: "smolvlm-twin-torch", Image: "sq64", Prompt: "What is in the picture?", DType: "fp32,decoder_model_merged=q4"},
	{Name: "torch-legacy-square", Twin: "smolvlm-twin-torch-legacy", Image: "sq32", Prompt: smolvlm.DefaultPrompt},
	{Name: "torch-legacy-landscape", Twin: "smolvlm-twin-torch-legacy", Image: "land32x24", Prompt: "What is in the picture?"},
	{Name: "torch-legacy-portrait", Twin: "smolvlm-twin-torch-legacy", Image: "port24x32", Prompt: "There is a green triangle at the top left."},
}

// refResult is what transformers.js produced for one case.
type refResult struct {
	InputIDs     []int `json:"input_ids"`
	GeneratedIDs []int `json:"generated_ids"`
	PixelShape   []int `json:"pixel_shape"`
	tjsref.PixelRecord
}

func testdata(t testing.TB, parts ...string) string {
	return filepath.Join(append([]string{testenv.Repo(t), "models", "smolvlm", "testdata"}, parts...)...)
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
		cases[i].Model = testdata(t, cases[i].Twin)
		cases[i].ImagePath = testdata(t, "images", cases[i].Image+".png")
		cases[i].MaxNew = 12
	}
	var names []string
	for _, c := range cases {
		names = append(names, c.Name)
	}
	return tjsref.Records[refResult](t, cases, names)
}

// goResult runs vlmrun on one case.
type goResult struct {
	prompt, generated []int
	pixels            []float32
	images            int
}

func runGo(t *testing.T, c diffCase, recompute bool) goResult {
	t.Helper()
	dt, err := models.ParseDTypes(c.DType)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.Open(testdata(t, c.Twin), pipeline.Options{ORT: ortx.Options{Threads: 1}, DTypes: dt})
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	defer p.Close()
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
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	prompt := c.Prompt
	if prompt == smolvlm.DefaultPrompt {
		prompt = "" // the family's default
	}
	res, err := p.Caption(context.Background(), imgPath, f, pipeline.Request{Prompt: prompt, MaxNewTokens: 12,
		Recompute: recompute}, nil)
	if err != nil {
		t.Fatalf("%s: caption: %v", c.Name, err)
	}
	return goResult{prompt: res.PromptIDs, generated: res.GeneratedIDs, pixels: px.Data, images: px.Images}
}

// TestDifferentialTransformersJS compares vlmrun with transformers.js 4.3.1
// on the twin folders: identical input_ids and generated ids, and
// bit-identical pixel_values, resized or not.
func TestDifferentialTransformersJS(t *testing.T) {
	testenv.ORT(t)
	cases := slices.Clone(diffCases)
	ref := reference(t, cases)
	goldenPath := testdata(t, "golden.json")
	golden := map[string]refResult{}
	if ref == nil {
		golden = tjsref.LoadGolden[refResult](t, goldenPath)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			g := runGo(t, c, false)
			r, live := ref[c.Name]
			if !live {
				var ok bool
				if r, ok = golden[c.Name]; !ok {
					t.Fatalf("no golden result for %s (run with -update and transformers.js installed)", c.Name)
				}
			}
			if !slices.Equal(g.prompt, r.InputIDs) {
				t.Errorf("input_ids differ:\n vlmrun %v\n tjs    %v", g.prompt, r.InputIDs)
			}
			wantShape := []int{1, g.images, 3, 0, 0}
			if len(r.PixelShape) == 5 {
				wantShape[3], wantShape[4] = r.PixelShape[3], r.PixelShape[4]
			}
			if !slices.Equal(r.PixelShape, wantShape) || len(g.pixels) != g.images*3*wantShape[3]*wantShape[4] {
				t.Errorf("pixel_values shape: tjs %v, vlmrun %d images (%d values)", r.PixelShape, g.images, len(g.pixels))
			}
			if live && len(r.Pixels) == len(g.pixels) {
				maxDiff := 0.0
				for i := range g.pixels {
					maxDiff = math.Max(maxDiff, math.Abs(float64(g.pixels[i]-r.Pixels[i])))
				}
				t.Logf("pixel_values max |vlmrun - tjs| = %.3g", maxDiff)
			}
			if tjsref.Digest(g.pixels) != r.PixelSHA256 {
				t.Errorf("pixel_values digest %s, tjs %s (sum %v, tjs %v)", tjsref.Digest(g.pixels), r.PixelSHA256,
					tjsref.Sum(g.pixels), r.PixelSum)
			}
			if !slices.Equal(g.generated, r.GeneratedIDs) {
				t.Errorf("generated ids differ:\n vlmrun %v\n tjs    %v", g.generated, r.GeneratedIDs)
			}
		})
	}
	if *update && ref != nil {
		var names []string
		for _, c := range cases {
			names = append(names, c.Name)
		}
		tjsref.WriteGolden(t, goldenPath, names, ref)
	}
}
