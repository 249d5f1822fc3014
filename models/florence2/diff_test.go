package florence2_test

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/vlmrun/vlmrun/pipeline"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from a live transformers.js run")

// diffCase is one Florence-2 differential case. pixel_values must agree
// within 1e-4 and the generated ids exactly, for 32×32 images (the twin's
// size: no resize) and resized ones (sharp-bicubic: sharp's bicubic affine
// in transformers.js, encoder.ResizerSharp here, byte-identical; the
// tolerance, 2.4e-7 in practice, is the normalization's float32 rounding,
// resized or not).
type diffCase struct {
	Name      string `json:"name"`
	Image     string `json:"-"`
	Task      string `json:"task"`
	MaxNew    int    `json:"max_new_tokens"`
	Model     string `json:"model"`
	ImagePath string `json:"image"`
}

var diffCases = []diffCase{
	{Name: "caption", Image: "sq32", Task: "<CAPTION>"},
	{Name: "detailed-caption", Image: "sq32b", Task: "<DETAILED_CAPTION>"},
	{Name: "more-detailed-caption", Image: "sq32c", Task: "<MORE_DETAILED_CAPTION>"},
	{Name: "grounding-with-input", Image: "sq32", Task: "<CAPTION_TO_PHRASE_GROUNDING>a red circle"},
	{Name: "free-text", Image: "sq32b", Task: "What is this?"},
	{Name: "sharp-bicubic", Image: "land64x48", Task: "<CAPTION>"},
}

type refResult struct {
	InputIDs     []int     `json:"input_ids"`
	GeneratedIDs []int     `json:"generated_ids"`
	PixelShape   []int     `json:"pixel_shape"`
	PixelSum     float64   `json:"pixel_sum"`
	Pixels       []float32 `json:"-"`
}

func twin(t testing.TB) string {
	return filepath.Join(testenv.Repo(t), "models", "florence2", "testdata", "florence2-twin")
}

func imagePath(t testing.TB, name string) string {
	return filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata", "images", name+".png")
}

func sum(x []float32) float64 {
	s := 0.0
	for _, v := range x {
		s += float64(v)
	}
	return math.Round(s*1e3) / 1e3
}

// reference runs transformers.js 4.3.1 on the cases (nil when it is not
// installed and VLMRUN_REQUIRE_TJS is unset).
func reference(t *testing.T, cases []diffCase) map[string]refResult {
	t.Helper()
	if !tjsref.Available(t, *update) {
		return nil
	}
	for i := range cases {
		cases[i].Model, cases[i].ImagePath, cases[i].MaxNew = twin(t), imagePath(t, cases[i].Image), 12
	}
	var names []string
	for _, c := range cases {
		names = append(names, c.Name)
	}
	res := map[string]refResult{}
	for name, raw := range tjsref.Run(t, cases, names) {
		var r refResult
		if err := json.Unmarshal(raw.JSON, &r); err != nil {
			t.Fatalf("%s: reference result: %v", name, err)
		}
		r.Pixels = raw.Pixels
		r.PixelSum = sum(r.Pixels)
		res[name] = r
	}
	return res
}

type goResult struct {
	text, generated []int
	pixels          []float32
}

