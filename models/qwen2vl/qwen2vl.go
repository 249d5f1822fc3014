// Package qwen2vl is the Qwen2-VL family (config.json model_type
// "qwen2_vl", e.g. onnx-community/Qwen2-VL-2B-Instruct, and "qwen2_5_vl",
// whose vision graph names its grid input image_grid_thw), run from the ONNX
// exports transformers.js 4.3.1 opens for Qwen2VLForConditionalGeneration,
// with the same results:
//
//	onnx/vision_encoder{sfx}.onnx        pixel_values (patches, 1176), grid_thw (1, 3) → image_features (N, D)
//	onnx/embed_tokens{sfx}.onnx          input_ids → inputs_embeds
//	onnx/decoder_model_merged{sfx}.onnx  inputs_embeds, attention_mask, position_ids (3, 1, S), past KV → logits, present KV
//
// {sfx} is the dtype's file suffix (models.DTypeSuffix). The image goes
// through Qwen2VLImageProcessor (Processor: smart_resize to multiples of
// 28 px within min/max pixels, rescale, normalize, the frame repeated for
// the temporal patch of 2, 14 px patches in 2×2 merge-block order); the
// prompt's <|image_pad|> becomes one per merged patch; the decoder's
// position ids are M-RoPE's three rows from get_rope_index (RopeIndex).
// A video (models.Spec.PreprocessVideo) goes through Python's
// Qwen2VLVideoProcessor (VideoProcessor: frames paired into temporal
// patches, one video_grid_thw), its <|video_pad|> becomes one per merged
// patch, and RopeVideoIndex lays out its t ids (Qwen2.5-VL: in
// tokens_per_second time units).
package qwen2vl

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"

	"github.com/vlmrun/vlmrun/chattemplate"
	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pruning"
	"github.com/vlmrun/vlmrun/tokenizer"
)

// The config.json model_types this family handles: Qwen2-VL, and
// Qwen2.5-VL (the same processor and get_rope_index in transformers.js
// 4.3.1; the decoder sizes in text_config, the vision graph's grid input
// named image_grid_thw, window attention inside the vision graph).
const (
	ModelType   = "qwen2_vl"
	ModelType25 = "qwen2_5_vl"
)

// Files are the base names of the family's ONNX files.
var Files = []string{"vision_encoder", "embed_tokens", "decoder_model_merged"}

func init() {
	models.Register(family{}, ModelType)
	models.Register(family25{}, ModelType25)
}

type family struct{}

// family25 is Qwen2.5-VL: the same family, its decoder sizes read from
// text_config only (transformers.js's normalizer for qwen2_5_vl,
// model-formats.md §12.2).
type family25 struct{}

// Load implements models.Family.
func (f family25) Load(dir string, raw []byte) (*models.Spec, error) {
	return f.LoadWithOptions(dir, raw, models.LoadOptions{})
}

// LoadWithOptions implements models.OptionsFamily.
func (family25) LoadWithOptions(dir string, raw []byte, o models.LoadOptions) (*models.Spec, error) {
	t, err := models.ParseTextConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("qwen2vl: %s (qwen2_5_vl): %w", dir, err)
	}
	return load(dir, raw, o, &t)
}

// config is the part of config.json the family reads. qwen2_vl keeps the
// decoder's sizes at the top level (transformers.js reads them there,
// model-formats.md §12.2).
type config struct {
	Hidden      int  `json:"hidden_size"`
	Layers      int  `json:"num_hidden_layers"`
	Heads       int  `json:"num_attention_heads"`
	KVHeads     int  `json:"num_key_value_heads"`
	HeadDim     int  `json:"head_dim"`
	Vocab       int  `json:"vocab_size"`
	ImageID     *int `json:"image_token_id"`
	VideoID     *int `json:"video_token_id"`
	VisionStart *int `json:"vision_start_token_id"`
	Vision      struct {
		SpatialMerge    int      `json:"spatial_merge_size"`
		TokensPerSecond *float64 `json:"tokens_per_second"`
	} `json:"vision_config"`
	RopeScaling struct {
		MRoPESection []int `json:"mrope_section"`
	} `json:"rope_scaling"`
}

