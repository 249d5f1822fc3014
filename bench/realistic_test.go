package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vlmrun/vlmrun/decoder"
	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
	_ "github.com/vlmrun/vlmrun/models/smolvlm"
)

// BenchmarkEncoderBatch times the vision encoder on N tiles run in ORT
// calls of 1, 2, … N tiles (one op: all N tiles), to choose
// --encoder-batch. The model is $VLMRUN_SMOLVLM_MODEL (default: the
// realistic-size random-weight folder build/smolvlm-256m-random,
// scripts/twins/realistic.py), else the SmolVLM twin; N is
// $VLMRUN_BENCH_TILES (default 4); threads $VLMRUN_BENCH_THREADS (default
// 2). Pixels are random.
//
//	go test -run '^$' -bench EncoderBatch -benchtime 2x ./bench
func BenchmarkEncoderBatch(b *testing.B) {
	testenv.ORT(b)
	dir := realisticDir(b)
	if dir == "" {
		dir = filepath.Join(testenv.Repo(b), "models", "smolvlm", "testdata", "smolvlm-twin")
	}
	n := envInt("VLMRUN_BENCH_TILES", 4)
	threads := envInt("VLMRUN_BENCH_THREADS", 2)
	spec, err := models.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	vis, err := encoder.OpenVision(encoder.VisionGraph{Path: spec.Files.Vision, Width: spec.Preprocess.Width,
		Height: spec.Preprocess.Height, Features: spec.Outputs.Features}, ortx.Options{Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	defer vis.Destroy()
	r := rand.New(rand.NewPCG(3, 4))
	px := make([]float32, n*3*spec.Preprocess.Width*spec.Preprocess.Height)
	for i := range px {
		px[i] = r.Float32()*2 - 1
	}
	if _, err := vis.EncodeChunks(px, n, 1); err != nil { // warm-up
		b.Fatal(err)
	}
	for _, batch := range batchSizes(n) {
		b.Run(fmt.Sprintf("tiles=%d/batch=%d", n, batch), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := vis.EncodeChunks(px, n, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N*n), "ms/tile")
		})
	}
}