func runGo(t *testing.T, c diffCase, recompute bool) goResult {
	t.Helper()
	p, err := pipeline.Open(twin(t), pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f, err := os.Open(imagePath(t, c.Image))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := encoder.DecodeImage(c.Image, f, encoder.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	pix, err := p.Spec.Preprocess.Tensor(img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	res, err := p.Caption(context.Background(), c.Image, f, pipeline.Request{Prompt: c.Task, MaxNewTokens: 12,
		Recompute: recompute}, nil)
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	return goResult{text: res.PromptIDs[res.Visual.Before:], generated: res.GeneratedIDs, pixels: pix}
}

// TestDifferentialTransformersJS compares vlmrun with transformers.js 4.3.1
// on the Florence-2 twin: identical prompt ids, identical generated ids
// ([start, forced BOS, …, forced EOS]) and pixel_values within 1e-4.
func TestDifferentialTransformersJS(t *testing.T) {
	testenv.ORT(t)
	cases := slices.Clone(diffCases)
	ref := reference(t, cases)
	goldenPath := filepath.Join(testenv.Repo(t), "models", "florence2", "testdata", "golden.json")
	golden := map[string]refResult{}
	if ref == nil {
		golden = tjsref.LoadGolden[refResult](t, goldenPath)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			g := runGo(t, c, false)
			r, live := ref[c.Name]
			if !live {
				r = golden[c.Name]
			}
			if !slices.Equal(g.text, r.InputIDs) {
				t.Errorf("input_ids differ:\n vlmrun %v\n tjs    %v", g.text, r.InputIDs)
			}
			if len(r.GeneratedIDs) == 0 || r.GeneratedIDs[0] != 2 {
				t.Fatalf("reference ids %v do not start with the decoder start token", r.GeneratedIDs)
			}
			if !slices.Equal(g.generated, r.GeneratedIDs[1:]) {
				t.Errorf("generated ids differ:\n vlmrun %v\n tjs    %v", g.generated, r.GeneratedIDs[1:])
			}
			if live {
				maxDiff := 0.0
				for i := range g.pixels {
					maxDiff = math.Max(maxDiff, math.Abs(float64(g.pixels[i]-r.Pixels[i])))
				}
				t.Logf("pixel_values max |vlmrun - tjs| = %.3g", maxDiff)
				if maxDiff > 1e-4 {
					t.Errorf("pixel_values differ by %g (> 1e-4)", maxDiff)
				}
			} else if math.Abs(sum(g.pixels)-r.PixelSum) > 1e-3 {
				t.Errorf("pixel_values sum %v, golden %v", sum(g.pixels), r.PixelSum)
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

// TestCachedEqualsRecompute: the encoder-decoder cache (self and cross
// keys/values) gives the same ids as recomputing every step.
func TestCachedEqualsRecompute(t *testing.T) {
	testenv.ORT(t)
	for _, c := range diffCases[:3] {
		cached, free := runGo(t, c, false), runGo(t, c, true)
		if !slices.Equal(cached.generated, free.generated) || len(cached.generated) != 12 {
			t.Errorf("%s: cached %v, cache-free %v", c.Name, cached.generated, free.generated)
		}
	}
}

// TestErrors: a missing dtype file and a decoder breaking the
// encoder-decoder contract name the file and the input.
func TestErrors(t *testing.T) {
	testenv.ORT(t)
	dt, _ := models.ParseDTypes("fp32,encoder_model=q4")
	_, err := pipeline.Open(twin(t), pipeline.Options{DTypes: dt})
	if err == nil || !strings.Contains(err.Error(), "encoder_model_q4.onnx") {
		t.Errorf("missing dtype file: %v", err)
	}
	dir := t.TempDir()
	src := twin(t)
	if err := os.MkdirAll(filepath.Join(dir, "onnx"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json",
		"tokenizer_config.json", "special_tokens_map.json", "onnx/vision_encoder.onnx", "onnx/embed_tokens.onnx",
		"onnx/encoder_model.onnx"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, f)
		if f == "onnx/encoder_model.onnx" {
			// the encoder in the decoder's place
			if err := os.WriteFile(filepath.Join(dir, "onnx", "decoder_model_merged.onnx"), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err = pipeline.Open(dir, pipeline.Options{})
	if err == nil || !errors.Is(err, ortx.ErrGraphMismatch) || !strings.Contains(err.Error(), "decoder_model_merged.onnx") ||
		!strings.Contains(err.Error(), `"attention_mask"`) && !strings.Contains(err.Error(), `"encoder_hidden_states"`) {
		t.Errorf("decoder mismatch: %v", err)
	}
}
