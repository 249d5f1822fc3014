package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vlmrun/vlmrun/models"
)

// Decoder is the shape of a Llama-style decoder for the FLOPs model: the
// dimensions of models.Spec.Text plus the MLP width, which the spec does
// not carry (ReadIntermediate reads it from config.json).
type Decoder struct {
	Hidden, Layers, Heads, KVHeads, HeadDim, Vocab, Intermediate int
}

// DecoderOf returns the FLOPs shape of spec's decoder with the given MLP
// width.
func DecoderOf(t models.Text, intermediate int) Decoder {
	return Decoder{Hidden: t.Hidden, Layers: t.Layers, Heads: t.Heads, KVHeads: t.KVHeads,
		HeadDim: t.HeadDim, Vocab: t.Vocab, Intermediate: intermediate}
}

// The FLOPs model counts the multiply-adds of matrix products, two FLOPs
// each, as the graphs execute them; elementwise work (norms, RoPE, softmax,
// activations, the residual adds) is O(s·H) per layer and left out, and so
// is the embedding lookup. With H hidden, h query heads, k KV heads, d the
// head dimension, I the MLP width and V the vocabulary, one layer given s
// new rows after p cached rows costs
//
//	2·s·(H·h·d + 2·H·k·d + h·d·H + 3·H·I)   q, k, v, o projections and the gated MLP (gate, up, down)
//	+ 4·s·(p+s)·h·d                         scores QKᵀ and their weighted sum over p+s keys
//
// (the attention term is the full s×(p+s) score matrix the graph computes,
// causal mask or not), and the LM head 2·r·H·V for r rows of logits.

// LayerFLOPs returns the FLOPs of one decoder layer on s new rows after
// past cached rows.
func (d Decoder) LayerFLOPs(s, past int) float64 {
	H, h, k, hd, I := float64(d.Hidden), float64(d.Heads), float64(d.KVHeads), float64(d.HeadDim), float64(d.Intermediate)
	S, P := float64(s), float64(past)
	proj := 2 * S * (H*h*hd + 2*H*k*hd + h*hd*H + 3*H*I)
	attn := 4 * S * (P + S) * h * hd
	return proj + attn
}

// HeadFLOPs returns the FLOPs of the final LM head on rows rows.
func (d Decoder) HeadFLOPs(rows int) float64 {
	return 2 * float64(rows) * float64(d.Hidden) * float64(d.Vocab)
}

// PrefillFLOPs returns the FLOPs of a prefill in which layer l processes
// rows[l] rows (all equal without in-decoder pruning; fewer after a cut)
// and the head computes headRows rows of logits (the merged graph computes
// them for every prompt row, the per-layer form for the last one only).
func (d Decoder) PrefillFLOPs(rows []int, headRows int) float64 {
	f := d.HeadFLOPs(headRows)
	for _, r := range rows {
		f += d.LayerFLOPs(r, 0)
	}
	return f
}

// DecodeFLOPs returns the FLOPs of generating tokens tokens after a
// prefill that left rows[l] rows in layer l's cache: the first token comes
// from the prefill, and each of the other tokens−1 steps runs every layer
// on one row after the cache so far, then the head on one row.
func (d Decoder) DecodeFLOPs(rows []int, tokens int) float64 {
	f := 0.0
	for j := 1; j < tokens; j++ {
		for _, r := range rows {
			f += d.LayerFLOPs(1, r+j-1)
		}
		f += d.HeadFLOPs(1)
	}
	return f
}

// KVRowBytes returns the bytes one cached row takes in one layer: a key
// and a value of KVHeads·HeadDim float32 values.
func (d Decoder) KVRowBytes() int64 { return int64(2 * 4 * d.KVHeads * d.HeadDim) }

// ReadIntermediate returns the decoder's MLP width from dir/config.json:
// text_config.intermediate_size (Idefics3/SmolVLM, LLaVA, the embedded
// model) or a top-level intermediate_size (a bare Llama config).
func ReadIntermediate(dir string) (int, error) {
	p := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(p)
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	var c struct {
		Intermediate int `json:"intermediate_size"`
		Text         struct {
			Intermediate int `json:"intermediate_size"`
		} `json:"text_config"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return 0, fmt.Errorf("bench: parse %s: %w", p, err)
	}
	switch {
	case c.Text.Intermediate > 0:
		return c.Text.Intermediate, nil
	case c.Intermediate > 0:
		return c.Intermediate, nil
	}
	return 0, fmt.Errorf("bench: %s has no intermediate_size (text_config or top level)", p)
}
