package bench

import (
	"encoding/binary"
	"math"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
)

// The probe graphs compute the product they are timed as: each kind's
// output equals a·b computed here (q8 within its quantization error).
func TestProbeGraphs(t *testing.T) {
	testenv.ORT(t)
	const m, k, n = 3, 40, 5
	for _, kind := range []string{"fp32", "int8", "q8"} {
		model, aType, yType, err := gemmModel(kind, m, k, n)
		if err != nil {
			t.Fatal(err)
		}
		var b []float64
		raw := model.Graph.Initializers[len(model.Graph.Initializers)-1].Raw
		for i := 0; i < k*n; i++ {
			if kind == "fp32" {
				b = append(b, float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))))
			} else {
				b = append(b, float64(int8(raw[i])))
			}
		}
		s, err := ortx.OpenBytes(kind, model.MarshalSelfContained(), "", []ortx.Port{{Name: "a", Type: aType}},
			[]ortx.Port{{Name: "y", Type: yType}}, ortx.Options{Threads: 1})
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		a := make([]float64, m*k)
		var in, out ort.Value
		var get func(i int) float64
		if kind == "int8" {
			a8 := make([]uint8, m*k)
			for i := range a8 {
				a8[i] = uint8(i * 37)
				a[i] = float64(a8[i]) - 128 // the zero point
			}
			in, _ = ort.NewTensor(ort.NewShape(m, k), a8)
			o, _ := ort.NewEmptyTensor[int32](ort.NewShape(m, n))
			out, get = o, func(i int) float64 { return float64(o.GetData()[i]) }
		} else {
			af := make([]float32, m*k)
			for i := range af {
				af[i] = float32(i%17)/17 - 0.5
				a[i] = float64(af[i])
			}
			in, _ = ort.NewTensor(ort.NewShape(m, k), af)
			o, _ := ort.NewEmptyTensor[float32](ort.NewShape(m, n))
			out, get = o, func(i int) float64 { return float64(o.GetData()[i]) }
		}
		if err := s.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		scale, tol := 1.0, 1e-4
		if kind == "q8" {
			scale, tol = 0.01, 0.05 // the weight scale; the activation is quantized to 8 bits
		}
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				want := 0.0
				for x := 0; x < k; x++ {
					want += a[i*k+x] * b[x*n+j] * scale
				}
				if got := get(i*n + j); math.Abs(got-want) > tol*math.Max(1, math.Abs(want)) {
					t.Errorf("%s: y[%d,%d] = %v, want %v", kind, i, j, got, want)
				}
			}
		}
		in.Destroy()
		out.Destroy()
		s.Destroy()
	}
}

func TestProbe(t *testing.T) {
	testenv.ORT(t)
	p, err := probe(ortx.Options{Threads: 1}, []int64{1 << 20, 4 << 20}, 64, 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float64{"fp32": p.FP32GEMM, "int8": p.Int8GEMM, "q8": p.Q8GEMM,
		"stream 1 MiB": p.Stream[0].GBs, "stream 4 MiB": p.Stream[1].GBs} {
		if !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("%s peak %v", name, v)
		}
	}
	for _, c := range []struct {
		bytes int64
		want  int64
		ok    bool
	}{{1 << 19, 1 << 20, true}, {3 << 20, 4 << 20, true}, {100 << 20, 4 << 20, true}, {0, 0, false}} {
		s, ok := p.StreamFor(c.bytes)
		if ok != c.ok || s.Bytes != c.want {
			t.Errorf("StreamFor(%d) = %d %v, want %d %v", c.bytes, s.Bytes, ok, c.want, c.ok)
		}
	}
	if _, ok := (*Peaks)(nil).StreamFor(1); ok {
		t.Error("nil peaks: a stream peak")
	}
	if _, err := probe(ortx.Options{Threads: 1}, []int64{8}, 8, 8, 8); err == nil {
		t.Error("8-byte stream: no error")
	}
}
