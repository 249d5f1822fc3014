package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
)

// GraphCount is the matrix-product work of one run of an ONNX graph,
// counted from the shapes ONNX Runtime reports for every node it ran.
type GraphCount struct {
	FLOPs float64            `json:"flops"`
	ByOp  map[string]float64 `json:"flops_by_op"`
	Nodes int                `json:"nodes_counted"`
	// Uncounted lists the MatMul, Gemm or Conv nodes whose shapes the
	// profile did not give fully (their work is missing from FLOPs).
	Uncounted []string `json:"uncounted,omitempty"`
}

// GraphFLOPs runs the graph at path once on zero-filled inputs (true for
// boolean inputs) with ONNX Runtime's profiler on and graph optimizations
// off, so that every node of the exported graph runs as written, and sums
// over the MatMul, Gemm and Conv nodes, from their runtime shapes:
//
//	MatMul  A[…, M, K] · B → Y:  2·|Y|·K  (also MatMulInteger, MatMulNBits)
//	Gemm    A (M×K or K×M) · B → Y[M, N]:  2·|Y|·|A|/M
//	Conv    X, W[Cout, Cin/g, kh, kw] → Y:  2·|Y|·|W|/Cout
//
// (|T| is a tensor's element count; bias adds are left out). ORT's profile
// may leave out the shapes of constant inputs (it does for the embedded
// model's MatMul weights, which these formulas do not need); a Conv whose
// weight shape is missing is listed in Uncounted. shapes gives
// the shape of every input whose graph shape has dynamic dimensions; an
// input with static dimensions may be left out. The ORT library must be
// initialized (ortx.Setup).
func GraphFLOPs(path string, shapes map[string][]int64) (GraphCount, error) {
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return GraphCount{}, fmt.Errorf("bench: flops: %s: %w", filepath.Base(path), err)
	}
	dir, err := os.MkdirTemp("", "vlmrun-profile-")
	if err != nil {
		return GraphCount{}, fmt.Errorf("bench: flops: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := profileRun(path, ins, outs, shapes, filepath.Join(dir, "p")); err != nil {
		return GraphCount{}, err
	}
	files, _ := filepath.Glob(filepath.Join(dir, "p*.json"))
	if len(files) != 1 {
		return GraphCount{}, fmt.Errorf("bench: flops: %s: onnx runtime wrote %d profiles", filepath.Base(path), len(files))
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		return GraphCount{}, fmt.Errorf("bench: flops: %w", err)
	}
	return countProfile(data)
}

// profileRun runs the graph once with profiling to prefix; the profile is
// written when the session is destroyed.
func profileRun(path string, ins, outs []ort.InputOutputInfo, shapes map[string][]int64, prefix string) error {
	name := filepath.Base(path)
	so, err := ort.NewSessionOptions()
	if err != nil {
		return fmt.Errorf("bench: flops: %w", err)
	}
	defer so.Destroy()
	for _, set := range []func() error{
		func() error { return so.SetIntraOpNumThreads(1) },
		func() error { return so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelDisableAll) },
		func() error { return so.EnableProfiling(prefix) },
	} {
		if err := set(); err != nil {
			return fmt.Errorf("bench: flops: %s: %w", name, err)
		}
	}
	var inNames, outNames []string
	var vals []ort.Value
	defer func() {
		for _, v := range vals {
			v.Destroy()
		}
	}()
	for _, in := range ins {
		shape, ok := shapes[in.Name]
		if !ok {
			shape = in.Dimensions
			for _, d := range shape {
				if d < 0 {
					return fmt.Errorf("bench: flops: %s: input %s has dynamic shape %v and none was given", name, in.Name, in.Dimensions)
				}
			}
		}
		v, err := zeroTensor(in.DataType, ort.NewShape(shape...))
		if err != nil {
			return fmt.Errorf("bench: flops: %s: input %s: %w", name, in.Name, err)
		}
		vals = append(vals, v)
		inNames = append(inNames, in.Name)
	}
	for _, o := range outs {
		outNames = append(outNames, o.Name)
	}
	s, err := ort.NewDynamicAdvancedSession(path, inNames, outNames, so)
	if err != nil {
		return fmt.Errorf("bench: flops: %s: %w", name, err)
	}
	results := make([]ort.Value, len(outNames))
	err = s.Run(vals, results)
	for _, r := range results {
		if r != nil {
			r.Destroy()
		}
	}
	s.Destroy() // writes the profile
	if err != nil {
		return fmt.Errorf("bench: flops: run %s: %w", name, err)
	}
	return nil
}

