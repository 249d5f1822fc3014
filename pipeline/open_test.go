package pipeline_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
)

// With Preload, Open creates the merged decoder's session (concurrently
// with the vision session), the first request opens none, and the
// generated ids are those of a pipeline that opens it on first use.
func TestOpenPreload(t *testing.T) {
	testenv.ORT(t)
	lazy := open(t)
	eager, err := pipeline.Open(testenv.Model(t), pipeline.Options{ORT: ortx.Options{Threads: 1}, Preload: true})
	if err != nil {
		t.Fatal(err)
	}
	defer eager.Close()
	if eager.Opened.Merged <= 0 || lazy.Opened.Merged != 0 {
		t.Errorf("merged session time in Open: preload %v, lazy %v; want > 0 and 0", eager.Opened.Merged, lazy.Opened.Merged)
	}
	img, _ := scenePNG(t, 7, 0, 64)
	a, err := lazy.Caption(context.Background(), "a.png", bytes.NewReader(img), pipeline.Request{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := eager.Caption(context.Background(), "a.png", bytes.NewReader(img), pipeline.Request{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Timings.SessionOpen <= 0 || b.Timings.SessionOpen != 0 {
		t.Errorf("first request's session open: lazy %v, preload %v; want > 0 and 0", a.Timings.SessionOpen, b.Timings.SessionOpen)
	}
	if !slices.Equal(a.GeneratedIDs, b.GeneratedIDs) || len(a.GeneratedIDs) == 0 {
		t.Errorf("ids differ: lazy %v, preload %v", a.GeneratedIDs, b.GeneratedIDs)
	}
}

// A broken vision file and a broken decoder file both surface from the
// concurrent Open, each naming its file.
func TestOpenConcurrentErrors(t *testing.T) {
	testenv.ORT(t)
	src := testenv.Model(t)
	dir := t.TempDir()
	copyTree(t, src, dir)
	onnxDir := filepath.Join(dir, "onnx")
	ents, err := os.ReadDir(onnxDir)
	if err != nil {
		t.Fatal(err)
	}
	var broken []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "vision_encoder") || strings.HasPrefix(n, "embed_tokens") {
			if err := os.WriteFile(filepath.Join(onnxDir, n), []byte("not onnx"), 0o644); err != nil {
				t.Fatal(err)
			}
			broken = append(broken, n)
		}
	}
	if len(broken) != 2 {
		t.Fatalf("want a vision and an embed file in %s, have %v", onnxDir, ents)
	}
	for _, preload := range []bool{false, true} {
		_, err := pipeline.Open(dir, pipeline.Options{ORT: ortx.Options{Threads: 1}, Preload: preload})
		if err == nil {
			t.Fatalf("preload %v: Open of broken files succeeded", preload)
		}
		for _, n := range broken {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("preload %v: error %q does not name %s", preload, err, n)
			}
		}
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A pipeline whose sessions come from the optimized-graph cache (second
// open) generates the ids of one that optimizes every graph itself.
func TestOpenGraphCache(t *testing.T) {
	testenv.ORT(t)
	img, _ := scenePNG(t, 7, 1, 64)
	want, err := open(t).Caption(context.Background(), "a.png", bytes.NewReader(img), pipeline.Request{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i := range 2 {
		p, err := pipeline.Open(testenv.Model(t), pipeline.Options{ORT: ortx.Options{Threads: 1, GraphCache: dir}, Preload: true})
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Caption(context.Background(), "a.png", bytes.NewReader(img), pipeline.Request{}, nil)
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.GeneratedIDs, want.GeneratedIDs) {
			t.Errorf("open %d through the graph cache: ids %v, want %v", i, got.GeneratedIDs, want.GeneratedIDs)
		}
		if es, _ := filepath.Glob(filepath.Join(dir, "*.onnx")); len(es) != 3 {
			t.Errorf("open %d: the cache holds %d graphs, want 3 (vision, embed, decoder)", i, len(es))
		}
	}
}