// batchSizes are 1, 2, 4, … below n, and n.
func batchSizes(n int) []int {
	var out []int
	for k := 1; k < n; k *= 2 {
		out = append(out, k)
	}
	return append(out, n)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// realisticDir is $VLMRUN_SMOLVLM_MODEL, else build/smolvlm-256m-random
// when it exists, else "".
func realisticDir(b *testing.B) string {
	if d := os.Getenv("VLMRUN_SMOLVLM_MODEL"); d != "" {
		return d
	}
	d := filepath.Join(testenv.Repo(b), "build", "smolvlm-256m-random")
	if _, err := os.Stat(filepath.Join(d, "config.json")); err != nil {
		return ""
	}
	return d
}

// BenchmarkPrefillLogits times one prefill of $VLMRUN_BENCH_PREFILL
// (default 1,147, the 2048×2048 4×4 + global prompt) random embeddings on
// the realistic-size model's merged decoder, which computes logits for
// every position (the real files have no num_logits_to_keep), and on the
// same weights exported with num_logits_to_keep (fed 1: the LM head for the
// last position only), the folder DIR-logits-to-keep that
// scripts/compare-tjs.sh logits writes. One op is one prefill and its
// first token; -count alternates the two.
//
//	go test -run '^$' -bench PrefillLogits -benchtime 3x -count 2 ./bench
func BenchmarkPrefillLogits(b *testing.B) {
	testenv.ORT(b)
	dir := realisticDir(b)
	if dir == "" {
		b.Skip("no realistic-size model: run scripts/twins/realistic.py")
	}
	n := envInt("VLMRUN_BENCH_PREFILL", 1147)
	threads := envInt("VLMRUN_BENCH_THREADS", 2)
	for _, c := range []struct{ name, dir string }{{"all", dir}, {"last", dir + "-logits-to-keep"}} {
		if _, err := os.Stat(filepath.Join(c.dir, "config.json")); err != nil {
			b.Logf("skipping logits=%s: %v", c.name, err)
			continue
		}
		spec, err := models.Load(c.dir)
		if err != nil {
			b.Fatal(err)
		}
		t := spec.Text
		lm, err := openMerged(spec, threads)
		if err != nil {
			b.Fatal(err)
		}
		if lm.MergedLogitsLastOnly() != (c.name == "last") {
			lm.Destroy()
			b.Fatalf("%s: num_logits_to_keep declared = %v", c.dir, lm.MergedLogitsLastOnly())
		}
		rng := rand.New(rand.NewPCG(1, uint64(n)))
		in := decoder.Input{Embeds: make([]float32, n*t.Hidden), Positions: make([]int64, n), NextPos: int64(n)}
		for i := range in.Embeds {
			in.Embeds[i] = float32(rng.NormFloat64() * 0.5)
		}
		for i := range in.Positions {
			in.Positions[i] = int64(i)
		}
		b.Run(fmt.Sprintf("tokens=%d/logits=%s", n, c.name), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := lm.Generate(context.Background(), in, decoder.Options{MaxNewTokens: 1}, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/prefill")
		})
		lm.Destroy()
	}
}

// BenchmarkPrefillKeep measures what pre-decoder pruning buys in prefill
// on the realistic-size decoder, without the 20 s vision encoder around
// it: prefills of the 1,154-token 4×4+global prompt (1,088 visual tokens)
// and of the lengths left after keeping 50 / 25 / 10 % of the visual
// tokens (610, 338, 175: the counts vlmrun bench reports), with random
// embeddings. One op runs $VLMRUN_BENCH_ROUNDS rounds (default 7), each
// timing every length once in turn, so slow spells of a shared machine
// hit all lengths alike; it logs the median per length, the measured
// speed-up over the full prompt, the speed-up the FLOPs model predicts
// (flops.go, logits for every row as the real file computes them), and
// their ratio.
//
//	go test -run '^$' -bench PrefillKeep -benchtime 1x ./bench
func BenchmarkPrefillKeep(b *testing.B) {
	spec, fl := realisticModel(b)
	threads := envInt("VLMRUN_BENCH_THREADS", 2)
	rounds := envInt("VLMRUN_BENCH_ROUNDS", 7)
	t := spec.Text
	lm, err := openMerged(spec, threads)
	if err != nil {
		b.Fatal(err)
	}
	defer lm.Destroy()
	const text, visual = 66, 1088
	keeps := []float64{1, 0.5, 0.25, 0.1}
	lengths := make([]int, len(keeps))
	inputs := make([]decoder.Input, len(keeps))
	rng := rand.New(rand.NewPCG(1, 2))
	for i, k := range keeps {
		lengths[i] = text + int(k*visual+0.5)
		n := lengths[i]
		in := decoder.Input{Embeds: make([]float32, n*t.Hidden), Positions: make([]int64, n), NextPos: int64(n)}
		for j := range in.Embeds {
			in.Embeds[j] = float32(rng.NormFloat64() * 0.5)
		}
		for j := range in.Positions {
			in.Positions[j] = int64(j)
		}
		inputs[i] = in
	}
	// One untimed prefill per length warms ORT's arena and caches.
	for _, in := range inputs {
		if _, err := lm.Generate(context.Background(), in, decoder.Options{MaxNewTokens: 1}, nil); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		times := make([][]float64, len(keeps))
		for r := 0; r < rounds; r++ {
			for i, in := range inputs {
				out, err := lm.Generate(context.Background(), in, decoder.Options{MaxNewTokens: 1}, nil)
				if err != nil {
					b.Fatal(err)
				}
				times[i] = append(times[i], float64(out.Prefill.Microseconds())/1000)
			}
		}
		base := Summarize(times[0]).Median
		full := fl.PrefillFLOPs(repeat(lengths[0], t.Layers), lengths[0])
		for i, k := range keeps {
			med := Summarize(times[i]).Median
			pred := full / fl.PrefillFLOPs(repeat(lengths[i], t.Layers), lengths[i])
			b.Logf("keep %.2f: %4d tokens, prefill median %7.1f ms (min %7.1f), speed-up %.2f× measured / %.2f× FLOPs (%.0f%%)",
				k, lengths[i], med, Summarize(times[i]).Min, base/med, pred, 100*base/med/pred)
			if i > 0 {
				b.ReportMetric(100*base/med/pred, fmt.Sprintf("pct-of-predicted/keep=%.2f", k))
			}
		}
	}
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// realisticModel loads the realistic-size model (skipping the benchmark
// when it has not been generated) and its FLOPs model; ORT is set up.
func realisticModel(b *testing.B) (*models.Spec, Decoder) {
	dir := realisticDir(b)
	if dir == "" {
		b.Skip("no realistic-size model: run scripts/twins/realistic.py")
	}
	testenv.ORT(b)
	spec, err := models.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	inter, err := ReadIntermediate(dir)
	if err != nil {
		b.Fatal(err)
	}
	return spec, DecoderOf(spec.Text, inter)
}

// openMerged opens spec's embedding and merged decoder graphs.
func openMerged(spec *models.Spec, threads int) (*decoder.LM, error) {
	t := spec.Text
	return decoder.Open(decoder.Files{Embed: spec.Files.Embed, Merged: spec.Files.Decoder},
		decoder.Dims{Hidden: t.Hidden, Layers: t.Layers, Heads: t.Heads, KVHeads: t.KVHeads,
			HeadDim: t.HeadDim, Vocab: t.Vocab}, ortx.Options{Threads: threads})
}
