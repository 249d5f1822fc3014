package llavaonevision_test

import (
	"context"
	"flag"
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
	"github.com/vlmrun/vlmrun/internal/tjsref"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/models/llavaonevision"
	"github.com/vlmrun/vlmrun/pipeline"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from a live transformers.js run")

const twin = "llava-onevision-twin"

// diffCase is one differential-test case. Prompt is what vlmrun is given
// ("" = the family default); transformers.js gets the same user text
// through its tokenizer's chat template (run.js's expand_token path: one
// user message with the images then the text), or Prompt as given when it
// holds <image>. Every case must give bit-identical pixel_values and equal
// generated ids, for 70×70 images, which neither side resizes, and for the
// others, resized by sharp's bicubic affine in transformers.js and by
// encoder.ResizerSharp here.
type diffCase struct {
	Name        string   `json:"name"`
	Images      []string `json:"-"`
	Prompt      string   `json:"prompt,omitempty"`
	Text        string   `json:"text,omitempty"`
	DType       string   `json:"dtype,omitempty"`
	ExpandToken string   `json:"expand_token"`
	MaxNew      int      `json:"max_new_tokens"`
	Model       string   `json:"model"`
	ImagePaths  []string `json:"images"`
}

var diffCases = []diffCase{
	{Name: "square", Images: []string{"sq70"}},
	{Name: "square-b", Images: []string{"sq70b"}, Prompt: "What is in the picture?"},
	{Name: "raw-prompt", Images: []string{"sq70"},
		Prompt: "<|im_start|>user <image>\nWhat is in the picture?<|im_end|><|im_start|>assistant\n"},
	{Name: "two-images", Images: []string{"sq70", "sq70b"}, Prompt: "What differs between the pictures?"},
	{Name: "two-images-raw", Images: []string{"sq70b", "sq70"},
		Prompt: "<|im_start|>user First <image>, then <image>.\nCompare them.<|im_end|><|im_start|>assistant\n"},
	{Name: "fp16-square", Images: []string{"sq70"}, DType: "fp32,decoder_model_merged=fp16"},
	{Name: "q4-square-b", Images: []string{"sq70b"}, Prompt: "Locate the objects in the image.", DType: "fp32,decoder_model_merged=q4"},
	{Name: "wide", Images: []string{"wide140x70"}},
	{Name: "tall", Images: []string{"tall70x105"}, Prompt: "Describe the image in one sentence."},
	{Name: "tiny-upscale", Images: []string{"tiny20x14"}},
	{Name: "downscale", Images: []string{"big100x80"}},
	{Name: "two-images-resized", Images: []string{"wide140x70", "tall70x105"}, Prompt: "What differs between the pictures?"},
}

// refResult is what transformers.js produced for one case.
type refResult struct {
	InputIDs         []int `json:"input_ids"`
	GeneratedIDs     []int `json:"generated_ids"`
	PixelShape       []int `json:"pixel_shape"`
	FeaturesPerImage int   `json:"features_per_image"`
	tjsref.PixelRecord
}

func testdata(t testing.TB, parts ...string) string {
	return filepath.Join(append([]string{testenv.Repo(t), "models", "llavaonevision", "testdata"}, parts...)...)
}

// reference runs transformers.js on every case, or returns nil when it is
// not installed (scripts/setup-transformersjs.sh).
func reference(t *testing.T, cases []diffCase) map[string]refResult {
	t.Helper()
	if !tjsref.Available(t, *update) {
		return nil
	}
	var names []string
	for i := range cases {
		c := &cases[i]
		c.Model = testdata(t, twin)
		c.ImagePaths = nil
		for _, im := range c.Images {
			c.ImagePaths = append(c.ImagePaths, testdata(t, "images", im+".png"))
		}
		c.ExpandToken = llavaonevision.DefaultImageToken
		c.MaxNew = 12
		switch {
		case strings.Contains(c.Prompt, c.ExpandToken):
			c.Text, c.Prompt = c.Prompt, ""
		case c.Prompt == "":
			c.Prompt = llavaonevision.DefaultPrompt
		}
		names = append(names, c.Name)
	}
	return tjsref.Records[refResult](t, cases, names)
}

func openTwin(t *testing.T, dtype, cache string) *pipeline.Pipeline {
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

func decode(t *testing.T, name string) *image.NRGBA {
	t.Helper()
	path := testdata(t, "images", name+".png")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := encoder.DecodeImage(path, f, encoder.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// pixels preprocesses the case's images as the pipeline does, concatenated.
func pixels(t *testing.T, p *pipeline.Pipeline, c diffCase) []float32 {
	t.Helper()
	var all []float32
	for _, im := range c.Images {
		px, err := p.Spec.PreprocessImage(decode(t, im))
		if err != nil {
			t.Fatalf("%s: preprocess: %v", c.Name, err)
		}
		all = append(all, px.Data...)
	}
	return all
}

// caption runs the case through the pipeline with req (12 new tokens): one
// image through Caption, several through CaptionFrames.
func caption(t *testing.T, p *pipeline.Pipeline, c diffCase, req pipeline.Request) *pipeline.Result {
	t.Helper()
	res, err := captionErr(t, p, c, req)
	if err != nil {
		t.Fatalf("%s: caption: %v", c.Name, err)
	}
	return res
}

func captionErr(t *testing.T, p *pipeline.Pipeline, c diffCase, req pipeline.Request) (*pipeline.Result, error) {
	t.Helper()
	req.Prompt = c.Prompt
	req.MaxNewTokens = 12
	var frames []pipeline.Frame
	for _, im := range c.Images {
		path := testdata(t, "images", im+".png")
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		frames = append(frames, pipeline.Frame{Name: path, R: f})
	}
	return p.CaptionFrames(context.Background(), frames, req, nil)
}

// TestDifferentialTransformersJS compares vlmrun with transformers.js 4.3.1
// on the LLaVA-OneVision twin: identical input_ids, pixel_values shape,
// features per image and generated ids and bit-identical pixel_values,
// resized or not; KV-cached generation also equals cache-free
// recomputation.
func TestDifferentialTransformersJS(t *testing.T) {
	testenv.ORT(t)
	cases := slices.Clone(diffCases)
	ref := reference(t, cases)
	var golden map[string]refResult
	if ref == nil {
		golden = tjsref.LoadGolden[refResult](t, testdata(t, "golden.json"))
	}
	pipes := map[string]*pipeline.Pipeline{}
	for _, c := range diffCases {
		if pipes[c.DType] == nil {
			pipes[c.DType] = openTwin(t, c.DType, "")
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
			n := len(c.Images)
			want := []int{n, 3, p.Spec.Preprocess.Height, p.Spec.Preprocess.Width}
			if !slices.Equal(r.PixelShape, want) || len(px) != n*3*want[2]*want[3] {
				t.Errorf("pixel_values shape: tjs %v, vlmrun %v (%d values)", r.PixelShape, want, len(px))
			}
			if r.FeaturesPerImage != p.Spec.TokensPerImage || res.Visual.Before != n*r.FeaturesPerImage {
				t.Errorf("features: tjs %d per image, vlmrun %d per image and %d in all for %d images",
					r.FeaturesPerImage, p.Spec.TokensPerImage, res.Visual.Before, n)
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
		for _, c := range diffCases {
			names = append(names, c.Name)
		}
		tjsref.WriteGolden(t, testdata(t, "golden.json"), names, ref)
	}
}
