// Package scenesvqa is the model family of scenes-vqa (model_type
// "vlmrun_scenes_vqa"): a conv-stem ViT, an MLP projector and a Llama-style
// decoder trained to answer short questions about synthetic scenes and
// about sequences of 2–4 frames (models/scenes-vqa/README.md).
//
// Layout: onnx/vision_encoder.onnx (one image → 64 tokens + CLS attention,
// pre-projector features and keys), onnx/embed_tokens.onnx and
// onnx/decoder_model_merged.onnx (no per-layer files). The prompt is
//
//	<s> <frame_1> <image>×64 [<frame_2> <image>×64 ...] question
//
// with one marker per frame; a single image is one frame. The question is
// required (the model has no default task) and every word of it must be in
// the vocabulary.
package scenesvqa

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/tokenizer"
)

// ModelType is the config.json model_type this family handles.
const ModelType = "vlmrun_scenes_vqa"

func init() { models.Register(family{}, ModelType) }

type family struct{}

type config struct {
	ImageTokenID int      `json:"image_token_id"`
	ImageSeqLen  int      `json:"image_seq_len"`
	FrameTokens  []string `json:"frame_tokens"`
	MaxFrames    int      `json:"max_frames"`
	Vision       struct {
		ImageSize int `json:"image_size"`
		PatchGrid int `json:"patch_grid"`
	} `json:"vision_config"`
	Text struct {
		Hidden  int `json:"hidden_size"`
		Layers  int `json:"num_hidden_layers"`
		Heads   int `json:"num_attention_heads"`
		KVHeads int `json:"num_key_value_heads"`
		HeadDim int `json:"head_dim"`
		Vocab   int `json:"vocab_size"`
	} `json:"text_config"`
}

type genConfig struct {
	MaxNewTokens int `json:"max_new_tokens"`
}

// Load implements models.Family.
func (family) Load(dir string, raw []byte) (*models.Spec, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("scenesvqa: parse %s/config.json: %w", dir, err)
	}
	t := c.Text
	if c.ImageSeqLen <= 0 || c.Vision.PatchGrid*c.Vision.PatchGrid != c.ImageSeqLen ||
		t.Hidden <= 0 || t.Layers <= 0 || t.Heads <= 0 || t.KVHeads <= 0 || t.HeadDim <= 0 || t.Vocab <= 0 ||
		c.MaxFrames < 1 || len(c.FrameTokens) != c.MaxFrames {
		return nil, fmt.Errorf("scenesvqa: %s/config.json: incomplete or inconsistent dimensions", dir)
	}
	onnx := filepath.Join(dir, "onnx")
	files := models.Files{
		Vision:  filepath.Join(onnx, "vision_encoder.onnx"),
		Embed:   filepath.Join(onnx, "embed_tokens.onnx"),
		Decoder: filepath.Join(onnx, "decoder_model_merged.onnx"),
	}
	if err := models.RequireFiles(files.Vision, files.Embed, files.Decoder, filepath.Join(dir, "tokenizer.json")); err != nil {
		return nil, err
	}
	pre, err := models.ReadFixedPreprocess(dir)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	var gen genConfig
	if err := models.ReadJSON(dir, "generation_config.json", &gen); err != nil {
		return nil, err
	}
	sp := tok.Specials()
	if len(sp.EOS) == 0 {
		return nil, fmt.Errorf("scenesvqa: %s: no eos token", dir)
	}
	imgTok, ok := tok.IDToken(c.ImageTokenID)
	if !ok {
		return nil, fmt.Errorf("scenesvqa: %s: image_token_id %d is not in the vocabulary", dir, c.ImageTokenID)
	}
	for _, f := range c.FrameTokens {
		if _, ok := tok.TokenID(f); !ok {
			return nil, fmt.Errorf("scenesvqa: %s: frame token %q is not in the vocabulary", dir, f)
		}
	}
	unk, hasUnk := tok.TokenID("<unk>")
	spec := &models.Spec{
		Files:          files,
		Preprocess:     pre,
		Outputs:        models.VisionOutputs{Features: "image_features", PreProj: "patch_features", CLSAttn: "cls_attention", Keys: "patch_keys"},
		TokensPerImage: c.ImageSeqLen,
		GridH:          c.Vision.PatchGrid,
		GridW:          c.Vision.PatchGrid,
		Text:           models.Text{Hidden: t.Hidden, Layers: t.Layers, Heads: t.Heads, KVHeads: t.KVHeads, HeadDim: t.HeadDim, Vocab: t.Vocab},
		ImageTokenID:   c.ImageTokenID,
		MaxNewTokens:   gen.MaxNewTokens,
		EOS:            sp.EOS,
		Tokenizer:      tok,
	}
	build := func(user string, frames int) (models.Prompt, error) {
		q := strings.TrimSpace(user)
		if q == "" {
			return models.Prompt{}, fmt.Errorf("scenesvqa: the model answers questions: give one (--prompt), e.g. %q",
				"what colour is the object at b3 ?")
		}
		if frames < 1 || frames > c.MaxFrames {
			return models.Prompt{}, fmt.Errorf("scenesvqa: %d frames, the model takes 1 to %d", frames, c.MaxFrames)
		}
		qids, err := tok.Encode(q, false)
		if err != nil {
			return models.Prompt{}, fmt.Errorf("scenesvqa: prompt: %w", err)
		}
		if hasUnk {
			var bad []string
			for i, id := range qids {
				if id == unk {
					bad = append(bad, strings.Fields(q)[min(i, len(strings.Fields(q))-1)])
				}
			}
			if len(bad) > 0 {
				return models.Prompt{}, fmt.Errorf("scenesvqa: words not in the model's vocabulary: %v (questions use the grammar of %s/README.md)",
					bad, dir)
			}
		}
		var b strings.Builder
		for f := 0; f < frames; f++ {
			b.WriteString(c.FrameTokens[f])
			b.WriteString(strings.Repeat(imgTok, c.ImageSeqLen))
			b.WriteString(" ")
		}
		b.WriteString(q)
		ids, err := tok.Encode(b.String(), true)
		if err != nil {
			return models.Prompt{}, fmt.Errorf("scenesvqa: prompt: %w", err)
		}
		p := models.Prompt{IDs: ids}
		for i, id := range ids {
			if id == c.ImageTokenID {
				p.ImagePos = append(p.ImagePos, i)
			}
		}
		if len(p.ImagePos) != frames*c.ImageSeqLen {
			return p, fmt.Errorf("scenesvqa: prompt has %d image tokens, want %d (does the question contain %q?)",
				len(p.ImagePos), frames*c.ImageSeqLen, imgTok)
		}
		return p, nil
	}
	spec.BuildPrompt = func(user string, nImage int) (models.Prompt, error) {
		if nImage != c.ImageSeqLen {
			return models.Prompt{}, fmt.Errorf("scenesvqa: %d visual tokens, want %d per image", nImage, c.ImageSeqLen)
		}
		return build(user, 1)
	}
	spec.BuildImagePrompt = func(user string, px models.Pixels, nVisual int) (models.Prompt, error) {
		if px.Images < 1 || nVisual != px.Images*c.ImageSeqLen {
			return models.Prompt{}, fmt.Errorf("scenesvqa: %d visual tokens for %d images, want %d per image",
				nVisual, px.Images, c.ImageSeqLen)
		}
		return build(user, px.Images)
	}
	return spec, nil
}
