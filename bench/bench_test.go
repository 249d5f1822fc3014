package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	_ "github.com/vlmrun/vlmrun/models/smolvlm" // a tiling family
	"github.com/vlmrun/vlmrun/pipeline"
)

func openPipeline(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	testenv.ORT(t)
	p, err := pipeline.Open(testenv.Model(t), pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestRun(t *testing.T) {
	p := openPipeline(t)
	data, err := os.ReadFile(filepath.Join(testenv.Repo(t), "examples", "scene-4-small.png"))
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	cfg := Config{
		Images: []Image{{Name: "small.png", Data: data}},
		Variants: []Variant{{Method: "none"}, {Method: "divprune", Keep: "0.5"},
			{Method: "fastv", Keep: "0.25"}, {Method: "none", Form: "layers"}},
		Base:   pipeline.Request{MaxNewTokens: 6},
		Warmup: 1, Runs: 2,
		Progress: func(done, total int) {
			calls++
			if total != 12 || done != calls {
				t.Errorf("progress %d/%d at call %d", done, total, calls)
			}
		},
	}
	rep, err := Run(context.Background(), p, NewEnv("test", ortx.Options{Threads: 1}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 12 || len(rep.Rows) != 4 || len(rep.Notes) != 0 {
		t.Fatalf("%d progress calls, %d rows, notes %v", calls, len(rep.Rows), rep.Notes)
	}
	n := p.Spec.TokensPerImage
	base, div, fastv, layers := rep.Rows[0], rep.Rows[1], rep.Rows[2], rep.Rows[3]
	for _, tc := range []struct {
		name  string
		row   Row
		after int
		form  string
	}{
		{"none", base, n, "merged"},
		{"divprune", div, n / 2, "merged"},
		{"fastv", fastv, n / 4, "layers"},
		{"none (layers)", layers, n, "layers"},
	} {
		r := tc.row
		if r.VisualBefore != n || r.VisualAfter != tc.after || r.DecoderForm != tc.form {
			t.Errorf("%s: visual %d→%d form %s, want %d→%d %s", tc.name, r.VisualBefore, r.VisualAfter,
				r.DecoderForm, n, tc.after, tc.form)
		}
		if r.Total.N != 2 || r.Prefill.Median <= 0 || r.GeneratedTokens < 1 || r.GeneratedTokens > 6 {
			t.Errorf("%s: %d runs, prefill %v, %d tokens", tc.name, r.Total.N, r.Prefill, r.GeneratedTokens)
		}
		if r.FLOPs.Encode <= 0 || r.FLOPs.Prefill <= 0 {
			t.Errorf("%s: flops %+v", tc.name, r.FLOPs)
		}
		if r.PrefillSpeedup <= 0 || r.PredictedSpeedup <= 0 {
			t.Errorf("%s: speed-ups %v %v", tc.name, r.PrefillSpeedup, r.PredictedSpeedup)
		}
	}
	// fastv compares to the per-layer baseline, whose head computes one
	// row of logits where the merged graph computes them all.
	if base.PredictedSpeedup != 1 || layers.PredictedSpeedup != 1 || div.PredictedSpeedup <= 1 ||
		fastv.PredictedSpeedup <= 1 || layers.FLOPs.Prefill >= base.FLOPs.Prefill {
		t.Errorf("predicted speed-ups %v %v %v %v", base.PredictedSpeedup, div.PredictedSpeedup,
			fastv.PredictedSpeedup, layers.PredictedSpeedup)
	}
	// The visual KV rows: all layers hold n/2 after DivPrune; FastV keeps
	// every row in the layers before its cut.
	row := rep.Model.Decoder.KVRowBytes()
	L := int64(rep.Model.Decoder.Layers)
	if base.VisualKV != base.VisualKVFull || div.VisualKV != L*int64(n/2)*row {
		t.Errorf("visual KV %d (full %d), divprune %d", base.VisualKV, base.VisualKVFull, div.VisualKV)
	}
	if fastv.VisualKV <= L*int64(n/4)*row || fastv.VisualKV >= base.VisualKV {
		t.Errorf("fastv visual KV %d", fastv.VisualKV)
	}

	var tab, cs bytes.Buffer
	if err := WriteTable(&tab, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"divprune", "fastv", "none (layers)", "prefill (TTFT)", "small.png", "peak RSS"} {
		if !strings.Contains(tab.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tab.String())
		}
	}
	if err := WriteCSV(&cs, rep); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&cs).ReadAll()
	if err != nil || len(recs) != 5 || len(recs[0]) != len(CSVHeader()) {
		t.Fatalf("csv: %d records, %v", len(recs), err)
	}
	// Every line is as wide as the header, and the tile columns carry the
	// row's values (the embedded model encodes one image, skips none).
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, rec := range recs[1:] {
		if len(rec) != len(recs[0]) || rec[col["tiles_encoded"]] != "1" || rec[col["tiles_skipped"]] != "0" ||
			rec[col["tile_prune_ms_median"]] == "" {
			t.Errorf("csv line %v: tiles_encoded/skipped/tile_prune_ms wrong", rec)
		}
	}
}

func TestRunErrors(t *testing.T) {
	p := openPipeline(t)
	img := []Image{{Name: "x.png", Data: []byte("not an image")}}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no runs", Config{Images: img, Variants: []Variant{{}}}},
		{"no images", Config{Variants: []Variant{{}}, Runs: 1}},
		{"bad method", Config{Images: img, Variants: []Variant{{Method: "nosuch"}}, Runs: 1}},
		{"bad image", Config{Images: img, Variants: []Variant{{}}, Runs: 1, SkipVisionFLOP: true}},
	} {
		if _, err := Run(context.Background(), p, Env{}, tc.cfg); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// A family that splits an image into tiles: the encode FLOPs count every
// tile the image gave.
func TestRunTiledModel(t *testing.T) {
	testenv.ORT(t)
	repo := testenv.Repo(t)
	p, err := pipeline.Open(filepath.Join(repo, "models", "smolvlm", "testdata", "smolvlm-twin"),
		pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	data, err := os.ReadFile(filepath.Join(repo, "models", "smolvlm", "testdata", "images", "big100x80.png"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), p, Env{}, Config{Images: []Image{{Name: "big.png", Data: data}},
		Variants: []Variant{{}}, Base: pipeline.Request{MaxNewTokens: 3}, Runs: 1})
	if err != nil {
		t.Fatal(err)
	}
	r, m := rep.Rows[0], rep.Model
	tiles := r.VisualBefore / m.TokensPerImage
	if tiles < 2 || m.Vision.FLOPs <= 0 || r.FLOPs.Encode != float64(tiles)*m.Vision.FLOPs || len(rep.Notes) != 0 {
		t.Errorf("%d visual tokens (%d per tile), vision %v FLOPs per tile, encode %v; notes %v",
			r.VisualBefore, m.TokensPerImage, m.Vision.FLOPs, r.FLOPs.Encode, rep.Notes)
	}
}
