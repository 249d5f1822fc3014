// Package llavaonevision is the LLaVA-OneVision family (config.json
// model_type "llava_onevision", e.g. llava-hf/llava-onevision-qwen2-0.5b-ov-hf
// with its transformers.js ONNX files), run as transformers.js 4.3.1 runs
// it, with the same results:
//
//	onnx/vision_encoder{sfx}.onnx        pixel_values (images, 3, H, W) → image_features (images, N, D)
//	onnx/embed_tokens{sfx}.onnx          input_ids → inputs_embeds
//	onnx/decoder_model_merged{sfx}.onnx  inputs_embeds, attention_mask, position_ids, past KV → logits, present KV
//
// transformers.js 4.3.1 runs this model type as LLaVA
// (LlavaOnevisionForConditionalGeneration is LlavaForConditionalGeneration)
// with the base image processor (LlavaOnevisionImageProcessor adds nothing):
// every image is squashed to size {height, width} (384×384 on the real
// model), rescaled, normalized and padded to that same size — one
// pixel_values entry per image, no anyres grid, no unpadding, no
// image_newline rows. There is no LlavaOnevisionProcessor in 4.3.1, so the
// caller expands each <image> of the prompt to the image's feature count
// (729 = 27×27 SigLIP patches on the real model); vlmrun does that with the
// count the vision graph returns, which must be the patch grid
// (image_size/patch_size)² and, when processor_config.json gives it,
// num_image_tokens. The features replace the <image> rows in order
// (images in prompt order, each image's patches row-major).
//
// A folder whose vlmrun_config.json says {"image_layout": "python"} runs
// Python transformers' anyres layout instead (Anyres): for an image alone
// in its prompt, base image + crops of the best pinpoint through the same
// vision graph, their features unpadded, pooled (anyres_max_N) and given
// the checkpoint's image_newline (read from the folder's safetensors)
// after every row, in Go (Spec.PackVisual); each of several images in one
// prompt is its base alone (padded to a square) and one image_newline
// (BaseOnly), as Python's processor does for a conversation's images.
//
// Videos, which transformers.js 4.3.1 does not run for this model type,
// follow Python transformers in either layout (video.go): frames through
// the vision graph, each grid pooled 2×2 bilinearly, image_newline after
// all frames.
package llavaonevision

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/tokenizer"
)

// ModelType is the config.json model_type this family handles.
const ModelType = "llava_onevision"

// Files are the base names of the family's ONNX files.
var Files = []string{"vision_encoder", "embed_tokens", "decoder_model_merged"}

func init() { models.Register(family{}, ModelType) }

type family struct{}

// config is the part of config.json the family reads besides text_config.
type config struct {
	ImageTokenIndex *int `json:"image_token_index"`
	ImageTokenID    *int `json:"image_token_id"`
	Vision          struct {
		ImageSize int `json:"image_size"`
		PatchSize int `json:"patch_size"`
	} `json:"vision_config"`
	SelectStrategy string `json:"vision_feature_select_strategy"`
	// Python's anyres layout only (transformers.js 4.3.1 reads neither)
	Pins        [][2]int `json:"image_grid_pinpoints"`
	AspectRatio string   `json:"vision_aspect_ratio"`
}

// processorConfig is processor_config.json (Python's
// LlavaOnevisionProcessor config; transformers.js 4.3.1 does not read it).
type processorConfig struct {
	ImageToken     string `json:"image_token"`
	NumImageTokens *int   `json:"num_image_tokens"`
	SelectStrategy string `json:"vision_feature_select_strategy"`
}

// DefaultImageToken is the image placeholder when processor_config.json
// names none.
const DefaultImageToken = "<image>"

// Layout is what one image becomes: its pixel size and patch grid.
type Layout struct {
	ImageToken   string
	Width        int // pixel_values width and height
	Height       int
	Patch        int
	GridH, GridW int // patches: the image's visual tokens, row-major
}

// Tokens is the number of visual tokens (and <image> tokens) of one image.
func (l Layout) Tokens() int { return l.GridH * l.GridW }

