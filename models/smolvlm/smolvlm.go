// Package smolvlm is the SmolVLM / Idefics3 model family (config.json
// model_type "idefics3" for SmolVLM, "smolvlm" for SmolVLM2), run from the
// ONNX exports transformers.js 4.3.1 uses, with the same results:
//
//	onnx/vision_encoder{sfx}.onnx        pixel_values (1, tiles, 3, T, T) + pixel_attention_mask → image_features
//	onnx/embed_tokens{sfx}.onnx          input_ids → inputs_embeds
//	onnx/decoder_model_merged{sfx}.onnx  inputs_embeds, attention_mask, position_ids, past KV → logits, present KV
//
// where {sfx} is the dtype's file suffix (models.DTypeSuffix). An image is
// split into T×T tiles plus a global image (see imageProcessor); every tile
// gives image_seq_len visual tokens, and the prompt is the chat template with
// each tile's tokens framed by <fake_token_around_image> and its
// <row_r_col_c> (or <global-img>) token.
package smolvlm

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"

	"github.com/vlmrun/vlmrun/chattemplate"
	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/tokenizer"
)

// ModelTypes are the config.json model types this family handles.
var ModelTypes = []string{"idefics3", "smolvlm"}

// Files are the base names of the family's ONNX files.
var Files = []string{"vision_encoder", "embed_tokens", "decoder_model_merged"}

func init() { models.Register(family{}, ModelTypes...) }

type family struct{}

type config struct {
	ImageTokenID    *int `json:"image_token_id"`
	ImageTokenIndex *int `json:"image_token_index"`
	Text            struct {
		Hidden  int `json:"hidden_size"`
		Layers  int `json:"num_hidden_layers"`
		Heads   int `json:"num_attention_heads"`
		KVHeads int `json:"num_key_value_heads"`
		HeadDim int `json:"head_dim"`
		Vocab   int `json:"vocab_size"`
	} `json:"text_config"`
}

type preprocessorConfig struct {
	DoImageSplitting *bool `json:"do_image_splitting"`
	DoResize         *bool `json:"do_resize"`
	MaxImageSize     struct {
		LongestEdge int `json:"longest_edge"`
	} `json:"max_image_size"`
	Size struct {
		LongestEdge int `json:"longest_edge"`
	} `json:"size"`
	Resample      *int      `json:"resample"`
	DoRescale     *bool     `json:"do_rescale"`
	RescaleFactor *float64  `json:"rescale_factor"`
	DoNormalize   *bool     `json:"do_normalize"`
	ImageMean     []float64 `json:"image_mean"`
	ImageStd      []float64 `json:"image_std"`
}

type processorConfig struct {
	ImageSeqLen int `json:"image_seq_len"`
}

// Load implements models.Family (fp32 files, or the config's dtype).
func (f family) Load(dir string, raw []byte) (*models.Spec, error) {
	return f.LoadWithOptions(dir, raw, models.LoadOptions{})
}

