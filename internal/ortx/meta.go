package ortx

import (
	"fmt"
	"math"
	"path/filepath"

	"github.com/x448/float16"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/onnx"
)

// Float16 is a port of IEEE half-precision elements.
func Float16(name string) Port { return Port{name, ort.TensorElementDataTypeFloat16} }

// Bool is a port of boolean elements.
func Bool(name string) Port { return Port{name, ort.TensorElementDataTypeBool} }

// Inspect returns the declared inputs and outputs of the graph at path,
// with their element types and dimensions (-1 for a symbolic dimension).
// It reads them in pure Go (package onnx: the file is mapped and its weights
// are never read), where ONNX Runtime would create a whole session — for a
// 500 MB decoder, seconds and a second copy of the weights — to answer.
func Inspect(path string, o Options) (ins, outs []ort.InputOutputInfo, err error) {
	so, err := newOptions(o) // the options' own errors (device) surface here as before
	if err != nil {
		return nil, nil, err
	}
	so.Destroy()
	return graphInfo(path)
}

// graphInfo reads path's declared graph inputs (without those that are
// initializers, as ORT reports them) and outputs.
func graphInfo(path string) (ins, outs []ort.InputOutputInfo, err error) {
	ins, outs, _, err = graphFacts(path)
	return ins, outs, err
}

// graphFacts is graphInfo, and whether a top-level initializer has its
// data in an external file.
func graphFacts(path string) (ins, outs []ort.InputOutputInfo, external bool, err error) {
	g, err := onnx.Open(path)
	if err != nil {
		return nil, nil, false, fmt.Errorf("ortx: open %s: not a loadable onnx graph: %w", path, err)
	}
	defer g.Close()
	ins, outs = modelInfo(g)
	for _, t := range g.Graph.Initializers {
		external = external || t.External != nil
	}
	return ins, outs, external, nil
}

// InspectBytes returns the declared inputs and outputs of a graph held in
// memory (a derived graph, as OpenBytes opens), as Inspect does for a file.
func InspectBytes(name string, data []byte) (ins, outs []ort.InputOutputInfo, err error) {
	g, err := onnx.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("ortx: %s: not a loadable onnx graph: %w", name, err)
	}
	ins, outs = modelInfo(g)
	return ins, outs, nil
}

// modelInfo lists g's declared graph inputs (without those that are
// initializers, as ORT reports them) and outputs.
func modelInfo(g *onnx.Model) (ins, outs []ort.InputOutputInfo) {
	conv := func(vs []*onnx.ValueInfo) []ort.InputOutputInfo {
		out := make([]ort.InputOutputInfo, 0, len(vs))
		for _, v := range vs {
			out = append(out, ort.InputOutputInfo{Name: v.Name, OrtValueType: ort.ONNXTypeTensor,
				Dimensions: ort.NewShape(v.Dims...), DataType: ort.TensorElementDataType(v.ElemType)})
		}
		return out
	}
	inits := map[string]bool{}
	for _, t := range g.Graph.Initializers {
		inits[t.Name] = true
	}
	var in []*onnx.ValueInfo
	for _, v := range g.Graph.Inputs {
		if !inits[v.Name] {
			in = append(in, v)
		}
	}
	return conv(in), conv(g.Graph.Outputs)
}

// Info finds the input or output called name, reporting whether it exists.
func Info(infos []ort.InputOutputInfo, name string) (ort.InputOutputInfo, bool) {
	for _, i := range infos {
		if i.Name == name {
			return i, true
		}
	}
	return ort.InputOutputInfo{}, false
}

// Mismatch builds the error for an input or output of file that breaks a
// family's contract.
func Mismatch(file, kind, name, why string) error {
	return fmt.Errorf("ortx: %s: %s %q %s: %w", filepath.Base(file), kind, name, why, ErrGraphMismatch)
}

// ElemSize is the byte size of one element of a float32, float16, int64 or
// bool tensor (0 for other types).
func ElemSize(t ort.TensorElementDataType) int {
	switch t {
	case ort.TensorElementDataTypeFloat:
		return 4
	case ort.TensorElementDataTypeFloat16:
		return 2
	case ort.TensorElementDataTypeInt64:
		return 8
	case ort.TensorElementDataTypeBool:
		return 1
	}
	return 0
}

// Raw wraps data (at least one byte; it may be longer than the shape needs)
// in a tensor of the given element type (no copy). ORT may write into it
// when it is used as an output.
func Raw(t ort.TensorElementDataType, data []byte, shape ...int64) (*ort.CustomDataTensor, error) {
	v, err := ort.NewCustomDataTensor(ort.NewShape(shape...), data, t)
	if err != nil {
		return nil, fmt.Errorf("ortx: %s tensor %v: %w", t, shape, err)
	}
	return v, nil
}

// HalfToFloat converts little-endian float16 bytes into dst (len(src)/2
// values).
func HalfToFloat(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = float16.Frombits(uint16(src[2*i]) | uint16(src[2*i+1])<<8).Float32()
	}
}

// FloatToHalf converts src into little-endian float16 bytes in dst
// (2·len(src) bytes), rounding to nearest even.
func FloatToHalf(dst []byte, src []float32) {
	for i, v := range src {
		b := float16.Fromfloat32(v).Bits()
		dst[2*i], dst[2*i+1] = byte(b), byte(b>>8)
	}
}

// Floats returns the values of a float32 or (half true) float16 output as
// float32 (a copy), with its shape.
func Floats(v ort.Value, name string, half bool) ([]float32, []int64, error) {
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		if !half && t != nil {
			return append([]float32(nil), t.GetData()...), t.GetShape(), nil
		}
	case *ort.CustomDataTensor:
		if half {
			// onnxruntime_go v1.27 cannot convert a float16 output that
			// ORT allocated (it sizes the copy in values, not bytes, and
			// leaves a typed nil pointer): callers allocate float16
			// outputs; refuse anything that does not fill its shape.
			if t == nil {
				break
			}
			b, sh := t.GetData(), t.GetShape()
			if int64(len(b)) != 2*sh.FlattenedSize() {
				return nil, nil, fmt.Errorf("ortx: output %s: %d bytes of float16 data for shape %v (%d values); allocate float16 outputs before the run", name, len(b), sh, sh.FlattenedSize())
			}
			out := make([]float32, len(b)/2)
			HalfToFloat(out, b)
			return out, sh, nil
		}
	}
	return nil, nil, fmt.Errorf("ortx: output %s is not the declared float32 or float16 tensor", name)
}

// BytesToFloats decodes little-endian float32 bytes (4·len(dst)) into dst.
func BytesToFloats(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = math.Float32frombits(uint32(src[4*i]) | uint32(src[4*i+1])<<8 | uint32(src[4*i+2])<<16 | uint32(src[4*i+3])<<24)
	}
}
