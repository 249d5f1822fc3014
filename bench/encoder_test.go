package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

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
	dir := os.Getenv("VLMRUN_SMOLVLM_MODEL")
	if dir == "" {
		dir = filepath.Join(testenv.Repo(b), "build", "smolvlm-256m-random")
		if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
			dir = filepath.Join(testenv.Repo(b), "models", "smolvlm", "testdata", "smolvlm-twin")
		}
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
