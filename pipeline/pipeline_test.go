package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/decoder"
	"github.com/vlmrun/vlmrun/eval"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/scenes"

	_ "github.com/vlmrun/vlmrun/models/scenes"
)

func open(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	testenv.ORT(t)
	p, err := pipeline.Open(testenv.Model(t), pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func scenePNG(t *testing.T, seed uint64, i, size int) ([]byte, scenes.Scene) {
	t.Helper()
	sc := scenes.Generate(seed, i)
	var buf bytes.Buffer
	if err := png.Encode(&buf, sc.Render(size)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), sc
}

// The shipped example images (PNG, JPEG, WebP, an EXIF-rotated JPEG) must be
// captioned exactly as their ground truth says.
func TestExamples(t *testing.T) {
	p := open(t)
	dir := filepath.Join(testenv.Repo(t), "examples")
	data, err := os.ReadFile(filepath.Join(dir, "labels.json"))
	if err != nil {
		t.Fatal(err)
	}
	var labels map[string]string
	if err := json.Unmarshal(data, &labels); err != nil {
		t.Fatal(err)
	}
	if len(labels) < 4 {
		t.Fatalf("want at least 4 examples, have %d", len(labels))
	}
	for file, want := range labels {
		t.Run(file, func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var streamed string
			res, err := p.Caption(context.Background(), file, f, pipeline.Request{}, func(s string) error {
				streamed += s
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Caption != want {
				t.Errorf("caption\n got %q\nwant %q", res.Caption, want)
			}
			if streamed != res.Caption {
				t.Errorf("streamed text %q differs from caption %q", streamed, res.Caption)
			}
			tm := res.Timings
			for name, v := range map[string]float64{"decode": tm.ImageDecode, "preprocess": tm.Preprocess,
				"encode": tm.Encode, "prefill": tm.Prefill, "total": tm.Total} {
				if v <= 0 {
					t.Errorf("timing %s = %v, want > 0", name, v)
				}
			}
		})
	}
}

// Greedy generation with the KV cache must equal cache-free recomputation
// token for token, with and without gapped position ids (pruned tokens).
func TestKVCacheEqualsRecompute(t *testing.T) {
	p := open(t)
	for i := 0; i < 6; i++ {
		img, sc := scenePNG(t, 7001, i, 300)
		for _, oracle := range []int{0, 16} {
			req := pipeline.Request{}
			if oracle > 0 {
				req.Pre = &eval.Oracle{Scores: sc.Coverage(p.Spec.GridH)}
				req.Keep = keep(oracle)
			}
			cached, err := p.Caption(context.Background(), "a.png", bytes.NewReader(img), req, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Recompute = true
			fresh, err := p.Caption(context.Background(), "a.png", bytes.NewReader(img), req, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cached.GeneratedIDs, fresh.GeneratedIDs) {
				t.Errorf("scene %d oracle %d: cached %v\n recompute %v", i, oracle, cached.GeneratedIDs, fresh.GeneratedIDs)
			}
			if len(cached.GeneratedIDs) < 5 {
				t.Errorf("scene %d: only %d tokens generated", i, len(cached.GeneratedIDs))
			}
		}
	}
}

// The per-layer decoder form must give the same tokens as the merged graph.
func TestLayersEqualMerged(t *testing.T) {
	p := open(t)
	for i := 0; i < 6; i++ {
		img, _ := scenePNG(t, 7002, i, 200)
		var got [2][]int
		for j, form := range []decoder.Form{decoder.FormMerged, decoder.FormLayers} {
			res, err := p.Caption(context.Background(), "a.png", bytes.NewReader(img), pipeline.Request{Form: form}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Timings.DecoderForm != string(form) {
				t.Fatalf("ran form %s, want %s", res.Timings.DecoderForm, form)
			}
			got[j] = res.GeneratedIDs
		}
		if !slices.Equal(got[0], got[1]) {
			t.Errorf("scene %d: merged %v\n layers %v", i, got[0], got[1])
		}
	}
}

type keep int

func (k keep) Count(n int) (int, error) { return min(int(k), n), nil }
