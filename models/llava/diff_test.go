package llava_test

import (
	"context"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/internal/tjsref"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/models/llava"
	"github.com/vlmrun/vlmrun/pipeline"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from a live transformers.js run")

const twin = "llava-twin"

// diffCase is one differential-test case. Prompt is what vlmrun is given
// ("" = the family default); Text is the prompt string handed to
// transformers.js's LlavaProcessor (processor(images, text)). Every case
// is exact: pixel_values must be bit-identical and the generated ids equal,
// whether the image needs no pixel-space resize (shortest edge already 56;
// the center crop is exact in both) or goes through the bicubic resize
// (sharp in transformers.js, encoder.ResizerSharp here: the sharp- cases).
type diffCase struct {
	Name        string `json:"name"`
	Image       string `json:"-"`
	Prompt      string `json:"-"`
	Text        string `json:"text"`
	ImagesFirst bool   `json:"images_first"`
	DType       string `json:"dtype,omitempty"`
	MaxNew      int    `json:"max_new_tokens"`
	Model       string `json:"model"`
	ImagePath   string `json:"image"`
}

var diffCases = []diffCase{
	{Name: "square", Image: "sq56"},
	{Name: "square-b", Image: "sq56b", Prompt: "What is in the picture?"},
	{Name: "wide-crop", Image: "wide112x56"},
	{Name: "tall-crop", Image: "tall56x84", Prompt: "Describe the image in one sentence."},
	{Name: "wide-odd-crop", Image: "wide75x56"},
	{Name: "raw-prompt", Image: "sq56", Prompt: "USER: What is in the picture?\n<image> ASSISTANT:"},
	{Name: "fp16-wide", Image: "wide112x56", DType: "fp32,decoder_model_merged=fp16"},
	{Name: "q4-tall", Image: "tall56x84", Prompt: "Locate the objects in the image.", DType: "fp32,decoder_model_merged=q4"},
	{Name: "sharp-tiny-upscale", Image: "tiny20x14"},
	{Name: "sharp-downscale", Image: "big100x80"},
}

// refResult is what transformers.js produced for one case.
type refResult struct {
	InputIDs     []int `json:"input_ids"`
	GeneratedIDs []int `json:"generated_ids"`
	PixelShape   []int `json:"pixel_shape"`
	tjsref.PixelRecord
}

func testdata(t testing.TB, parts ...string) string {
	return filepath.Join(append([]string{testenv.Repo(t), "models", "llava", "testdata"}, parts...)...)
}

// refText is the prompt string transformers.js gets for c.
func refText(c diffCase) string {
	switch {
	case strings.Contains(c.Prompt, "<image>"):
		return c.Prompt
	case c.Prompt == "":
		return llava.Chat("<image>", llava.DefaultPrompt)
	}
	return llava.Chat("<image>", c.Prompt)
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
		cases[i].Model = testdata(t, twin)
		cases[i].ImagePath = testdata(t, "images", cases[i].Image+".png")
		cases[i].Text = refText(cases[i])
		cases[i].ImagesFirst = true // LlavaProcessor is called as processor(images, text)
		cases[i].MaxNew = 12
	}
	var names []string
	for _, c := range cases {
		names = append(names, c.Name)
	}
	return tjsref.Records[refResult](t, cases, names)
}

func openTwin(t *testing.T, dtype, cache string, resizer string) *pipeline.Pipeline {
	t.Helper()
	dt, err := models.ParseDTypes(dtype)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.Open(testdata(t, twin), pipeline.Options{ORT: ortx.Options{Threads: 1}, DTypes: dt,
		CacheDir: cache, Resizer: resizer})
	if err != nil {
		t.Fatalf("open %s (%s): %v", twin, dtype, err)
	}
	t.Cleanup(p.Close)
	return p
}

// pixels preprocesses the case's image as the pipeline does.
func pixels(t *testing.T, p *pipeline.Pipeline, c diffCase) []float32 {
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
	return px.Data
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
// on the LLaVA twin: identical input_ids and generated ids, and
// bit-identical pixel_values, resized or not; KV-cached generation also
// equals cache-free recomputation.
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
		if pipes[c.DType] == nil {
			pipes[c.DType] = openTwin(t, c.DType, "", "")
		}
		t.Run(c.Name, func(t *testing.T) {
			p := pipes[c.DType]
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
			want := []int{1, 3, p.Spec.Preprocess.Height, p.Spec.Preprocess.Width}
			if !slices.Equal(r.PixelShape, want) || len(px) != 3*want[2]*want[3] {
				t.Errorf("pixel_values shape: tjs %v, vlmrun %v (%d values)", r.PixelShape, want, len(px))
			}
			if live && len(r.Pixels) == len(px) {
				maxDiff, meanDiff := 0.0, 0.0
				for i := range px {
					d := math.Abs(float64(px[i] - r.Pixels[i]))
					maxDiff, meanDiff = math.Max(maxDiff, d), meanDiff+d/float64(len(px))
				}
				t.Logf("pixel_values |vlmrun - tjs|: max %.3g, mean %.3g", maxDiff, meanDiff)
			}
			if tjsref.Digest(px) != r.PixelSHA256 {
				t.Errorf("pixel_values digest %s, tjs %s (sum %v, tjs %v)", tjsref.Digest(px), r.PixelSHA256, tjsref.Sum(px), r.PixelSum)
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
