// Package florence2 is the Florence-2 model family (config.json model_type
// "florence2", e.g. onnx-community/Florence-2-base-ft), an encoder-decoder
// run from the ONNX exports transformers.js 4.3.1 uses, with the same
// results:
//
//	onnx/vision_encoder{sfx}.onnx        pixel_values (1, 3, 768, 768) → image_features (1, 577, D)
//	onnx/embed_tokens{sfx}.onnx          input_ids → inputs_embeds (shared by encoder and decoder)
//	onnx/encoder_model{sfx}.onnx         inputs_embeds (image features then prompt), attention_mask → last_hidden_state
//	onnx/decoder_model_merged{sfx}.onnx  inputs_embeds, encoder_hidden_states, encoder_attention_mask,
//	                                     past_key_values.N.{decoder,encoder}.{key,value}, use_cache_branch → logits, present.*
//
// The prompt is a task token (<CAPTION>, <DETAILED_CAPTION>,
// <MORE_DETAILED_CAPTION>, ...) mapped through the task tables of
// preprocessor_config.json, or free text; generation starts from the decoder
// start token with no-repeat-n-gram, forced-BOS and forced-EOS processors.
package florence2

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/tokenizer"
)

// ModelType is the config.json model_type this family handles.
const ModelType = "florence2"

// DefaultTask is the prompt when none is given.
const DefaultTask = "<CAPTION>"

// Files are the base names of the family's ONNX files.
var Files = []string{"vision_encoder", "embed_tokens", "encoder_model", "decoder_model_merged"}

func init() { models.Register(family{}, ModelType) }

type family struct{}

// textConfig holds the fields of config.json (top level, then text_config
// over it, then generation_config.json over both: transformers.js's
// generation-config merge).
type textConfig struct {
	DModel        int   `json:"d_model"`
	DecoderLayers int   `json:"decoder_layers"`
	DecoderHeads  int   `json:"decoder_attention_heads"`
	Vocab         int   `json:"vocab_size"`
	BOS           *int  `json:"bos_token_id"`
	DecoderStart  *int  `json:"decoder_start_token_id"`
	ForcedBOS     *int  `json:"forced_bos_token_id"`
	ForcedEOS     *int  `json:"forced_eos_token_id"`
	NoRepeatNGram *int  `json:"no_repeat_ngram_size"`
	EncDec        *bool `json:"is_encoder_decoder"`
}

// overlay copies the fields set in o over c.
func (c *textConfig) overlay(o textConfig) {
	for _, p := range []struct{ dst, src *int }{{&c.DModel, &o.DModel}, {&c.DecoderLayers, &o.DecoderLayers},
		{&c.DecoderHeads, &o.DecoderHeads}, {&c.Vocab, &o.Vocab}} {
		if *p.src != 0 {
			*p.dst = *p.src
		}
	}
	for _, p := range []struct{ dst, src **int }{{&c.BOS, &o.BOS}, {&c.DecoderStart, &o.DecoderStart},
		{&c.ForcedBOS, &o.ForcedBOS}, {&c.ForcedEOS, &o.ForcedEOS}, {&c.NoRepeatNGram, &o.NoRepeatNGram}} {
		if *p.src != nil {
			*p.dst = *p.src
		}
	}
	if o.EncDec != nil {
		c.EncDec = o.EncDec
	}
}

// Load implements models.Family (fp32 files, or the config's dtype).
func (f family) Load(dir string, raw []byte) (*models.Spec, error) {
	return f.LoadWithOptions(dir, raw, models.LoadOptions{})
}

