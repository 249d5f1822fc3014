package decsplit

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/onnx"
)

const twins = "../../models/smolvlm/testdata/"

// Every shipped decoder splits: the embedded model's torch export, the
// hand-built anonymous twins and the torch-exported Llama twins in every
// dtype and both merge forms. Where nodes are named like transformers'
// Llama, the boundary is the layer's second residual Add.
func TestAnalyzeShipped(t *testing.T) {
	for _, tc := range []struct {
		file, boundary string // boundary: fmt pattern of the residual after layer i ("" = not checked)
		layers         int
		legacy         bool
	}{
		{"../../models/scenes-tiny/onnx/decoder_model_merged.onnx", "/layers.%d/Add_4_output_0", 4, false},
		{twins + "smolvlm-twin/onnx/decoder_model_merged.onnx", "", 2, false},
		{twins + "smolvlm-twin/onnx/decoder_model_merged_fp16.onnx", "", 2, false},
		{twins + "smolvlm-twin-legacy/onnx/decoder_model_merged.onnx", "", 2, false},
		{twins + "smolvlm-twin-torch/onnx/decoder_model_merged.onnx", "/model/layers.%d/Add_1_output_0", 4, false},
		{twins + "smolvlm-twin-torch/onnx/decoder_model_merged_fp16.onnx", "/model/layers.%d/Add_1_output_0", 4, false},
		{twins + "smolvlm-twin-torch/onnx/decoder_model_merged_quantized.onnx", "/model/layers.%d/Add_1_output_0", 4, false},
		{twins + "smolvlm-twin-torch/onnx/decoder_model_merged_q4.onnx", "/model/layers.%d/Add_1_output_0", 4, false},
		{twins + "smolvlm-twin-torch-legacy/onnx/decoder_model_merged.onnx", "/model/layers.%d/Add_1_output_0", 4, true},
	} {
		m, err := onnx.Open(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Analyze(m, tc.file)
		if err != nil {
			m.Close()
			t.Errorf("%v", err)
			continue
		}
		if p.Layers != tc.layers || p.Legacy != tc.legacy {
			t.Errorf("%s: %d layers (legacy %v), want %d (%v)", tc.file, p.Layers, p.Legacy, tc.layers, tc.legacy)
		}
		for i := 0; i < p.Layers; i++ {
			if tc.boundary != "" && p.Boundary[i] != fmt.Sprintf(tc.boundary, i) {
				t.Errorf("%s: boundary after layer %d is %q, want %q", tc.file, i, p.Boundary[i], fmt.Sprintf(tc.boundary, i))
			}
			if p.Softmax[i] == "" {
				t.Errorf("%s: no attention probabilities found for layer %d", tc.file, i)
			}
		}
		for _, cuts := range [][]int{nil, {0}, {p.Layers - 2, 0}} {
			st, err := p.Stages(cuts)
			if err != nil {
				t.Errorf("%s: cuts %v: %v", tc.file, cuts, err)
				continue
			}
			if n := len(cuts) + 1 - countDup(cuts); len(st) != n || st[len(st)-1].Last != p.Layers-1 {
				t.Errorf("%s: cuts %v gave %d stages", tc.file, cuts, len(st))
			}
		}
		if _, err := p.Stages([]int{p.Layers - 1}); err == nil {
			t.Errorf("%s: a cut after the last layer was accepted", tc.file)
		}
		m.Close()
	}
}

// A graph that is not a decoder, or whose layers cannot be separated, is
// refused with the file's name and the reason.
func TestAnalyzeRefuses(t *testing.T) {
	f := twins + "smolvlm-twin/onnx/vision_encoder.onnx"
	m, err := onnx.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = Analyze(m, "vision_encoder.onnx")
	if !errors.Is(err, ErrUnrecognised) || !strings.Contains(err.Error(), "vision_encoder.onnx") {
		t.Errorf("vision encoder as a decoder: %v", err)
	}
	// A decoder whose layer 1 also reads layer 0's past values (not only
	// their shape) has no residual stream between them.
	d, err := onnx.Open(twins + "smolvlm-twin-torch/onnx/decoder_model_merged.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	g := *d.Graph
	g.Nodes = append([]*onnx.Node{}, g.Nodes...)
	for i, n := range g.Nodes {
		if strings.HasPrefix(n.Name, "/model/layers.1/self_attn/Concat") && len(n.Inputs) == 2 && n.Inputs[0] == PastValue(1) {
			cp := *n
			cp.Inputs = []string{PastValue(0), n.Inputs[1]}
			g.Nodes[i] = &cp
		}
	}
	_, err = Analyze(d.Derive(&g), "tangled.onnx")
	if !errors.Is(err, ErrUnrecognised) {
		t.Errorf("tangled layers: %v", err)
	}
	t.Logf("refusal: %v", err)
}

func countDup(c []int) int {
	if len(c) == 2 && c[0] == c[1] {
		return 1
	}
	return 0
}
