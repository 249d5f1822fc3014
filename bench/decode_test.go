package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vlmrun/vlmrun/decoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
)

// stepsPerPrefill is the number of tokens generated after each synthetic
// prefill, so the context grows by at most this much during a benchmark.
const stepsPerPrefill = 16

// BenchmarkDecodeStep times generated tokens at a context of 100 and 1,000
// tokens on the embedded model's merged and per-layer decoder graphs, fed
// synthetic embeddings (random values, positions 0..n−1, no EOS, greedy).
// One op is one generated token after the first; the prefills are not
// timed. Reported per token: ns/op (all), ort-ns/token (inside ONNX
// Runtime Run calls: the decoder graphs, and the embedding of the new
// token) and go-ns/token (the rest: the runner's own work, which must not
// grow with the context, since the KV cache is never copied in Go), and
// allocations. ORT runs with one intra-op thread.
//
//	go test -run '^$' -bench DecodeStep -benchtime 400x ./bench
func BenchmarkDecodeStep(b *testing.B) {
	testenv.ORT(b)
	spec, err := models.Load(testenv.Model(b))
	if err != nil {
		b.Fatal(err)
	}
	t := spec.Text
	lm, err := decoder.Open(decoder.Files{Embed: spec.Files.Embed, Merged: spec.Files.Decoder},
		decoder.Dims{Hidden: t.Hidden, Layers: t.Layers, Heads: t.Heads, KVHeads: t.KVHeads,
			HeadDim: t.HeadDim, Vocab: t.Vocab}, ortx.Options{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer lm.Destroy()
	for _, form := range []decoder.Form{decoder.FormMerged, decoder.FormLayers} {
		for _, n := range []int{100, 1000} {
			b.Run(fmt.Sprintf("%s/ctx=%d", form, n), func(b *testing.B) { decodeSteps(b, lm, form, n) })
		}
	}
}

func decodeSteps(b *testing.B, lm *decoder.LM, form decoder.Form, n int) {
	hidden := lm.Dims().Hidden
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	in := decoder.Input{Embeds: make([]float32, n*hidden), Positions: make([]int64, n), NextPos: int64(n)}
	for i := range in.Embeds {
		in.Embeds[i] = float32(rng.NormFloat64() * 0.5)
	}
	for i := range in.Positions {
		in.Positions[i] = int64(i)
	}
	sessions := lm.Sessions()
	ortNanos := func() time.Duration {
		_, d := ortTotals(sessions)
		return d
	}
	var ortIn time.Duration
	b.ReportAllocs()
	b.StopTimer()
	b.ResetTimer()
	for left := b.N; left > 0; {
		steps := min(stepsPerPrefill, left)
		left -= steps
		got := 0
		var ort0 time.Duration
		emit := func(int) error {
			got++
			switch got {
			case 1: // the prefill's token: start timing the steps
				ort0 = ortNanos()
				b.StartTimer()
			case steps + 1:
				b.StopTimer()
				ortIn += ortNanos() - ort0
			}
			return nil
		}
		if _, err := lm.Generate(context.Background(), in, decoder.Options{MaxNewTokens: steps + 1, Form: form}, emit); err != nil {
			b.Fatal(err)
		}
		if got != steps+1 {
			b.Fatalf("generated %d tokens, want %d", got, steps+1)
		}
	}
	total := b.Elapsed()
	b.ReportMetric(float64(ortIn.Nanoseconds())/float64(b.N), "ort-ns/token")
	b.ReportMetric(float64((total-ortIn).Nanoseconds())/float64(b.N), "go-ns/token")
}

// ortTotals sums the Run calls and their time over sessions.
func ortTotals(ss []*ortx.Session) (int64, time.Duration) {
	var c int64
	var d time.Duration
	for _, s := range ss {
		n, t := s.Stats()
		c += n
		d += t
	}
	return c, d
}
