package visinstr

import (
	"errors"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/onnx"
)

// The shipped vision graphs are instrumented at the layer their features
// come from; the nodes found structurally are the ones the torch export
// named for that layer (checked here by name).
func TestAnalyzeShipped(t *testing.T) {
	for _, tc := range []struct {
		file                    string
		o                       Options
		layers                  int
		softmax, preProj, keysT string
	}{
		{"../../models/llava/testdata/llava-twin/onnx/vision_encoder.onnx", Options{Attention: CLS, Layer: 0}, 1,
			"/layers.0/self_attn/Softmax", "/layers.0/Add_1_output_0", "/layers.0/self_attn/Transpose_2_output_0"},
		{"../../models/qwen2vl/testdata/qwen2vl-twin/onnx/vision_encoder.onnx", Options{Attention: Received, Layer: 1}, 2,
			"/visual/blocks.1/attn/Softmax", "/visual/blocks.1/Add_1_output_0", ""},
		{"../../models/qwen2vl/testdata/qwen2_5vl-twin/onnx/vision_encoder.onnx", Options{Attention: Received, Layer: -1}, 2,
			"/visual/blocks.1/attn/Softmax", "/visual/blocks.1/Add_1_output_0", ""},
		{"../../models/scenes-tiny/onnx/vision_encoder.onnx", Options{Attention: CLS, Layer: 3}, 4,
			"", "", ""},
	} {
		m, err := onnx.Open(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Analyze(m, tc.file, tc.o)
		if err != nil {
			m.Close()
			t.Errorf("%v", err)
			continue
		}
		if p.Layers != tc.layers || (tc.softmax != "" && p.SoftmaxNode != tc.softmax) ||
			(tc.preProj != "" && p.PreProj != tc.preProj) || (tc.keysT != "" && p.KeysT != tc.keysT) {
			t.Errorf("%s: %d layers, softmax %q, pre-projector %q, keys %q", tc.file, p.Layers, p.SoftmaxNode, p.PreProj, p.KeysT)
		}
		if window := strings.Contains(tc.file, "qwen2_5vl"); window != (p.Order != "") {
			t.Errorf("%s: token order %q (the window-attention twin has one)", tc.file, p.Order)
		}
		if len(p.Missing) != 0 || p.KeysT == "" || p.PreProj == "" {
			t.Errorf("%s: missing %v", tc.file, p.Missing)
		}
		d := p.Model()
		if n := len(d.Graph.Outputs) - len(m.Graph.Outputs); n != 3 {
			t.Errorf("%s: derived graph adds %d outputs", tc.file, n)
		}
		if _, err := onnx.Parse(d.Marshal()); err != nil {
			t.Errorf("%s: derived graph does not parse: %v", tc.file, err)
		}
		m.Close()
	}
}

// A graph that reorders its tokens with computed indices after the pixels
// without a reorder back after the feature layer (Qwen2.5-VL's window
// attention has both) or has no attention Softmax is refused with the
// reason.
func TestAnalyzeRefuses(t *testing.T) {
	file := "../../models/qwen2vl/testdata/qwen2vl-twin/onnx/vision_encoder.onnx"
	for _, tc := range []struct {
		name string
		edit func(g *onnx.Graph)
		want string
	}{
		{"reorder", func(g *onnx.Graph) {
			// Gather the patch embeddings by indices computed from the grid.
			for i, n := range g.Nodes {
				if n.Name == "/visual/Add_2" {
					perm := onnx.NewNode("perm", "Gather", []string{n.Outputs[0], "/visual/Range_output_0"}, []string{"permuted"}, onnx.IntAttr("axis", 0))
					for _, m := range g.Nodes[i+1:] {
						for k, in := range m.Inputs {
							if in == n.Outputs[0] {
								m.Inputs[k] = "permuted"
							}
						}
					}
					g.Nodes = append(g.Nodes[:i+1], append([]*onnx.Node{perm}, g.Nodes[i+1:]...)...)
					return
				}
			}
		}, `1 nodes reorder the tokens with computed indices, 0 of them after the feature layer's attention`},
		{"no-softmax", func(g *onnx.Graph) {
			for _, n := range g.Nodes {
				if n.OpType == "Softmax" {
					n.OpType = "Sigmoid"
				}
			}
		}, "no attention Softmax"},
	} {
		m, err := onnx.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		tc.edit(m.Graph)
		_, err = Analyze(m, "vision_encoder.onnx", Options{Attention: Received, Layer: -1})
		m.Close()
		if !errors.Is(err, ErrUnrecognised) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "vision_encoder.onnx") {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// Scores from a product other than a plain MatMul leave the keys out, with
// the reason; the attention and the pre-projector features stay.
func TestAnalyzeKeysMissing(t *testing.T) {
	m, err := onnx.Open("../../models/llava/testdata/llava-twin/onnx/vision_encoder.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, n := range m.Graph.Nodes {
		if n.Name == "/layers.0/self_attn/MatMul" {
			n.OpType, n.Domain = "FusedMatMul", "com.microsoft"
		}
	}
	p, err := Analyze(m, "vision_encoder.onnx", Options{Attention: CLS, Layer: 0})
	if err != nil {
		t.Fatal(err)
	}
	why := p.Missing[OutKeys]
	if p.KeysT != "" || !strings.Contains(why, "FusedMatMul") || p.PreProj == "" {
		t.Errorf("keys %q (missing: %q), pre-projector %q", p.KeysT, why, p.PreProj)
	}
	if out := p.Outputs(); len(out) != 2 || out[0] != OutAttention || out[1] != OutPreProj {
		t.Errorf("outputs %v", out)
	}
}