// newLayout checks the config against the image size and returns the
// layout: SigLIP has no CLS row, so an image of W×H pixels gives
// floor(H/p)·floor(W/p) features with strategy "full" (the published
// value); "default" would drop a CLS row SigLIP does not have, and is
// refused.
func newLayout(c config, pc processorConfig, W, H int) (Layout, error) {
	l := Layout{ImageToken: pc.ImageToken, Width: W, Height: H, Patch: c.Vision.PatchSize}
	if l.ImageToken == "" {
		l.ImageToken = DefaultImageToken
	}
	if l.Patch <= 0 {
		return l, fmt.Errorf("config.json: vision_config.patch_size must be positive")
	}
	for _, s := range []struct{ file, strategy string }{{"config.json", c.SelectStrategy}, {"processor_config.json", pc.SelectStrategy}} {
		if s.strategy != "" && s.strategy != "full" {
			return l, fmt.Errorf("%s: vision_feature_select_strategy %q is not supported (SigLIP has no CLS row; want \"full\")",
				s.file, s.strategy)
		}
	}
	if c.Vision.ImageSize > 0 && (W != c.Vision.ImageSize || H != c.Vision.ImageSize) {
		return l, fmt.Errorf("preprocessor_config.json gives %d×%d pixel values but vision_config.image_size is %d", W, H, c.Vision.ImageSize)
	}
	l.GridH, l.GridW = H/l.Patch, W/l.Patch
	if l.Tokens() <= 0 {
		return l, fmt.Errorf("%d×%d pixels with patch_size %d give no visual tokens", W, H, l.Patch)
	}
	if pc.NumImageTokens != nil && *pc.NumImageTokens != l.Tokens() {
		return l, fmt.Errorf("processor_config.json num_image_tokens is %d but %d×%d pixels with patch_size %d give %d×%d = %d patches",
			*pc.NumImageTokens, W, H, l.Patch, l.GridH, l.GridW, l.Tokens())
	}
	return l, nil
}

// Load implements models.Family (fp32 files, or the config's dtype).
func (f family) Load(dir string, raw []byte) (*models.Spec, error) {
	return f.LoadWithOptions(dir, raw, models.LoadOptions{})
}

