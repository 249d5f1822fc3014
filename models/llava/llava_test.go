package llava_test

import (
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/models/llava"
)

// copyTwin copies the twin's JSON and tokenizer files (the ONNX files
// linked) into a temporary folder the test may change.
func copyTwin(t *testing.T) string {
	t.Helper()
	src := testdata(t, twin)
	dst := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dst, "onnx"), 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dst, e.Name()), string(data))
	}
	onnx, _ := os.ReadDir(filepath.Join(src, "onnx"))
	for _, e := range onnx {
		if err := os.Symlink(filepath.Join(src, "onnx", e.Name()), filepath.Join(dst, "onnx", e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func edit(t *testing.T, p, old, new string) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s has no %q", p, old)
	}
	write(t, p, strings.Replace(string(data), old, new, 1))
}

// The twin loads without ONNX Runtime: dimensions, token counts, files.
func TestLoadTwin(t *testing.T) {
	spec, err := models.Load(testdata(t, twin))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Family != "llava" || spec.Text != (models.Text{Hidden: 64, Layers: 4, Heads: 4, KVHeads: 2, HeadDim: 16, Vocab: spec.Text.Vocab}) {
		t.Errorf("spec %s, text %+v", spec.Family, spec.Text)
	}
	if spec.TokensPerImage != 17 || spec.GridH != 4 || spec.GridW != 4 || spec.Preprocess.Width != 56 || spec.Preprocess.Height != 56 {
		t.Errorf("tokens %d, grid %d×%d, pixels %d×%d", spec.TokensPerImage, spec.GridH, spec.GridW,
			spec.Preprocess.Width, spec.Preprocess.Height)
	}
	if !strings.HasSuffix(spec.Files.Decoder, "onnx/decoder_model_merged.onnx") {
		t.Errorf("decoder %s", spec.Files.Decoder)
	}
	q4, err := models.LoadWith(testdata(t, twin), models.LoadOptions{DTypes: models.DTypes{Default: "fp32",
		PerFile: map[string]string{"decoder_model_merged": "q4"}}})
	if err != nil || !strings.HasSuffix(q4.Files.Decoder, "decoder_model_merged_q4.onnx") {
		t.Errorf("q4 decoder: %v", err)
	}
}

// LlavaProcessor's counts: transformers.js expands patches +
// num_additional_image_tokens; a vision graph returning Python's count
// (one fewer for "default") is accepted too; anything else is refused.
func TestImageTokenCounts(t *testing.T) {
	spec, err := models.Load(testdata(t, twin))
	if err != nil {
		t.Fatal(err)
	}
	img := spec.ImageTokenID
	for _, n := range []int{17, 16} {
		p, err := spec.BuildImagePrompt("", models.Pixels{Images: 1}, n)
		if err != nil {
			t.Fatalf("%d features: %v", n, err)
		}
		if len(p.ImagePos) != n || p.IDs[p.ImagePos[0]] != img || p.ImagePos[n-1]-p.ImagePos[0] != n-1 {
			t.Errorf("%d features: %d image tokens at %v", n, len(p.ImagePos), p.ImagePos)
		}
	}
	for _, n := range []int{15, 18, 576} {
		if _, err := spec.BuildImagePrompt("", models.Pixels{Images: 1}, n); err == nil ||
			!strings.Contains(err.Error(), "17 (transformers.js) or 16 (Python)") {
			t.Errorf("%d features: error %v", n, err)
		}
	}
	if _, err := spec.BuildPrompt("<image> and <image>", 17); err == nil {
		t.Error("two image tokens accepted")
	}
	// The user's own prompt holding <image> is used as is; other text goes
	// into "USER: <image>\n... ASSISTANT:".
	raw, err := spec.BuildPrompt("<image>\nWhat is in the picture?", 17)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := spec.BuildPrompt("What is in the picture?", 17)
	if err != nil {
		t.Fatal(err)
	}
	def, err := spec.BuildPrompt("", 17)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := spec.Tokenizer.Decode(def.IDs, false)
	if raw.ImagePos[0] != 1 || wrapped.ImagePos[0] == 1 || !strings.Contains(text, "Describe this image. ASSISTANT:") {
		t.Errorf("raw image at %d, wrapped at %d, default %q", raw.ImagePos[0], wrapped.ImagePos[0], text)
	}
	if got := llava.Expand("a <image> b <image>", "<image>", 3); got != "a <image><image><image> b <image>" {
		t.Errorf("Expand: %q", got)
	}
}

// llava-1.5-7b-hf's published config.json: text_config names only what
// differs from LlamaConfig, whose defaults fill the rest (4096 hidden, 32
// layers and heads); vision 336 px, patch 14, 1 additional token: 577
// (transformers.js) or 576 (Python) image tokens.
func TestPublishedLLaVA15Config(t *testing.T) {
	dir := copyTwin(t)
	write(t, filepath.Join(dir, "config.json"), `{
  "architectures": ["LlavaForConditionalGeneration"], "ignore_index": -100, "image_token_index": 358,
  "model_type": "llava", "pad_token_id": 359, "projector_hidden_act": "gelu",
  "text_config": {"_name_or_path": "lmsys/vicuna-7b-v1.5", "architectures": ["LlamaForCausalLM"],
    "max_position_embeddings": 4096, "model_type": "llama", "rms_norm_eps": 1e-05, "torch_dtype": "float16",
    "vocab_size": 32064},
  "tie_word_embeddings": false, "torch_dtype": "float16", "transformers_version": "4.36.0.dev0",
  "vision_config": {"hidden_size": 1024, "image_size": 336, "intermediate_size": 4096,
    "model_type": "clip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 24, "patch_size": 14,
    "projection_dim": 768, "vocab_size": 32000},
  "vision_feature_layer": -2, "vision_feature_select_strategy": "default", "vocab_size": 32064}`)
	pre := filepath.Join(dir, "preprocessor_config.json")
	edit(t, pre, `"height": 56`, `"height": 336`)
	edit(t, pre, `"width": 56`, `"width": 336`)
	edit(t, pre, `"shortest_edge": 56`, `"shortest_edge": 336`)
	spec, err := models.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := models.Text{Hidden: 4096, Layers: 32, Heads: 32, KVHeads: 32, HeadDim: 128, Vocab: 32064}
	if spec.Text != want {
		t.Errorf("text %+v, want %+v", spec.Text, want)
	}
	if spec.TokensPerImage != 577 || spec.GridH != 24 || spec.GridW != 24 {
		t.Errorf("tokens %d, grid %d×%d", spec.TokensPerImage, spec.GridH, spec.GridW)
	}
	for _, n := range []int{577, 576} {
		p, err := spec.BuildPrompt("", n)
		if err != nil || len(p.ImagePos) != n {
			t.Errorf("%d features: %v", n, err)
		}
	}
	// A 640×480 photo: shortest edge to 336 (448×336), crop 336×336.
	ip, err := models.ReadImageProcessor(dir)
	if err != nil {
		t.Fatal(err)
	}
	if w, h := ip.ResizeTarget(640, 480); w != 448 || h != 336 {
		t.Errorf("640×480 → %d×%d", w, h)
	}
	if w, h := ip.ResizeTarget(333, 500); w != 336 || h != 504 {
		t.Errorf("333×500 → %d×%d", w, h)
	}
	img := image.NewNRGBA(image.Rect(0, 0, 640, 480))
	px, err := spec.PreprocessImage(img)
	if err != nil || len(px.Data) != 3*336*336 || px.Images != 1 {
		t.Errorf("preprocess 640×480: %d values, %v", len(px.Data), err)
	}
}

// The center crop takes floor((n − crop)/2) from the start and pads with
// black where the image is smaller, as RawImage.center_crop (sharp) does;
// rescale and normalize are float64 arithmetic stored as float32.
func TestCenterCropAndNormalize(t *testing.T) {
	ip := models.ImageProcessor{DoCenterCrop: true, CropWidth: 4, CropHeight: 4, DoRescale: true,
		RescaleFactor: 1.0 / 255, DoNormalize: true, Mean: [3]float64{0.48145466, 0.4578275, 0.40821073},
		Std: [3]float64{0.26862954, 0.26130258, 0.27577711}}
	img := image.NewNRGBA(image.Rect(0, 0, 7, 2)) // crop from x = 1, pad rows -1 and 2
	for x := 0; x < 7; x++ {
		for y := 0; y < 2; y++ {
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(10*x+y), 0, 255, 255
		}
	}
	data, w, h, err := ip.Process(img, "")
	if err != nil || w != 4 || h != 4 {
		t.Fatalf("%d×%d, %v", w, h, err)
	}
	norm := func(v uint8, c int) float32 {
		x := float64(float32(float64(v) / 255))
		return float32((x - ip.Mean[c]) / ip.Std[c])
	}
	var red []float32
	for y := 0; y < 4; y++ {
		red = append(red, data[y*4:y*4+4]...)
	}
	want := []float32{}
	for y := -1; y < 3; y++ {
		for x := 1; x < 5; x++ {
			v := uint8(0)
			if y >= 0 && y < 2 {
				v = uint8(10*x + y)
			}
			want = append(want, norm(v, 0))
		}
	}
	if !slices.Equal(red, want) {
		t.Errorf("red plane\n %v\nwant\n %v", red, want)
	}
	if data[2*16+5] != norm(255, 2) || data[2*16] != norm(0, 2) {
		t.Errorf("blue plane: %v", data[32:48])
	}
}

// Load errors name the file and the field.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		file string
		old  string
		new  string
		want string
	}{
		{"no image token index", "config.json", `"image_token_index"`, `"image_token_x"`, "image_token_index"},
		{"image token mismatch", "config.json", `"image_token_index": 358`, `"image_token_index": 357`, "image_token_index is 357"},
		{"no additional tokens", "processor_config.json", `"num_additional_image_tokens": 1,`, ``, "num_additional_image_tokens"},
		{"no crop", "preprocessor_config.json", `"do_center_crop": true`, `"do_center_crop": false`, "no fixed size"},
		{"no text_config layers", "config.json", `"num_hidden_layers": 4,`, `"num_hidden_layers": 0, "model_type_x": 1,`, "text_config needs"},
		{"unsupported padding", "preprocessor_config.json", `"do_convert_rgb": true`, `"do_convert_rgb": true, "do_pad": true`, "do_pad"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyTwin(t)
			p := filepath.Join(dir, c.file)
			if c.name == "no text_config layers" {
				edit(t, p, `"model_type": "llama"`, `"model_type": "qwen2"`)
			}
			edit(t, p, c.old, c.new)
			_, err := models.Load(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
	dir := copyTwin(t)
	os.Remove(filepath.Join(dir, "onnx", "decoder_model_merged_q4.onnx"))
	_, err := models.LoadWith(dir, models.LoadOptions{DTypes: models.DTypes{Default: "q4"}})
	if err == nil || !strings.Contains(err.Error(), "vision_encoder_q4.onnx") || !strings.Contains(err.Error(), "(dtypes present for vision_encoder: fp32)") {
		t.Errorf("missing dtype: %v", err)
	}
	os.Remove(filepath.Join(dir, "processor_config.json"))
	if _, err := models.Load(dir); err == nil || !strings.Contains(err.Error(), "processor_config.json") {
		t.Errorf("missing processor_config.json: %v", err)
	}
}

// size as a bare number is transformers.js's shortest edge with the longest
// edge capped at max_size, else at the same number.
func TestBareSize(t *testing.T) {
	dir := copyTwin(t)
	pre := filepath.Join(dir, "preprocessor_config.json")
	edit(t, pre, `"size": {
    "shortest_edge": 56
  }`, `"size": 56`)
	ip, err := models.ReadImageProcessor(dir)
	if err != nil {
		t.Fatal(err)
	}
	if w, h := ip.ResizeTarget(200, 100); w != 56 || h != 28 {
		t.Errorf("size 56: 200×100 → %d×%d, want 56×28", w, h)
	}
	edit(t, pre, `"size": 56`, `"size": 56, "max_size": 84`)
	if ip, err = models.ReadImageProcessor(dir); err != nil {
		t.Fatal(err)
	}
	if w, h := ip.ResizeTarget(200, 100); w != 84 || h != 42 {
		t.Errorf("size 56, max_size 84: 200×100 → %d×%d, want 84×42", w, h)
	}
}
