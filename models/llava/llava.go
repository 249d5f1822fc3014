// Package llava is the LLaVA family (config.json model_type "llava", e.g.
// llava-hf/llava-1.5-7b-hf as onnx-community-style exports, or
// llava-hf/llava-interleave-qwen-0.5b-hf), run from the ONNX exports
// transformers.js 4.3.1 opens for LlavaForConditionalGeneration, with the
// same results:
//
//	onnx/vision_encoder{sfx}.onnx        pixel_values (batch, 3, H, W) → image_features (batch, N, D)
//	onnx/embed_tokens{sfx}.onnx          input_ids → inputs_embeds
//	onnx/decoder_model_merged{sfx}.onnx  inputs_embeds, attention_mask, position_ids, past KV → logits, present KV
//
// {sfx} is the dtype's file suffix (models.DTypeSuffix). The image goes
// through the base (CLIP) image processor (models.ImageProcessor: shortest
// edge resize, center crop, rescale, normalize); the prompt's first <image>
// becomes one <image> per visual token, counted as LlavaProcessor does
// (see Counts), and the features replace those rows in order.
package llava

import (
	"encoding/json"
	"fmt"
	"image"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/tokenizer"
)

// ModelType is the config.json model_type this family handles.
const ModelType = "llava"

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
	FeatureLayer   json.RawMessage `json:"vision_feature_layer"`
	SelectStrategy string          `json:"vision_feature_select_strategy"`
}

// processorConfig is processor_config.json (LlavaProcessor's config).
type processorConfig struct {
	ImageToken     *string `json:"image_token"`
	PatchSize      *int    `json:"patch_size"`
	Additional     *int    `json:"num_additional_image_tokens"`
	SelectStrategy string  `json:"vision_feature_select_strategy"`
}

// Load implements models.Family (fp32 files, or the config's dtype).
func (f family) Load(dir string, raw []byte) (*models.Spec, error) {
	return f.LoadWithOptions(dir, raw, models.LoadOptions{})
}

// LoadWithOptions implements models.OptionsFamily.
func (family) LoadWithOptions(dir string, raw []byte, o models.LoadOptions) (*models.Spec, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("llava: parse %s/config.json: %w", dir, err)
	}
	text, err := models.ParseTextConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("llava: %s: %w", dir, err)
	}
	imageID := c.ImageTokenIndex // transformers.js: image_token_index ?? image_token_id
	if imageID == nil {
		imageID = c.ImageTokenID
	}
	if imageID == nil {
		return nil, fmt.Errorf("llava: %s/config.json: no image_token_index", dir)
	}
	dt, err := models.ResolveFiles("llava", dir, raw, o, Files...)
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
		return nil, fmt.Errorf("llava: %s/preprocessor_config.json: the image processor gives no fixed size (want do_center_crop with crop_size, or size with height and width)", dir)
	}
	var pc processorConfig
	if err := models.ReadJSON(dir, "processor_config.json", &pc); err != nil {
		// LlavaProcessor has uses_processor_config: transformers.js fails
		// without the file too.
		return nil, err
	}
	counts, err := newCounts(c, pc, W, H)
	if err != nil {
		return nil, fmt.Errorf("llava: %s: %w", dir, err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	if id, ok := tok.TokenID(counts.ImageToken); !ok || id != *imageID {
		return nil, fmt.Errorf("llava: %s: config.json image_token_index is %d but the tokenizer has %s = %d (found %v)",
			dir, *imageID, counts.ImageToken, id, ok)
	}
	eos := tok.Specials().EOS
	if len(eos) == 0 {
		return nil, fmt.Errorf("llava: %s: no eos_token_id in generation_config.json nor eos_token in tokenizer_config.json", dir)
	}
	spec := &models.Spec{
		Files: files,
		Preprocess: encoder.Preprocess{Width: W, Height: H, Resample: ip.Resample, RescaleFactor: float32(ip.RescaleFactor),
			Mean: f32x3(ip.Mean), Std: f32x3(ip.Std),
			// transformers.js resizes with sharp (a bicubic affine);
			// encoder.ResizerSharp reproduces it byte for byte.
			Resizer: encoder.ResizerSharp},
		Outputs:        models.VisionOutputs{Features: "image_features"},
		TokensPerImage: counts.TJS,
		GridH:          counts.GridH,
		GridW:          counts.GridW,
		Text:           text,
		ImageTokenID:   *imageID,
		EOS:            eos,
		Tokenizer:      tok,
	}
	if !ip.DoNormalize {
		spec.Preprocess.Std = [3]float32{1, 1, 1}
	}
	pr := &prompter{tok: tok, imageID: *imageID, counts: counts}
	if pr.conv, err = models.ChatTemplate(dir, BuiltinTemplate, "LLaVA-1.5's built-in template"); err != nil {
		return nil, fmt.Errorf("llava: %w", err)
	}
	spec.PreprocessImage = func(img *image.NRGBA) (models.Pixels, error) {
		data, w, h, err := ip.Process(img, spec.Preprocess.Resizer)
		if err != nil {
			return models.Pixels{}, err
		}
		if w != W || h != H {
			return models.Pixels{}, fmt.Errorf("llava: pixel_values of %d×%d, want %d×%d", w, h, W, H)
		}
		return models.Pixels{Data: data, Images: 1}, nil
	}
	spec.BuildImagePrompt = func(user string, px models.Pixels, n int) (models.Prompt, error) {
		return pr.build(user, n)
	}
	spec.BuildPrompt = pr.build
	spec.BuildChat = func(c models.Conversation, _ []models.Pixels, n []int) (models.Prompt, error) {
		return pr.buildChat(c, n)
	}
	return spec, nil
}

func f32x3(v [3]float64) [3]float32 { return [3]float32{float32(v[0]), float32(v[1]), float32(v[2])} }
