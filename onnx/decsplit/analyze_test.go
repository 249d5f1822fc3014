package decsplit

import (
	"testing"

	"github.com/vlmrun/vlmrun/onnx"
)

func TestAnalyzeShipped(t *testing.T) {
	for _, f := range []string{
		"../../models/scenes-tiny/onnx/decoder_model_merged.onnx",
		"../../models/smolvlm/testdata/smolvlm-twin/onnx/decoder_model_merged.onnx",
		"../../models/smolvlm/testdata/smolvlm-twin/onnx/decoder_model_merged_fp16.onnx",
		"../../models/smolvlm/testdata/smolvlm-twin-legacy/onnx/decoder_model_merged.onnx",
		"../../models/smolvlm/testdata/smolvlm-twin-torch/onnx/decoder_model_merged.onnx",
		"../../models/smolvlm/testdata/smolvlm-twin-torch/onnx/decoder_model_merged_fp16.onnx",
		"../../models/smolvlm/testdata/smolvlm-twin-torch/onnx/decoder_model_merged_quantized.onnx",
		"../../models/smolvlm/testdata/smolvlm-twin-torch/onnx/decoder_model_merged_q4.onnx",
		"../../models/smolvlm/testdata/smolvlm-twin-torch-legacy/onnx/decoder_model_merged.onnx",
	} {
		m, err := onnx.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Analyze(m, f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		t.Logf("%s: %d layers legacy=%v boundaries %q softmax %q", f, p.Layers, p.Legacy, p.Boundary, p.Softmax)
		st, err := p.Stages([]int{0})
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, s := range st {
			t.Logf("  stage %d..%d in %v out %v: %d bytes", s.First, s.Last, s.Inputs, s.Outputs, len(s.Model.Marshal()))
		}
	}
}