func zeroTensor(t ort.TensorElementDataType, shape ort.Shape) (ort.Value, error) {
	n := shape.FlattenedSize()
	switch t {
	case ort.TensorElementDataTypeFloat:
		return ort.NewTensor(shape, make([]float32, n))
	case ort.TensorElementDataTypeInt64:
		return ort.NewTensor(shape, make([]int64, n))
	case ort.TensorElementDataTypeInt32:
		return ort.NewTensor(shape, make([]int32, n))
	case ort.TensorElementDataTypeBool:
		b := make([]bool, n)
		for i := range b {
			b[i] = true
		}
		return ort.NewTensor(shape, b)
	}
	return nil, fmt.Errorf("unsupported element type %s", t)
}

// profileEvent is the part of an ORT profile event that is read.
type profileEvent struct {
	Cat  string `json:"cat"`
	Name string `json:"name"`
	Args struct {
		Op  string               `json:"op_name"`
		In  []map[string][]int64 `json:"input_type_shape"`
		Out []map[string][]int64 `json:"output_type_shape"`
	} `json:"args"`
}

var counted = map[string]bool{"MatMul": true, "MatMulInteger": true, "MatMulNBits": true, "Gemm": true, "Conv": true}

// countProfile sums the FLOPs of the node events of an ORT profile.
func countProfile(data []byte) (GraphCount, error) {
	var evs []profileEvent
	if err := json.Unmarshal(data, &evs); err != nil {
		return GraphCount{}, fmt.Errorf("bench: flops: parse profile: %w", err)
	}
	c := GraphCount{ByOp: map[string]float64{}}
	for _, e := range evs {
		if e.Cat != "Node" || !strings.HasSuffix(e.Name, "_kernel_time") {
			continue
		}
		f, ok := nodeFLOPs(e.Args.Op, shapesOf(e.Args.In), shapesOf(e.Args.Out))
		if !ok {
			if counted[e.Args.Op] {
				c.Uncounted = append(c.Uncounted, strings.TrimSuffix(e.Name, "_kernel_time"))
			}
			continue
		}
		c.FLOPs += f
		c.ByOp[e.Args.Op] += f
		c.Nodes++
	}
	if c.Nodes == 0 {
		return c, fmt.Errorf("bench: flops: the profile has no MatMul, Gemm or Conv node with shapes")
	}
	return c, nil
}

// shapesOf flattens ORT's [{"float": [dims]}] lists.
func shapesOf(l []map[string][]int64) [][]int64 {
	var out [][]int64
	for _, m := range l {
		for _, s := range m {
			out = append(out, s)
		}
	}
	return out
}

func numel(s []int64) float64 {
	n := 1.0
	for _, d := range s {
		n *= float64(d)
	}
	return n
}

// nodeFLOPs returns the FLOPs of one node from its input and output
// shapes, and false for an op that is not counted.
func nodeFLOPs(op string, in, out [][]int64) (float64, bool) {
	if len(in) < 1 || len(out) < 1 {
		return 0, false
	}
	a, y := in[0], out[0]
	switch op {
	case "MatMul", "MatMulInteger", "MatMulNBits":
		// the quantized products (q8, q4 files) do the same multiply-adds
		if len(a) == 0 {
			return 0, false
		}
		return 2 * numel(y) * float64(a[len(a)-1]), true
	case "Gemm":
		if len(y) != 2 || y[0] == 0 {
			return 0, false
		}
		return 2 * numel(y) * numel(a) / float64(y[0]), true
	case "Conv":
		// without the weight's shape the kernel size is unknown
		if len(in) < 2 || len(in[1]) < 2 || in[1][0] == 0 {
			return 0, false
		}
		w := in[1]
		return 2 * numel(y) * numel(w) / float64(w[0]), true
	}
	return 0, false
}
