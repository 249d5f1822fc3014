// Package scenes is the model family of vlmrun's embedded default model
// (model_type "vlmrun_scenes"): a conv-stem ViT, an MLP projector and a
// Llama-style decoder trained on the synthetic scene grammar described in
// models/scenes-tiny/README.md.
//
// Layout: onnx/vision_encoder.onnx (one image → 64 tokens + CLS attention,
// pre-projector features and keys), onnx/embed_tokens.onnx,
// onnx/decoder_model_merged.onnx, and the per-layer form
// onnx/decoder_layer_{i}.onnx + onnx/decoder_head.onnx. The prompt is
// "<s>" + N × "<image>" + "caption :".
package scenes

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/tokenizer"
)

// ModelType is the config.json model_type this family handles.
const ModelType = "vlmrun_scenes"

func init() { models.Register(family{}, ModelType) }

type family struct{}

type config struct {
	ImageTokenID int    `json:"image_token_id"`
	ImageSeqLen  int    `json:"image_seq_len"`
	Prompt       string `json:"prompt"`
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
		return nil, fmt.Errorf("scenes: parse %s/config.json: %w", dir, err)
	}
	t := c.Text
	if c.ImageSeqLen <= 0 || c.Vision.PatchGrid*c.Vision.PatchGrid != c.ImageSeqLen ||
		t.Hidden <= 0 || t.Layers <= 0 || t.Heads <= 0 || t.KVHeads <= 0 || t.HeadDim <= 0 || t.Vocab <= 0 {
		return nil, fmt.Errorf("scenes: %s/config.json: incomplete or inconsistent dimensions", dir)
	}
	onnx := filepath.Join(dir, "onnx")
	files := models.Files{
		Vision:  filepath.Join(onnx, "vision_encoder.onnx"),
		Embed:   filepath.Join(onnx, "embed_tokens.onnx"),
		Decoder: filepath.Join(onnx, "decoder_model_merged.onnx"),
	}
	if err := models.RequireFiles(files.Vision, files.Embed, files.Decoder,
		filepath.Join(dir, "tokenizer.json")); err != nil {
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
		return nil, fmt.Errorf("scenes: %s: no eos token in generation_config.json or tokenizer_config.json", dir)
	}
	imgTok, ok := tok.IDToken(c.ImageTokenID)
	if !ok {
		return nil, fmt.Errorf("scenes: %s: image_token_id %d is not in the vocabulary", dir, c.ImageTokenID)
	}
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
	task := c.Prompt
	spec.BuildPrompt = func(user string, nImage int) (models.Prompt, error) {
		text := strings.TrimSpace(user)
		if text == "" {
			text = task
		}
		ids, err := tok.Encode(strings.Repeat(imgTok, nImage)+" "+text, true)
		if err != nil {
			return models.Prompt{}, fmt.Errorf("scenes: prompt: %w", err)
		}
		p := models.Prompt{IDs: ids}
		for i, id := range ids {
			if id == c.ImageTokenID {
				p.ImagePos = append(p.ImagePos, i)
			}
		}
		if len(p.ImagePos) != nImage {
			return p, fmt.Errorf("scenes: prompt has %d image tokens, want %d (does the text contain %q?)",
				len(p.ImagePos), nImage, imgTok)
		}
		return p, nil
	}
	return spec, nil
}
