package bench

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sort"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/onnx"
)

// Peaks are this machine's measured limits for ONNX Runtime's CPU kernels
// under the session options the sweep uses (vlmrun bench --probe): the
// best of several runs of tiny generated graphs, so that a stage's
// achieved rate can be read against what the same kernels reach here.
//
//   - FP32GEMM: MatMul of a float32 [M,K] input by a float32 [K,N]
//     initializer (ORT prepacks it, as it does a model's weights), in
//     GFLOP/s (2·M·N·K per run).
//   - Int8GEMM: MatMulInteger of a uint8 [M,K] input by an int8 [K,N]
//     initializer (MLAS's u8s8 kernels: AVX512-VNNI or AMX where the CPU
//     has them), in GOP/s.
//   - Q8GEMM: the chain the q8 files hold (DynamicQuantizeLinear on a
//     float32 input, MatMulInteger, Cast, scale Mul, which ORT fuses), in
//     GFLOP/s counted as the float product it replaces.
//   - Stream: a single-row float32 product (GEMV, as one decode step is)
//     against weights of each size, in GB/s of weights read: the
//     weight-streaming limit a decoder of that many weight bytes meets.
//
// M, K, N are the SigLIP MLP's 1024 patches × 768 → 3072.
type Peaks struct {
	Threads  int          `json:"ort_intra_op_threads"`
	GEMM     [3]int       `json:"gemm_m_k_n"`
	FP32GEMM float64      `json:"fp32_gemm_gflops"`
	Int8GEMM float64      `json:"int8_gemm_gops"`
	Q8GEMM   float64      `json:"q8_dynamic_gemm_gflops"`
	Stream   []StreamPeak `json:"weight_stream"`
	Millis   float64      `json:"probe_ms"`
}

// StreamPeak is the weight-streaming rate at one weight size.
type StreamPeak struct {
	Bytes int64   `json:"weight_bytes"`
	GBs   float64 `json:"gb_per_s"`
}

// ProbeSizes are the GEMV weight sizes Probe streams by default: one that
// a large last-level cache may hold and one that it may not.
var ProbeSizes = []int64{64 << 20, 512 << 20}

// Probe measures Peaks with sessions opened with o, streaming weights of
// the given sizes (ProbeSizes when nil). The ORT library must be
// initialized. It allocates about three times the largest size for a
// moment; run it after anything whose peak RSS is being measured.
func Probe(o ortx.Options, sizes []int64) (*Peaks, error) {
	return probe(o, sizes, 1024, 768, 3072)
}

func probe(o ortx.Options, sizes []int64, m, k, n int) (*Peaks, error) {
	start := time.Now()
	if sizes == nil {
		sizes = ProbeSizes
	}
	p := &Peaks{Threads: o.Threads, GEMM: [3]int{m, k, n}}
	flops := 2.0 * float64(m) * float64(k) * float64(n)
	var err error
	if p.FP32GEMM, err = probeGEMM("fp32", m, k, n, o, flops); err != nil {
		return nil, err
	}
	if p.Int8GEMM, err = probeGEMM("int8", m, k, n, o, flops); err != nil {
		return nil, err
	}
	if p.Q8GEMM, err = probeGEMM("q8", m, k, n, o, flops); err != nil {
		return nil, err
	}
	for _, size := range sizes {
		const kk = 4096
		nn := int(size / (4 * kk))
		if nn < 1 {
			return nil, fmt.Errorf("bench: probe: weight size %d is under %d bytes", size, 4*kk)
		}
		bytes := float64(4 * kk * nn)
		gbs, err := probeGEMM("fp32", 1, kk, nn, o, bytes)
		if err != nil {
			return nil, err
		}
		p.Stream = append(p.Stream, StreamPeak{Bytes: int64(bytes), GBs: gbs})
	}
	p.Millis = float64(time.Since(start).Microseconds()) / 1000
	return p, nil
}

// StreamFor returns the streaming peak measured at the size nearest to
// bytes (on a log scale), and false without one.
func (p *Peaks) StreamFor(bytes int64) (StreamPeak, bool) {
	if p == nil || len(p.Stream) == 0 || bytes <= 0 {
		return StreamPeak{}, false
	}
	best, dist := p.Stream[0], math.Inf(1)
	for _, s := range p.Stream {
		if d := math.Abs(math.Log(float64(s.Bytes) / float64(bytes))); d < dist {
			best, dist = s, d
		}
	}
	return best, true
}

