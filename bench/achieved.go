package bench

import (
	"fmt"
	"io"
	"strings"

	"github.com/vlmrun/vlmrun/onnx"
)

// Achieved is a row's work rate per stage: the FLOPs model's work (FLOPs)
// over the stage's median time, and for decode the decoder's weight bytes
// read per generated token times the median tokens/s (every decode step
// reads all of them once; the KV cache is left out).
type Achieved struct {
	EncodeGFLOPs  float64 `json:"encode_gflops,omitempty"`
	PrefillGFLOPs float64 `json:"prefill_gflops,omitempty"`
	DecodeGFLOPs  float64 `json:"decode_gflops,omitempty"`
	DecodeGBs     float64 `json:"decode_weight_gb_per_s,omitempty"`
}

// achieved computes r's rates; weightBytes is the decoder's (0: unknown).
func achieved(r Row, weightBytes int64) Achieved {
	rate := func(flops, ms float64) float64 {
		if flops <= 0 || ms <= 0 {
			return 0
		}
		return flops / ms / 1e6
	}
	a := Achieved{EncodeGFLOPs: rate(r.FLOPs.Encode, r.Encode.Median),
		PrefillGFLOPs: rate(r.FLOPs.Prefill, r.Prefill.Median), DecodeGFLOPs: rate(r.FLOPs.Decode, r.Decode.Median)}
	if weightBytes > 0 {
		a.DecodeGBs = float64(weightBytes) * r.DecodeRate.Median / 1e9
	}
	return a
}

// WeightBytes sums the initializer bytes of the ONNX file at path (mapped,
// not read: the sum comes from the tensors' headers).
func WeightBytes(path string) (int64, error) {
	m, err := onnx.Open(path)
	if err != nil {
		return 0, fmt.Errorf("bench: weight bytes: %w", err)
	}
	defer m.Close()
	var n int64
	for _, t := range m.Graph.Initializers {
		n += t.Bytes()
	}
	return n, nil
}

// writeAchieved prints each row's rates against the probe's peaks (when
// measured).
func writeAchieved(b *strings.Builder, r *Report) {
	any := false
	for _, x := range r.Rows {
		any = any || x.Achieved != (Achieved{})
	}
	if !any {
		return
	}
	pk := r.Peaks
	pct := func(v, peak float64) string {
		if pk == nil || peak <= 0 || v <= 0 {
			return ""
		}
		return fmt.Sprintf(" (%.0f%% of fp32 peak)", 100*v/peak)
	}
	fmt.Fprintln(b, "\nachieved (FLOPs model ÷ median time; decode: decoder weight bytes × tokens/s):")
	for _, x := range r.Rows {
		a := x.Achieved
		fmt.Fprintf(b, "  %s, %s: encode %.1f GFLOP/s%s, prefill %.1f GFLOP/s%s, decode %.2f GFLOP/s, %.2f GB/s of weights",
			x.Image, methodLabel(x.Variant), a.EncodeGFLOPs, pct(a.EncodeGFLOPs, pkFP32(pk)),
			a.PrefillGFLOPs, pct(a.PrefillGFLOPs, pkFP32(pk)), a.DecodeGFLOPs, a.DecodeGBs)
		if s, ok := pk.StreamFor(r.Model.DecoderWeightBytes); ok && a.DecodeGBs > 0 {
			fmt.Fprintf(b, " (%.0f%% of the %s stream peak)", 100*a.DecodeGBs/s.GBs, Bytes(s.Bytes))
		}
		fmt.Fprintln(b)
	}
}

func pkFP32(p *Peaks) float64 {
	if p == nil {
		return 0
	}
	return p.FP32GEMM
}

// WritePeaks prints the probe's peaks.
func WritePeaks(w io.Writer, p *Peaks) error {
	var b strings.Builder
	fmt.Fprintf(&b, "probe (%d intra-op threads, best runs, %.0f ms): GEMM %d×%d×%d fp32 %.1f GFLOP/s, int8 (u8s8) %.1f GOP/s, q8 dynamic %.1f GFLOP/s\n",
		p.Threads, p.Millis, p.GEMM[0], p.GEMM[1], p.GEMM[2], p.FP32GEMM, p.Int8GEMM, p.Q8GEMM)
	for _, s := range p.Stream {
		fmt.Fprintf(&b, "probe: weight streaming (fp32 GEMV) over %s: %.1f GB/s\n", Bytes(s.Bytes), s.GBs)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
