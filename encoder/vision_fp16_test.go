package encoder

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/x448/float16"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/onnx"
)

// halfGraph writes a vision graph whose features output is float16: the
// pixels (n, 3, 8, 8) reshaped by target (0 copies n, -1 infers) and cast
// to float16, declared with dims (-1 symbolic).
func halfGraph(t *testing.T, target, dims []int64) string {
	t.Helper()
	g := &onnx.Graph{
		Name: "half_vision",
		Nodes: []*onnx.Node{
			onnx.NewNode("reshape", "Reshape", []string{"pixel_values", "shape"}, []string{"flat"}),
			onnx.NewNode("cast", "Cast", []string{"flat"}, []string{"features"}, onnx.IntAttr("to", onnx.Float16)),
		},
		Initializers: []*onnx.Tensor{onnx.Int64Tensor("shape", []int64{int64(len(target))}, target...)},
		Inputs:       []*onnx.ValueInfo{onnx.NewValueInfo("pixel_values", onnx.Float, []int64{-1, 3, 8, 8}, []string{"batch", "", "", ""})},
		Outputs:      []*onnx.ValueInfo{onnx.NewValueInfo("features", onnx.Float16, dims, params(dims))},
	}
	m := &onnx.Model{IRVersion: 8, Opsets: []onnx.Opset{{Version: 17}}, Graph: g}
	path := filepath.Join(t.TempDir(), "vision_half.onnx")
	if err := os.WriteFile(path, m.MarshalSelfContained(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func params(dims []int64) []string {
	p := make([]string, len(dims))
	for i, d := range dims {
		if d < 0 {
			p[i] = "d" + string(rune('0'+i))
		}
	}
	return p
}

// A vision graph with a float16 output is read completely and correctly,
// for one image and a batch (issue 20, defect 9: the wrapper's copy of an
// ORT-allocated float16 output held half the data, and the rows past it
// crashed the process).
func TestVisionFloat16Output(t *testing.T) {
	testenv.ORT(t)
	for _, c := range []struct{ target, dims []int64 }{
		{[]int64{0, 16, 12}, []int64{-1, 16, 12}}, // (batch, T, D): sized from the declaration
		{[]int64{0, 16, 12}, []int64{-1, -1, 12}}, // T symbolic: learned from ORT's answer
		{[]int64{1, -1, 12}, []int64{1, -1, 12}},  // (1, n·T, D)
	} {
		t.Run(fmt.Sprint(c.dims), func(t *testing.T) { checkHalf(t, halfGraph(t, c.target, c.dims)) })
	}
}

func checkHalf(t *testing.T, path string) {
	v, err := OpenVision(VisionGraph{Path: path, Width: 8, Height: 8, Features: "features"}, ortx.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Destroy()
	for _, n := range []int{3, 1, 3, 2} {
		px := make([]float32, n*3*8*8)
		for i := range px {
			px[i] = float32(i%97)/13 - 3
		}
		vis, err := v.EncodeBatch(px, n)
		if err != nil {
			t.Fatalf("%d images: %v", n, err)
		}
		if vis.Features.Rows != 16*n || vis.Features.Cols != 12 || len(vis.Features.Data) != len(px) {
			t.Fatalf("%d images: features %d×%d with %d values, want %d×12 with %d", n, vis.Features.Rows,
				vis.Features.Cols, len(vis.Features.Data), 16*n, len(px))
		}
		for i, x := range px {
			if want := float16.Fromfloat32(x).Float32(); vis.Features.Data[i] != want {
				t.Fatalf("%d images: value %d is %v, want %v", n, i, vis.Features.Data[i], want)
			}
		}
		if n > 1 {
			chunks, err := v.EncodeChunks(px, n, 1)
			if err != nil || len(chunks.Features.Data) != len(px) {
				t.Fatalf("%d images one per call: %v", n, err)
			}
		}
	}
}

// ortx.Floats refuses what it cannot read (a typed nil left by a failed
// conversion, float16 data shorter than its shape) instead of crashing.
func TestFloatsRefuses(t *testing.T) {
	testenv.ORT(t)
	var nilHalf *ort.CustomDataTensor
	if _, _, err := ortx.Floats(nilHalf, "features", true); err == nil {
		t.Error("typed nil: no error")
	}
	short, err := ortx.Raw(ort.TensorElementDataTypeFloat16, make([]byte, 12), 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer short.Destroy()
	if _, _, err := ortx.Floats(short, "features", true); err != nil {
		t.Errorf("full float16 tensor: %v", err)
	}
}
