package llavaonevision_test

import (
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/chattemplate"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/models/llavaonevision"
)

// copyTwin copies the twin's JSON and tokenizer files into a temporary
// folder (the ONNX files are linked), with edits applied: file → (old →
// new) string replacements, or "" to delete the file.
func copyTwin(t *testing.T, edits map[string][2]string) string {
	t.Helper()
	src := testdata(t, twin)
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(src, "onnx"), filepath.Join(dir, "onnx")); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if ed, ok := edits[e.Name()]; ok {
			if ed == [2]string{} {
				continue
			}
			if !strings.Contains(string(data), ed[0]) {
				t.Fatalf("%s has no %q", e.Name(), ed[0])
			}
			data = []byte(strings.Replace(string(data), ed[0], ed[1], 1))
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The twin loads as a llava_onevision folder: 70×70 pixel values, 5×5 =
// 25 visual tokens per image in a grid, the Qwen2 text dimensions.
func TestLoadTwin(t *testing.T) {
	spec, err := models.Load(testdata(t, twin))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Family != llavaonevision.ModelType || spec.TokensPerImage != 25 || spec.GridH != 5 || spec.GridW != 5 ||
		spec.Preprocess.Width != 70 || spec.Preprocess.Height != 70 {
		t.Errorf("family %s, %d tokens in %d×%d, %d×%d pixels", spec.Family, spec.TokensPerImage, spec.GridH, spec.GridW,
			spec.Preprocess.Width, spec.Preprocess.Height)
	}
	if tx := spec.Text; tx.Hidden != 64 || tx.Layers != 4 || tx.Heads != 4 || tx.KVHeads != 2 || tx.HeadDim != 16 {
		t.Errorf("text %+v", tx)
	}
	if !strings.HasSuffix(spec.Files.Decoder, filepath.Join("onnx", "decoder_model_merged.onnx")) {
		t.Errorf("decoder file %s", spec.Files.Decoder)
	}
}

// llava-hf/llava-onevision-qwen2-0.5b-ov-hf's published values (384 px
// squash, SigLIP patch 14, num_image_tokens 729, strategy "full") give a
// 27×27 grid of 729 tokens per image.
func TestPublishedValues(t *testing.T) {
	dir := copyTwin(t, map[string][2]string{
		"config.json": {`"image_size": 70`, `"image_size": 384`},
		"preprocessor_config.json": {`"size": {
    "height": 70,
    "width": 70
  }`, `"size": {"height": 384, "width": 384}`},
		"processor_config.json": {`"num_image_tokens": 25`, `"num_image_tokens": 729`},
	})
	spec, err := models.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if spec.TokensPerImage != 729 || spec.GridH != 27 || spec.GridW != 27 {
		t.Errorf("%d tokens in %d×%d, want 729 in 27×27", spec.TokensPerImage, spec.GridH, spec.GridW)
	}
	// Every image is squashed to 384×384 (no crop, no anyres).
	px, err := spec.PreprocessImage(image.NewNRGBA(image.Rect(0, 0, 640, 480)))
	if err != nil {
		t.Fatal(err)
	}
	if px.Images != 1 || len(px.Data) != 3*384*384 {
		t.Errorf("%d images, %d values; want 1 image of 3×384×384", px.Images, len(px.Data))
	}
}

// Bad folders give one clear error each.
func TestLoadErrors(t *testing.T) {
	for _, c := range []struct {
		name, file, old, new, want string
	}{
		{"no image token index", "config.json", `"image_token_index"`, `"image_token_nope"`, "no image_token_index"},
		{"token id mismatch", "config.json", `"image_token_index": 320`, `"image_token_index": 319`, "image_token_index is 319"},
		{"default strategy (processor)", "processor_config.json", `"vision_feature_select_strategy": "full"`, `"vision_feature_select_strategy": "default"`, "SigLIP has no CLS row"},
		{"default strategy", "config.json", `"vision_feature_select_strategy": "full"`, `"vision_feature_select_strategy": "default"`, "SigLIP has no CLS row"},
		{"image size", "config.json", `"image_size": 70`, `"image_size": 84`, "vision_config.image_size is 84"},
		{"no patch size", "config.json", `"patch_size": 14`, `"patch_size": 0`, "patch_size must be positive"},
		{"token count", "processor_config.json", `"num_image_tokens": 25`, `"num_image_tokens": 729`, "num_image_tokens is 729 but"},
		{"no fixed size", "preprocessor_config.json", `"size": {
    "height": 70,
    "width": 70
  }`, `"size": {"shortest_edge": 70}`, "do_pad without pad_size"},
		{"no text config", "config.json", `"text_config"`, `"text_configs"`, "no text_config"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := models.Load(copyTwin(t, map[string][2]string{c.file: {c.old, c.new}}))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	t.Run("missing dtype file", func(t *testing.T) {
		_, err := models.LoadWith(testdata(t, twin), models.LoadOptions{DTypes: models.DTypes{Default: "fp32",
			PerFile: map[string]string{"decoder_model_merged": "q8"}}})
		if err == nil || !strings.Contains(err.Error(), "dtypes present for decoder_model_merged: fp16, fp32, q4") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("no processor_config.json", func(t *testing.T) {
		// transformers.js 4.3.1 never reads it: the folder loads without it.
		if _, err := models.Load(copyTwin(t, map[string][2]string{"processor_config.json": {}})); err != nil {
			t.Error(err)
		}
	})
}

// The prompt: the folder's chat template (tokenizer_config.json), the
// built-in one when the folder has none (the same text here), user text
// holding one <image> per image as given, and clear errors for a wrong
// image-token or feature count.
func TestPrompt(t *testing.T) {
	spec, err := models.Load(testdata(t, twin))
	if err != nil {
		t.Fatal(err)
	}
	c, err := chattemplate.Load(testdata(t, twin))
	if err != nil {
		t.Fatal(err)
	}
	if c.Default != llavaonevision.BuiltinTemplate {
		t.Errorf("the twin's template differs from the built-in one")
	}
	bare, err := models.Load(copyTwin(t, map[string][2]string{
		"tokenizer_config.json": {`"chat_template"`, `"no_chat_template"`}, "chat_template.json": {}}))
	if err != nil {
		t.Fatal(err)
	}
	decode := func(ids []int) string {
		s, err := spec.Tokenizer.Decode(ids, false)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, s := range []*models.Spec{spec, bare} {
		pr, err := s.BuildImagePrompt("", models.Pixels{Images: 2}, 50)
		if err != nil {
			t.Fatal(err)
		}
		want := "<|im_start|>user " + strings.Repeat("<image>", 50) + "\n" + llavaonevision.DefaultPrompt +
			"<|im_end|><|im_start|>assistant\n"
		if got := decode(pr.IDs); got != want {
			t.Errorf("prompt %q\nwant %q", got, want)
		}
		if len(pr.ImagePos) != 50 || pr.ImagePos[0] != 6 || pr.ImagePos[49] != 55 {
			t.Errorf("image positions %v", pr.ImagePos)
		}
	}
	for _, bad := range []struct {
		user        string
		images, n   int
		wantMessage string
	}{
		{"", 1, 24, "gave 24 features for 1 images; each image should give 25"},
		{"", 2, 25, "gave 25 features for 2 images"},
		{"<image> and <image>", 1, 25, "2 <image> tokens for 1 images"},
		{"only <image>", 2, 50, "1 <image> tokens for 2 images"},
	} {
		if _, err := spec.BuildImagePrompt(bad.user, models.Pixels{Images: bad.images}, bad.n); err == nil ||
			!strings.Contains(err.Error(), bad.wantMessage) {
			t.Errorf("%q, %d images, %d features: %v", bad.user, bad.images, bad.n, err)
		}
	}
}

// --max-image-tokens: every image gives the same 25 tokens, so a budget of
// 25 or more passes and a smaller one is refused with the reason (never
// exceeded).
func TestMaxImageTokens(t *testing.T) {
	spec, err := models.Load(testdata(t, twin))
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewNRGBA(image.Rect(0, 0, 90, 60))
	for _, max := range []int{0, 25, 1000} {
		px, err := spec.PreprocessImageWith(img, models.ImageOptions{MaxImageTokens: max, NoSplit: true})
		if err != nil || px.Images != 1 {
			t.Errorf("max %d: %v (%d images)", max, err, px.Images)
		}
	}
	if _, err := spec.PreprocessImageWith(img, models.ImageOptions{MaxImageTokens: 24}); err == nil ||
		!strings.Contains(err.Error(), "every image gives 25 visual tokens") {
		t.Errorf("max 24: %v", err)
	}
}

// The twin's config files carry the published keys.
func TestTwinConfigKeys(t *testing.T) {
	var cfg map[string]any
	data, err := os.ReadFile(testdata(t, twin, "config.json"))
	if err == nil {
		err = json.Unmarshal(data, &cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"image_grid_pinpoints", "vision_aspect_ratio", "use_image_newline_parameter", "video_token_index"} {
		if _, ok := cfg[k]; !ok {
			t.Errorf("config.json has no %s", k)
		}
	}
}