// probeGEMM builds, opens and times one product graph of kind "fp32",
// "int8" or "q8", returning work/1e9 per second of its fastest run.
func probeGEMM(kind string, m, k, n int, o ortx.Options, work float64) (float64, error) {
	model, aType, yType, err := gemmModel(kind, m, k, n)
	if err != nil {
		return 0, err
	}
	data := model.MarshalSelfContained()
	model = nil
	name := fmt.Sprintf("probe-%s-%dx%dx%d", kind, m, k, n)
	s, err := ortx.OpenBytes(name, data, "", []ortx.Port{{Name: "a", Type: aType}},
		[]ortx.Port{{Name: "y", Type: yType}}, o)
	data = nil
	runtime.GC()
	debug.FreeOSMemory()
	if err != nil {
		return 0, fmt.Errorf("bench: probe: %w", err)
	}
	defer s.Destroy()
	var in, out ort.Value
	shapeA, shapeY := ort.NewShape(int64(m), int64(k)), ort.NewShape(int64(m), int64(n))
	if kind == "int8" {
		a := make([]uint8, m*k)
		for i := range a {
			a[i] = uint8(i * 37)
		}
		in, err = ort.NewTensor(shapeA, a)
	} else {
		a := make([]float32, m*k)
		for i := range a {
			a[i] = float32(i%17)/17 - 0.5
		}
		in, err = ort.NewTensor(shapeA, a)
	}
	if err != nil {
		return 0, fmt.Errorf("bench: probe input: %w", err)
	}
	defer in.Destroy()
	if kind == "int8" {
		out, err = ort.NewEmptyTensor[int32](shapeY)
	} else {
		out, err = ort.NewEmptyTensor[float32](shapeY)
	}
	if err != nil {
		return 0, fmt.Errorf("bench: probe output: %w", err)
	}
	defer out.Destroy()
	// one warm-up, then at least 5 runs and 300 ms (at most 200 runs)
	var times []float64
	var spent time.Duration
	for i := 0; i < 201 && (i < 6 || spent < 300*time.Millisecond); i++ {
		t := time.Now()
		if err := s.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
			return 0, fmt.Errorf("bench: probe %s: %w", name, err)
		}
		d := time.Since(t)
		if i > 0 {
			times = append(times, d.Seconds())
			spent += d
		}
	}
	sort.Float64s(times)
	return work / times[0] / 1e9, nil
}

// gemmModel builds y = a · b with b a [k, n] initializer of random values.
func gemmModel(kind string, m, k, n int) (*onnx.Model, ort.TensorElementDataType, ort.TensorElementDataType, error) {
	rng := rand.New(rand.NewPCG(1, uint64(k*n)))
	g := &onnx.Graph{Name: "probe"}
	var aType, yType ort.TensorElementDataType = ort.TensorElementDataTypeFloat, ort.TensorElementDataTypeFloat
	var aElem, yElem int64 = onnx.Float, onnx.Float
	b := &onnx.Tensor{Name: "b", Dims: []int64{int64(k), int64(n)}}
	switch kind {
	case "fp32":
		b.DataType = onnx.Float
		b.Raw = make([]byte, 4*k*n)
		for i := 0; i < k*n; i++ {
			binary.LittleEndian.PutUint32(b.Raw[4*i:], math.Float32bits(float32(rng.NormFloat64()*0.05)))
		}
		g.Nodes = []*onnx.Node{onnx.NewNode("mm", "MatMul", []string{"a", "b"}, []string{"y"})}
	case "int8", "q8":
		b.DataType = onnx.Int8
		b.Raw = make([]byte, k*n)
		for i := range b.Raw {
			b.Raw[i] = byte(int8(rng.IntN(129) - 64))
		}
		zp := &onnx.Tensor{Name: "bzp", DataType: onnx.Int8, Raw: []byte{0}}
		g.Initializers = append(g.Initializers, zp)
		if kind == "int8" {
			aType, yType = ort.TensorElementDataTypeUint8, ort.TensorElementDataTypeInt32
			aElem, yElem = onnx.Uint8, onnx.Int32
			azp := &onnx.Tensor{Name: "azp", DataType: onnx.Uint8, Raw: []byte{128}}
			g.Initializers = append(g.Initializers, azp)
			g.Nodes = []*onnx.Node{onnx.NewNode("mmi", "MatMulInteger", []string{"a", "b", "azp", "bzp"}, []string{"y"})}
			break
		}
		scale := make([]byte, 4)
		binary.LittleEndian.PutUint32(scale, math.Float32bits(0.01))
		g.Initializers = append(g.Initializers, &onnx.Tensor{Name: "bscale", DataType: onnx.Float, Raw: scale})
		to := &onnx.Attr{Name: "to", Type: onnx.AttrInt, I: onnx.Float}
		g.Nodes = []*onnx.Node{
			onnx.NewNode("dq", "DynamicQuantizeLinear", []string{"a"}, []string{"aq", "ascale", "azp"}),
			onnx.NewNode("mmi", "MatMulInteger", []string{"aq", "b", "azp", "bzp"}, []string{"yi"}),
			onnx.NewNode("cast", "Cast", []string{"yi"}, []string{"yf"}, to),
			onnx.NewNode("s", "Mul", []string{"ascale", "bscale"}, []string{"sc"}),
			onnx.NewNode("out", "Mul", []string{"yf", "sc"}, []string{"y"}),
		}
	default:
		return nil, 0, 0, fmt.Errorf("bench: probe: unknown kind %q", kind)
	}
	g.Initializers = append(g.Initializers, b)
	g.Inputs = []*onnx.ValueInfo{onnx.NewValueInfo("a", aElem, []int64{int64(m), int64(k)}, nil)}
	g.Outputs = []*onnx.ValueInfo{onnx.NewValueInfo("y", yElem, []int64{int64(m), int64(n)}, nil)}
	return &onnx.Model{IRVersion: 8, Opsets: []onnx.Opset{{Version: 17}}, Graph: g}, aType, yType, nil
}
