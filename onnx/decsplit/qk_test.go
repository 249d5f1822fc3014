package decsplit

import (
	"errors"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/onnx"
)

// The pre-RoPE projections are found in every shipped decoder; where nodes
// carry transformers' names, the tensors found come from the layer's
// q_proj / k_proj (scenes-tiny: q / k) products. The stage ending after
// that layer outputs them; asking for a layer that ends no stage, or for a
// graph without them, is refused.
func TestProjectionsShipped(t *testing.T) {
	for _, tc := range []struct {
		file, q, k string // substrings of the producing node's name ("" = not checked)
	}{
		{"../../models/scenes-tiny/onnx/decoder_model_merged.onnx", "/q/", "/k/"},
		{twins + "smolvlm-twin/onnx/decoder_model_merged.onnx", "", ""},
		{twins + "smolvlm-twin/onnx/decoder_model_merged_fp16.onnx", "", ""},
		{twins + "smolvlm-twin-legacy/onnx/decoder_model_merged.onnx", "", ""},
		{twins + "smolvlm-twin-torch/onnx/decoder_model_merged.onnx", "q_proj", "k_proj"},
		{twins + "smolvlm-twin-torch/onnx/decoder_model_merged_fp16.onnx", "q_proj", "k_proj"},
		{twins + "smolvlm-twin-torch/onnx/decoder_model_merged_quantized.onnx", "q_proj", "k_proj"},
		{twins + "smolvlm-twin-torch/onnx/decoder_model_merged_q4.onnx", "q_proj", "k_proj"},
		{twins + "smolvlm-twin-torch-legacy/onnx/decoder_model_merged.onnx", "q_proj", "k_proj"},
	} {
		m, err := onnx.Open(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Analyze(m, tc.file)
		if err != nil {
			m.Close()
			t.Fatal(err)
		}
		for l := 0; l < p.Layers; l++ {
			q, k, err := p.Projections(l)
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			for _, c := range []struct{ t, want string }{{q, tc.q}, {k, tc.k}} {
				name := p.x.G.Nodes[p.x.Producer[c.t]].Name
				if c.want != "" && !strings.Contains(name, c.want) {
					t.Errorf("%s layer %d: %q produced by %q, want a node named like %q", tc.file, l, c.t, name, c.want)
				}
			}
		}
		st, err := p.StagesQK([]int{0}, 0)
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
		} else if !st[0].HasQK || st[1].HasQK {
			t.Errorf("%s: stages' HasQK %v %v, want true false", tc.file, st[0].HasQK, st[1].HasQK)
		}
		if _, err := p.StagesQK([]int{0}, 1); err == nil {
			t.Errorf("%s: queries of a layer that ends no stage were not refused", tc.file)
		}
		p.Softmax[0] = ""
		if _, _, err := p.Projections(0); !errors.Is(err, ErrUnrecognised) {
			t.Errorf("%s: a layer without Softmax: %v, want ErrUnrecognised", tc.file, err)
		}
		m.Close()
	}
}
