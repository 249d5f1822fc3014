package models

import (
	"encoding/json"
	"fmt"
)

// TextConfig is the decoder part of a VLM's config.json: its text_config
// block (the one transformers.js's getNormalizedConfig reads for llava,
// idefics3, smolvlm, llava_onevision, ...).
type TextConfig struct {
	ModelType string `json:"model_type"`
	Hidden    int    `json:"hidden_size"`
	Layers    int    `json:"num_hidden_layers"`
	Heads     int    `json:"num_attention_heads"`
	KVHeads   int    `json:"num_key_value_heads"`
	HeadDim   int    `json:"head_dim"`
	Vocab     int    `json:"vocab_size"`
}

// llamaDefaults are transformers' LlamaConfig defaults, which a saved
// text_config leaves out (llava-hf/llava-1.5-7b-hf's text_config names only
// the fields that differ from them).
var llamaDefaults = TextConfig{Hidden: 4096, Layers: 32, Heads: 32, Vocab: 32000}

// ParseTextConfig reads config.json's text_config and fills what it leaves
// out: for text model_type "llama" transformers' LlamaConfig defaults, then
// num_key_value_heads = num_attention_heads, head_dim = hidden_size /
// num_attention_heads, and a missing vocab_size from the top level. It
// fails when a dimension is still unknown.
func ParseTextConfig(config []byte) (Text, error) {
	var c struct {
		Text  *TextConfig `json:"text_config"`
		Vocab int         `json:"vocab_size"`
	}
	if err := json.Unmarshal(config, &c); err != nil {
		return Text{}, fmt.Errorf("parse config.json: %w", err)
	}
	if c.Text == nil {
		return Text{}, fmt.Errorf("config.json has no text_config")
	}
	t := *c.Text
	if t.Vocab == 0 {
		t.Vocab = c.Vocab
	}
	if t.ModelType == "llama" {
		d := llamaDefaults
		for _, p := range []struct{ dst, def *int }{{&t.Hidden, &d.Hidden}, {&t.Layers, &d.Layers},
			{&t.Heads, &d.Heads}, {&t.Vocab, &d.Vocab}} {
			if *p.dst == 0 {
				*p.dst = *p.def
			}
		}
	}
	if t.KVHeads == 0 {
		t.KVHeads = t.Heads
	}
	if t.HeadDim == 0 && t.Heads > 0 {
		t.HeadDim = t.Hidden / t.Heads
	}
	if t.Hidden <= 0 || t.Layers <= 0 || t.Heads <= 0 || t.Vocab <= 0 || t.KVHeads <= 0 || t.HeadDim <= 0 {
		return Text{}, fmt.Errorf("config.json: text_config needs hidden_size, num_hidden_layers, num_attention_heads and vocab_size")
	}
	return Text{Hidden: t.Hidden, Layers: t.Layers, Heads: t.Heads, KVHeads: t.KVHeads, HeadDim: t.HeadDim,
		Vocab: t.Vocab}, nil
}