// Load implements models.Family (fp32 files, or the config's dtype).
func (f family) Load(dir string, raw []byte) (*models.Spec, error) {
	return f.LoadWithOptions(dir, raw, models.LoadOptions{})
}

// LoadWithOptions implements models.OptionsFamily.
func (family) LoadWithOptions(dir string, raw []byte, o models.LoadOptions) (*models.Spec, error) {
	return load(dir, raw, o, nil)
}

// load reads the folder; text, when not nil, are the decoder sizes
// (Qwen2.5-VL's text_config), otherwise they come from the top level.
func load(dir string, raw []byte, o models.LoadOptions, text *models.Text) (*models.Spec, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("qwen2vl: parse %s/config.json: %w", dir, err)
	}
	if text != nil {
		c.Hidden, c.Layers, c.Heads, c.KVHeads, c.HeadDim, c.Vocab = text.Hidden, text.Layers, text.Heads, text.KVHeads,
			text.HeadDim, text.Vocab
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.HeadDim == 0 && c.Heads > 0 {
		c.HeadDim = c.Hidden / c.Heads
	}
	if c.Hidden <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.Vocab <= 0 || c.HeadDim <= 0 {
		return nil, fmt.Errorf("qwen2vl: %s/config.json needs hidden_size, num_hidden_layers, num_attention_heads and vocab_size at the top level", dir)
	}
	if c.ImageID == nil || c.VisionStart == nil {
		return nil, fmt.Errorf("qwen2vl: %s/config.json: needs image_token_id and vision_start_token_id", dir)
	}
	video := -1
	if c.VideoID != nil {
		video = *c.VideoID
	}
	merge := c.Vision.SpatialMerge
	if merge == 0 {
		merge = 2 // get_rope_index's default
	}
	dt, err := models.ResolveFiles("qwen2vl", dir, raw, o, Files...)
	if err != nil {
		return nil, err
	}
	files := models.Files{Vision: dt.Path(dir, "vision_encoder"), Embed: dt.Path(dir, "embed_tokens"),
		Decoder: dt.Path(dir, "decoder_model_merged")}
	proc, err := ReadProcessor(dir)
	if err != nil {
		return nil, err
	}
	if proc.Merge != merge {
		// The processor expands with merge_size, get_rope_index lays the
		// grid out with spatial_merge_size: both must agree.
		return nil, fmt.Errorf("qwen2vl: %s: preprocessor_config.json merge_size %d but config.json vision_config.spatial_merge_size %d",
			dir, proc.Merge, merge)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	if id, ok := tok.TokenID(ImageToken); !ok || id != *c.ImageID {
		return nil, fmt.Errorf("qwen2vl: %s: config.json image_token_id is %d but the tokenizer has %s = %d (found %v)",
			dir, *c.ImageID, ImageToken, id, ok)
	}
	if id, ok := tok.TokenID(VisionStartToken); !ok || id != *c.VisionStart {
		return nil, fmt.Errorf("qwen2vl: %s: config.json vision_start_token_id is %d but the tokenizer has %s = %d (found %v)",
			dir, *c.VisionStart, VisionStartToken, id, ok)
	}
	eos := tok.Specials().EOS
	if len(eos) == 0 {
		return nil, fmt.Errorf("qwen2vl: %s: no eos_token_id in generation_config.json nor eos_token in tokenizer_config.json", dir)
	}
	if video >= 0 {
		if id, ok := tok.TokenID(VideoToken); !ok || id != video {
			return nil, fmt.Errorf("qwen2vl: %s: config.json video_token_id is %d but the tokenizer has %s = %d (found %v)",
				dir, video, VideoToken, id, ok)
		}
	}
	pr := &prompter{tok: tok, imageID: *c.ImageID, videoID: video, merge: merge}
	if pr.tmpl, err = chattemplate.Load(dir); errors.Is(err, chattemplate.ErrNoTemplate) {
		pr.tmpl = nil
	} else if err != nil {
		return nil, fmt.Errorf("qwen2vl: %w", err)
	}
	if pr.conv = pr.tmpl; pr.conv == nil {
		pr.conv = &chattemplate.Chat{Default: BuiltinTemplate, Source: "Qwen2-VL's built-in template"}
	}
	rope := RopeTokens{Image: *c.ImageID, Video: video, VisionStart: *c.VisionStart, Merge: merge}
	if text != nil { // Qwen2.5-VL: video t ids in time units (Qwen2_5_VLVisionConfig's default 4)
		rope.TokensPerSecond = 4
		if tps := c.Vision.TokensPerSecond; tps != nil {
			if !(*tps > 0) || math.IsInf(*tps, 0) {
				return nil, fmt.Errorf("qwen2vl: %s/config.json: vision_config.tokens_per_second %v", dir, *tps)
			}
			rope.TokensPerSecond = *tps
		}
	}
	patchDim := 3 * proc.TemporalPatch * proc.PatchSize * proc.PatchSize
	spec := &models.Spec{
		Files: files,
		Preprocess: encoder.Preprocess{Resample: proc.Base.Resample, RescaleFactor: float32(proc.Base.RescaleFactor),
			// transformers.js resizes with sharp (a bicubic affine);
			// encoder.ResizerSharp reproduces it byte for byte (images
			// already at their smart_resize size are not resized in either).
			Resizer: encoder.ResizerSharp},
		Outputs:      models.VisionOutputs{Features: "image_features"},
		Text:         models.Text{Hidden: c.Hidden, Layers: c.Layers, Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.HeadDim, Vocab: c.Vocab},
		ImageTokenID: *c.ImageID,
		EOS:          eos,
		Tokenizer:    tok,
	}
	pixels := func(img *image.NRGBA, o models.ImageOptions) (models.Pixels, error) {
		maxPx := 0
		if o.MaxImageTokens > 0 {
			f := proc.PatchSize * proc.Merge
			maxPx = o.MaxImageTokens * f * f
		}
		data, g, err := proc.Process(img, spec.Preprocess.Resizer, maxPx)
		if err != nil {
			return models.Pixels{}, err
		}
		if o.MaxImageTokens > 0 && g.Tokens(merge) > o.MaxImageTokens {
			return models.Pixels{}, fmt.Errorf("qwen2vl: a %d×%d image makes at least %d visual tokens (grid %d×%d), over the budget of %d",
				img.Rect.Dx(), img.Rect.Dy(), g.Tokens(merge), g[1]/merge, g[2]/merge, o.MaxImageTokens)
		}
		return models.Pixels{Data: data, Images: 1, Grids: [][3]int{g}, PatchDim: patchDim}, nil
	}
	spec.PreprocessImage = func(img *image.NRGBA) (models.Pixels, error) { return pixels(img, models.ImageOptions{}) }
	spec.PreprocessImageWith = pixels
	spec.BuildImagePrompt = func(user string, px models.Pixels, n int) (models.Prompt, error) {
		return pr.build(user, grids(px), n)
	}
	spec.BuildChat = func(c models.Conversation, px []models.Pixels, n []int) (models.Prompt, error) {
		if c.Videos() > 0 {
			return pr.buildMixed(c, px, n)
		}
		var g []Grid
		for _, q := range px {
			g = append(g, grids(q)...)
		}
		return pr.buildChat(c, g, n)
	}
	spec.BuildPrompt = func(user string, n int) (models.Prompt, error) {
		return models.Prompt{}, fmt.Errorf("qwen2vl: the prompt depends on the image's grid (BuildImagePrompt)")
	}
	spec.Positions = func(p models.Prompt, px models.Pixels) ([]int64, int, int64, error) {
		var pos []int64
		var next int64
		var err error
		if px.GridVideo != nil {
			pos, next, err = mixedPositions(p.IDs, px, rope)
		} else if px.Video {
			g := grids(px)
			if len(g) != 1 {
				return nil, 0, 0, fmt.Errorf("qwen2vl: a video with %d grids", len(g))
			}
			pos, next, err = RopeVideoIndex(p.IDs, nil, []VideoGrid{{Grid: g[0], Seconds: px.SecondsPerGrid}}, rope)
		} else {
			pos, next, err = RopeIndex(p.IDs, grids(px), rope)
		}
		return pos, 3, next, err
	}
	if video >= 0 {
		vp, err := ReadVideoProcessor(dir)
		if err != nil {
			return nil, err
		}
		if vp.Merge != merge {
			return nil, fmt.Errorf("qwen2vl: %s: the video processor's merge_size %d but config.json vision_config.spatial_merge_size %d",
				dir, vp.Merge, merge)
		}
		if vp.PatchSize != proc.PatchSize || vp.TemporalPatch != proc.TemporalPatch {
			return nil, fmt.Errorf("qwen2vl: %s: the video processor's patches (%d px, temporal %d) differ from the image processor's (%d px, temporal %d)",
				dir, vp.PatchSize, vp.TemporalPatch, proc.PatchSize, proc.TemporalPatch)
		}
		spec.PreprocessVideo = func(frames []*image.NRGBA, v models.Video, o models.ImageOptions) (models.Pixels, error) {
			return videoPixels(vp, frames, v, o, patchDim)
		}
		spec.ChatVideo = true
		spec.VideoFramePixels = func(px models.Pixels, gh, gw int) (*pruning.FramePixels, error) {
			return VideoFramePixels(px, vp, gh, gw)
		}
		spec.BuildVideoPrompt = func(user string, v models.Video, n int) (models.Prompt, error) {
			if v.Pixels == nil || !v.Pixels.Video || len(v.Pixels.Grids) != 1 {
				return models.Prompt{}, fmt.Errorf("qwen2vl: the video prompt needs the video's grid (Spec.PreprocessVideo)")
			}
			return pr.buildVideo(user, Grid(v.Pixels.Grids[0]), n)
		}
	}
	return spec, nil
}

func grids(px models.Pixels) []Grid {
	g := make([]Grid, len(px.Grids))
	for i, t := range px.Grids {
		g[i] = Grid(t)
	}
	return g
}

// videoPixels is the family's models.Spec.PreprocessVideo: the frames
// through the video processor, under o.MaxImageTokens visual tokens per
// temporal patch (max_pixels lowered as for an image), with the seconds
// per temporal patch (temporal_patch_size / fps, VideoFPS).
func videoPixels(vp VideoProcessor, frames []*image.NRGBA, v models.Video, o models.ImageOptions, patchDim int) (models.Pixels, error) {
	maxPx := 0
	if o.MaxImageTokens > 0 {
		f := vp.PatchSize * vp.Merge
		maxPx = o.MaxImageTokens * f * f
	}
	data, g, err := vp.Process(frames, maxPx)
	if err != nil {
		return models.Pixels{}, err
	}
	if o.MaxImageTokens > 0 && g.Tokens(vp.Merge)/g[0] > o.MaxImageTokens {
		return models.Pixels{}, fmt.Errorf("qwen2vl: a %d×%d frame makes at least %d visual tokens (grid %d×%d), over the budget of %d",
			frames[0].Rect.Dx(), frames[0].Rect.Dy(), g.Tokens(vp.Merge)/g[0], g[1]/vp.Merge, g[2]/vp.Merge, o.MaxImageTokens)
	}
	return models.Pixels{Data: data, Images: 1, Grids: [][3]int{g}, PatchDim: patchDim, Video: true,
		SecondsPerGrid: float64(vp.TemporalPatch) / VideoFPS(v)}, nil
}