// LoadWithOptions implements models.OptionsFamily.
func (family) LoadWithOptions(dir string, raw []byte, o models.LoadOptions) (*models.Spec, error) {
	var top textConfig
	var nested struct {
		Text textConfig `json:"text_config"`
	}
	if err := json.Unmarshal(raw, &top); err == nil {
		err = json.Unmarshal(raw, &nested)
	} else {
		return nil, fmt.Errorf("florence2: parse %s/config.json: %w", dir, err)
	}
	c := top
	c.overlay(nested.Text)
	var gen textConfig
	if data, err := os.ReadFile(filepath.Join(dir, "generation_config.json")); err == nil {
		if err := json.Unmarshal(data, &gen); err != nil {
			return nil, fmt.Errorf("florence2: parse %s/generation_config.json: %w", dir, err)
		}
		c.overlay(gen)
	}
	if c.DModel <= 0 || c.DecoderLayers <= 0 || c.DecoderHeads <= 0 || c.Vocab <= 0 || c.DModel%c.DecoderHeads != 0 {
		return nil, fmt.Errorf("florence2: %s/config.json: text_config needs d_model, decoder_layers, decoder_attention_heads and vocab_size", dir)
	}
	dt, err := models.ResolveFiles("florence2", dir, raw, o, Files...)
	if err != nil {
		return nil, err
	}
	files := models.Files{Vision: dt.Path(dir, "vision_encoder"), Embed: dt.Path(dir, "embed_tokens"),
		Encoder: dt.Path(dir, "encoder_model"), Decoder: dt.Path(dir, "decoder_model_merged")}
	pre, err := models.ReadFixedPreprocess(dir)
	if err != nil {
		return nil, err
	}
	pre.Resizer = encoder.ResizerSharp
	tasks, err := readTasks(dir)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	eos := tok.Specials().EOS
	if len(eos) == 0 {
		return nil, fmt.Errorf("florence2: %s: no eos_token_id in generation_config.json nor eos_token in tokenizer_config.json", dir)
	}
	pad := tok.Specials().PAD
	if pad < 0 || pad >= c.Vocab {
		pad = eos[0]
	}
	ss := &models.Seq2Seq{ForcedBOS: -1, ForcedEOS: -1}
	switch {
	case c.DecoderStart != nil:
		ss.DecoderStart = *c.DecoderStart
	case c.BOS != nil:
		ss.DecoderStart = *c.BOS
	default:
		return nil, fmt.Errorf("florence2: %s: no decoder_start_token_id or bos_token_id", dir)
	}
	if c.ForcedBOS != nil {
		ss.ForcedBOS = *c.ForcedBOS
	}
	if c.ForcedEOS != nil {
		ss.ForcedEOS = *c.ForcedEOS
	}
	if c.NoRepeatNGram != nil {
		ss.NoRepeatNGram = *c.NoRepeatNGram
	}
	spec := &models.Spec{
		Files:      files,
		Preprocess: pre,
		Outputs:    models.VisionOutputs{Features: "image_features"},
		Text: models.Text{Hidden: c.DModel, Layers: c.DecoderLayers, Heads: c.DecoderHeads,
			KVHeads: c.DecoderHeads, HeadDim: c.DModel / c.DecoderHeads, Vocab: c.Vocab},
		ImageTokenID: pad,
		EOS:          eos,
		Tokenizer:    tok,
		Seq2Seq:      ss,
	}
	spec.BuildPrompt = func(user string, n int) (models.Prompt, error) {
		ids, err := tok.Encode(tasks.construct(user), true)
		if err != nil {
			return models.Prompt{}, fmt.Errorf("florence2: prompt: %w", err)
		}
		// The image features come first in the encoder input: n
		// placeholders (the pad token) that the pipeline replaces.
		p := models.Prompt{IDs: make([]int, 0, n+len(ids))}
		for i := 0; i < n; i++ {
			p.IDs = append(p.IDs, pad)
			p.ImagePos = append(p.ImagePos, i)
		}
		p.IDs = append(p.IDs, ids...)
		return p, nil
	}
	return spec, nil
}

// tasks are the task-prompt tables of preprocessor_config.json, in file
// order (transformers.js tries the with-input table in that order).
type tasks struct {
	without map[string]string
	with    [][2]string
}

// construct is Florence2Processor.construct_prompts for one text.
func (t tasks) construct(text string) string {
	if strings.TrimSpace(text) == "" {
		text = DefaultTask
	}
	if p, ok := t.without[text]; ok {
		return p
	}
	for _, kv := range t.with {
		if strings.Contains(text, kv[0]) {
			return strings.ReplaceAll(strings.ReplaceAll(kv[1], "{input}", text), kv[0], "")
		}
	}
	return text
}

func readTasks(dir string) (tasks, error) {
	p := filepath.Join(dir, "preprocessor_config.json")
	data, err := os.ReadFile(p)
	if err != nil {
		return tasks{}, fmt.Errorf("florence2: read %s: %w", p, err)
	}
	var raw struct {
		Without map[string]string `json:"task_prompts_without_inputs"`
		With    json.RawMessage   `json:"task_prompts_with_input"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return tasks{}, fmt.Errorf("florence2: parse %s: %w", p, err)
	}
	t := tasks{without: raw.Without}
	if len(raw.With) > 0 && string(raw.With) != "null" {
		d := json.NewDecoder(bytes.NewReader(raw.With))
		if _, err := d.Token(); err != nil {
			return t, fmt.Errorf("florence2: %s: task_prompts_with_input: %w", p, err)
		}
		for d.More() {
			var k, v string
			kt, err := d.Token()
			if err == nil {
				k, _ = kt.(string)
				err = d.Decode(&v)
			}
			if err != nil {
				return t, fmt.Errorf("florence2: %s: task_prompts_with_input: %w", p, err)
			}
			t.with = append(t.with, [2]string{k, v})
		}
	}
	return t, nil
}