// LoadWithOptions implements models.OptionsFamily.
func (family) LoadWithOptions(dir string, raw []byte, o models.LoadOptions) (*models.Spec, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("llavaonevision: parse %s/config.json: %w", dir, err)
	}
	text, err := models.ParseTextConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("llavaonevision: %s: %w", dir, err)
	}
	imageID := c.ImageTokenIndex // transformers.js: image_token_index ?? image_token_id
	if imageID == nil {
		imageID = c.ImageTokenID
	}
	if imageID == nil {
		return nil, fmt.Errorf("llavaonevision: %s/config.json: no image_token_index", dir)
	}
	dt, err := models.ResolveFiles("llavaonevision", dir, raw, o, Files...)
	if err != nil {
		return nil, err
	}
	files := models.Files{Vision: dt.Path(dir, "vision_encoder"), Embed: dt.Path(dir, "embed_tokens"),
		Decoder: dt.Path(dir, "decoder_model_merged")}
	ip, err := models.ReadImageProcessor(dir)
	if err != nil {
		return nil, err
	}
	W, H, ok := ip.FixedSize()
	if !ok {
		return nil, fmt.Errorf("llavaonevision: %s/preprocessor_config.json: the image processor gives no fixed size (want size with height and width)", dir)
	}
	var pc processorConfig
	// Optional: transformers.js 4.3.1 never reads it; when present its
	// token and count are checked.
	if err := models.ReadJSON(dir, "processor_config.json", &pc); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	lay, err := newLayout(c, pc, W, H)
	if err != nil {
		return nil, fmt.Errorf("llavaonevision: %s: %w", dir, err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	if id, ok := tok.TokenID(lay.ImageToken); !ok || id != *imageID {
		return nil, fmt.Errorf("llavaonevision: %s: config.json image_token_index is %d but the tokenizer has %s = %d (found %v)",
			dir, *imageID, lay.ImageToken, id, ok)
	}
	eos := tok.Specials().EOS
	if len(eos) == 0 {
		return nil, fmt.Errorf("llavaonevision: %s: no eos_token_id in generation_config.json nor eos_token in tokenizer_config.json", dir)
	}
	pr := &prompter{tok: tok, imageID: *imageID, layout: lay}
	if pr.tmpl, err = models.ChatTemplate(dir, BuiltinTemplate, "LLaVA-OneVision's built-in template"); err != nil {
		return nil, fmt.Errorf("llavaonevision: %w", err)
	}
	spec := &models.Spec{
		Files: files,
		Preprocess: encoder.Preprocess{Width: W, Height: H, Resample: ip.Resample, RescaleFactor: float32(ip.RescaleFactor),
			Mean: f32x3(ip.Mean), Std: f32x3(ip.Std),
			// transformers.js resizes with sharp (a bicubic affine);
			// encoder.ResizerSharp reproduces it byte for byte.
			Resizer: encoder.ResizerSharp},
		Outputs:        models.VisionOutputs{Features: "image_features"},
		TokensPerImage: lay.Tokens(),
		GridH:          lay.GridH,
		GridW:          lay.GridW,
		Text:           text,
		ImageTokenID:   *imageID,
		EOS:            eos,
		Tokenizer:      tok,
	}
	if !ip.DoNormalize {
		spec.Preprocess.Std = [3]float32{1, 1, 1}
	}
	layout, err := readLayout(dir)
	if err != nil {
		return nil, fmt.Errorf("llavaonevision: %s: %w", dir, err)
	}
	if layout == LayoutPython {
		py, err := newPyLayout(dir, c, ip, W, lay.GridH, text.Hidden)
		if err != nil {
			return nil, fmt.Errorf("llavaonevision: %s: %w", dir, err)
		}
		if W != H || lay.GridH != lay.GridW {
			return nil, fmt.Errorf("llavaonevision: %s: the Python layout needs square crops (size %d×%d)", dir, W, H)
		}
		pr.newline = py.newline
		usePython(spec, py, pr)
		if err := useVideo(spec, dir, raw, pr); err != nil { // video.go
			return nil, fmt.Errorf("llavaonevision: %s: video: %w", dir, err)
		}
		return spec, nil
	}
	pre := func(img *image.NRGBA) (models.Pixels, error) {
		data, w, h, err := ip.Process(img, spec.Preprocess.Resizer)
		if err != nil {
			return models.Pixels{}, err
		}
		if w != W || h != H {
			return models.Pixels{}, fmt.Errorf("llavaonevision: pixel_values of %d×%d, want %d×%d", w, h, W, H)
		}
		return models.Pixels{Data: data, Images: 1}, nil
	}
	spec.PreprocessImage = pre
	// Every image gives the same grid (transformers.js has no anyres), so a
	// token budget either fits or is refused; NoSplit and PromptImages
	// (several images in one prompt) change nothing.
	spec.PreprocessImageWith = func(img *image.NRGBA, o models.ImageOptions) (models.Pixels, error) {
		if o.MaxImageTokens > 0 && lay.Tokens() > o.MaxImageTokens {
			return models.Pixels{}, fmt.Errorf("llavaonevision: every image gives %d visual tokens (%d×%d patches of %d×%d pixels; transformers.js 4.3.1 has no anyres grid to choose), more than --max-image-tokens %d",
				lay.Tokens(), lay.GridH, lay.GridW, W, H, o.MaxImageTokens)
		}
		return pre(img)
	}
	setPrompts(spec, pr)
	if err := useVideo(spec, dir, raw, pr); err != nil { // video.go
		return nil, fmt.Errorf("llavaonevision: %s: video: %w", dir, err)
	}
	return spec, nil
}

// setPrompts sets spec's prompt hooks.
func setPrompts(spec *models.Spec, pr *prompter) {
	spec.BuildImagePrompt = func(user string, px models.Pixels, n int) (models.Prompt, error) {
		return pr.build(user, px, n)
	}
	spec.BuildPrompt = func(user string, n int) (models.Prompt, error) {
		return pr.build(user, models.Pixels{Images: 1}, n)
	}
	spec.BuildChat = func(c models.Conversation, pxs []models.Pixels, n []int) (models.Prompt, error) {
		return pr.buildChat(c, pxs, n)
	}
}

// usePython sets spec up for Python's anyres layout: the image processor's
// crops (resized with Pillow's resampling, as Python's processor does,
// unless --resizer says otherwise) for an image alone in its prompt, the
// padded base alone for each of several (models.ImageOptions.PromptImages
// > 1), the packing of their features, and --max-image-tokens as a bound
// on the pinpoint chosen.
func usePython(spec *models.Spec, py *pyLayout, pr *prompter) {
	spec.Preprocess.Resizer = encoder.ResizerPIL
	spec.PreprocessImage = func(img *image.NRGBA) (models.Pixels, error) {
		return py.preprocess(img, 0, spec.Preprocess.Resizer)
	}
	spec.PreprocessImageWith = func(img *image.NRGBA, o models.ImageOptions) (models.Pixels, error) {
		switch {
		case o.VideoFrame:
			return models.Pixels{}, fmt.Errorf("llavaonevision: the Python image layout takes a video through its video path (PreprocessVideo), not as frames")
		case o.PromptImages > 1:
			return py.preprocessSeveral(img, o.MaxImageTokens, spec.Preprocess.Resizer)
		case o.NoSplit:
			return models.Pixels{}, fmt.Errorf("llavaonevision: the Python image layout needs to know how many images share the prompt (an unsplit image alone is not one of its layouts)")
		}
		return py.preprocess(img, o.MaxImageTokens, spec.Preprocess.Resizer)
	}
	spec.PackVisual = py.pack
	setPrompts(spec, pr)
}

func f32x3(v [3]float64) [3]float32 { return [3]float32{float32(v[0]), float32(v[1]), float32(v[2])} }