// LoadWithOptions implements models.OptionsFamily.
func (family) LoadWithOptions(dir string, raw []byte, o models.LoadOptions) (*models.Spec, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("smolvlm: parse %s/config.json: %w", dir, err)
	}
	t := c.Text
	if t.HeadDim == 0 && t.Heads > 0 {
		t.HeadDim = t.Hidden / t.Heads
	}
	if t.KVHeads == 0 {
		t.KVHeads = t.Heads
	}
	if t.Hidden <= 0 || t.Layers <= 0 || t.Heads <= 0 || t.Vocab <= 0 {
		return nil, fmt.Errorf("smolvlm: %s/config.json: text_config needs hidden_size, num_hidden_layers, num_attention_heads and vocab_size", dir)
	}
	imageID := c.ImageTokenID
	if imageID == nil {
		imageID = c.ImageTokenIndex
	}
	if imageID == nil {
		return nil, fmt.Errorf("smolvlm: %s/config.json: no image_token_id", dir)
	}
	dt, err := models.ResolveFiles("smolvlm", dir, raw, o, Files...)
	if err != nil {
		return nil, err
	}
	files := models.Files{
		Vision:  dt.Path(dir, "vision_encoder"),
		Embed:   dt.Path(dir, "embed_tokens"),
		Decoder: dt.Path(dir, "decoder_model_merged"),
	}
	var pc preprocessorConfig
	if err := models.ReadJSON(dir, "preprocessor_config.json", &pc); err != nil {
		return nil, err
	}
	var proc processorConfig
	if err := models.ReadJSON(dir, "processor_config.json", &proc); err != nil {
		return nil, err
	}
	ip, err := newImageProcessor(dir, pc)
	if err != nil {
		return nil, err
	}
	if proc.ImageSeqLen <= 0 {
		return nil, fmt.Errorf("smolvlm: %s/processor_config.json: image_seq_len must be positive", dir)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	if id, ok := tok.TokenID(imageToken); !ok || id != *imageID {
		return nil, fmt.Errorf("smolvlm: %s: config.json image_token_id is %d but the tokenizer has %s = %d (found %v)",
			dir, *imageID, imageToken, id, ok)
	}
	for _, name := range []string{fakeToken, globalToken, "<|im_start|>", "<end_of_utterance>"} {
		if _, ok := tok.TokenID(name); !ok {
			return nil, fmt.Errorf("smolvlm: %s: the tokenizer has no %s token", dir, name)
		}
	}
	eos := tok.Specials().EOS
	if len(eos) == 0 {
		return nil, fmt.Errorf("smolvlm: %s: no eos_token_id in generation_config.json nor eos_token in tokenizer_config.json", dir)
	}
	pr := &prompter{tok: tok, imageID: *imageID, seqLen: proc.ImageSeqLen, defaultText: DefaultPrompt}
	if pr.tmpl, err = chattemplate.Load(dir); errors.Is(err, chattemplate.ErrNoTemplate) {
		pr.tmpl = nil
	} else if err != nil {
		return nil, fmt.Errorf("smolvlm: %w", err)
	}
	if pr.conv = pr.tmpl; pr.conv == nil {
		pr.conv = &chattemplate.Chat{Default: BuiltinTemplate, Source: "SmolVLM's built-in template"}
	}
	grid := 0
	for g := 1; g*g <= proc.ImageSeqLen; g++ {
		if g*g == proc.ImageSeqLen {
			grid = g
		}
	}
	spec := &models.Spec{
		Files: files,
		Preprocess: encoder.Preprocess{Width: ip.Tile, Height: ip.Tile, Resample: ip.Resample,
			RescaleFactor: ip.Norm.RescaleFactor, Mean: ip.Norm.Mean, Std: ip.Norm.Std,
			// transformers.js resizes with sharp (lanczos3);
			// encoder.ResizerSharp reproduces it byte for byte.
			Resizer: encoder.ResizerSharp},
		Outputs:        models.VisionOutputs{Features: "image_features"},
		TokensPerImage: proc.ImageSeqLen,
		GridH:          grid,
		GridW:          grid,
		Text: models.Text{Hidden: t.Hidden, Layers: t.Layers, Heads: t.Heads, KVHeads: t.KVHeads,
			HeadDim: t.HeadDim, Vocab: t.Vocab},
		ImageTokenID: *imageID,
		EOS:          eos,
		Tokenizer:    tok,
	}
	spec.PreprocessImage = func(img *image.NRGBA) (models.Pixels, error) {
		p := ip
		p.Resizer = spec.Preprocess.Resizer
		return p.Process(img)
	}
	var vp *videoProcessor
	if takesVideo(raw) { // SmolVLM2: its video processor resizes video frames (videoproc.go)
		data, err := os.ReadFile(filepath.Join(dir, "preprocessor_config.json"))
		if err != nil {
			return nil, fmt.Errorf("smolvlm: %w", err)
		}
		if vp, err = newVideoProcessor(data, pc, ip); err != nil {
			return nil, err
		}
	}
	spec.PreprocessImageWith = func(img *image.NRGBA, o models.ImageOptions) (models.Pixels, error) {
		if o.VideoFrame && vp != nil {
			if o.MaxImageTokens > 0 && o.MaxImageTokens < proc.ImageSeqLen {
				return models.Pixels{}, fmt.Errorf("smolvlm: a video frame needs %d visual tokens, the budget is %d",
					proc.ImageSeqLen, o.MaxImageTokens)
			}
			return vp.Process(img)
		}
		p := ip
		p.Resizer = spec.Preprocess.Resizer
		return p.processBudget(img, proc.ImageSeqLen, o)
	}
	spec.BuildImagePrompt = pr.build
	spec.BuildChat = pr.buildChat
	if takesVideo(raw) { // SmolVLM2: frame count, length and timestamps in the text (video.go)
		spec.BuildVideoPrompt = pr.buildVideo
	}
	if spec.StreamPrompt, err = pr.streamPrompt(); err != nil { // stream.go
		return nil, err
	}
	spec.BuildPrompt = func(user string, n int) (models.Prompt, error) {
		return pr.build(user, models.Pixels{Images: 1}, n)
	}
	return spec, nil
}

// newImageProcessor reads preprocessor_config.json.
func newImageProcessor(dir string, pc preprocessorConfig) (imageProcessor, error) {
	name := filepath.Join(dir, "preprocessor_config.json")
	ip := imageProcessor{
		LongestEdge: pc.Size.LongestEdge, Tile: pc.MaxImageSize.LongestEdge,
		Split: pc.DoImageSplitting == nil || *pc.DoImageSplitting, Resample: encoder.ResampleBilinear,
		Norm: encoder.Preprocess{RescaleFactor: 1.0 / 255, Std: [3]float32{1, 1, 1}},
	}
	if ip.Tile <= 0 {
		return ip, fmt.Errorf("smolvlm: %s: max_image_size.longest_edge must be positive", name)
	}
	if pc.DoResize != nil && !*pc.DoResize {
		return ip, fmt.Errorf("smolvlm: %s: do_resize=false is not supported", name)
	}
	if ip.LongestEdge <= 0 {
		return ip, fmt.Errorf("smolvlm: %s: size.longest_edge must be positive", name)
	}
	if pc.Resample != nil {
		r, err := encoder.ParseResample(*pc.Resample)
		if err != nil {
			return ip, fmt.Errorf("smolvlm: %s: %w", name, err)
		}
		ip.Resample = r
	}
	if pc.RescaleFactor != nil {
		ip.Norm.RescaleFactor = float32(*pc.RescaleFactor)
	}
	if pc.DoRescale != nil && !*pc.DoRescale {
		ip.Norm.RescaleFactor = 1
	}
	if pc.DoNormalize == nil || *pc.DoNormalize {
		if len(pc.ImageMean) != 3 || len(pc.ImageStd) != 3 {
			return ip, fmt.Errorf("smolvlm: %s: image_mean and image_std need 3 values", name)
		}
		for i := 0; i < 3; i++ {
			if pc.ImageStd[i] == 0 {
				return ip, fmt.Errorf("smolvlm: %s: image_std has a zero", name)
			}
			ip.Norm.Mean[i], ip.Norm.Std[i] = float32(pc.ImageMean[i]), float32(pc.ImageStd[i])
		}
	}
	return ip, nil
}
