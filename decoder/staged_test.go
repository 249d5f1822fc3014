package decoder

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
)

// The staged form (any cut points, nothing dropped) generates the ids of
// the merged graph and of cache-free recomputation over many decode steps;
// random-weight twins flip on the smallest position or cache error.
func TestStagedDecodeEqualsMerged(t *testing.T) {
	for _, dir := range []string{"../models/smolvlm/testdata/smolvlm-twin-torch", "../models/scenes-tiny"} {
		lm := openLMAt(t, dir, "")
		ids := []int{1, 4, 4, 4, 4, 4, 4, 5, 6}
		x, err := lm.Embed(ids)
		if err != nil {
			t.Fatal(err)
		}
		pos := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8}
		in := Input{Embeds: x, Positions: pos, NextPos: 9, ImageIdx: []int{1, 2, 3, 4, 5, 6}, TotalVisual: 6}
		const n = 12
		want, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: n, Form: FormMerged}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: n, Recompute: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rec.IDs, want.IDs) {
			t.Fatalf("%s: merged %v, recompute %v", dir, want.IDs, rec.IDs)
		}
		all, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: n, Form: FormLayers}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(all.IDs, want.IDs) {
			t.Errorf("%s: cut after every layer: %v, merged %v", dir, all.IDs, want.IDs)
		}
		for l := 0; l < lm.d.Layers; l++ {
			out, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: n,
				Prune: fixedDrop{layer: l, keep: []int{0, 1, 2, 3, 4, 5}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.IDs, want.IDs) {
				t.Errorf("%s: cut after layer %d: %v, merged %v", dir, l, out.IDs, want.IDs)
			}
		}
		t.Logf("%s: %v", dir, want.IDs)
	}
}

// Stage graphs are cached on disk: the first open derives them, the next
// process reuses them (no derivation), a damaged entry is rebuilt, and a
// half-written temporary file is never read.
func TestStageCache(t *testing.T) {
	base := openLM(t)
	cache := t.TempDir()
	open := func() *LM {
		lm, err := Open(Files{Embed: base.embed.Path, Merged: base.split.path, CacheDir: cache}, base.d, ortx.Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(lm.Destroy)
		return lm
	}
	ids := []int{1, 4, 4, 4, 4, 5, 6}
	x, err := base.Embed(ids)
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Embeds: x, Positions: []int64{0, 1, 2, 3, 4, 5, 6}, NextPos: 7, ImageIdx: []int{1, 2, 3, 4}, TotalVisual: 4}
	gen := func(lm *LM) *Output {
		out, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: 6, Form: FormLayers}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := gen(open())
	if first.SplitBuild <= 0 {
		t.Fatalf("first open: build time %v, want > 0", first.SplitBuild)
	}
	files, _ := filepath.Glob(filepath.Join(cache, "*.onnx"))
	if len(files) != base.d.Layers {
		t.Fatalf("%d cached stage graphs, want %d", len(files), base.d.Layers)
	}
	os.WriteFile(filepath.Join(cache, ".tmp-half-written"), []byte("garbage"), 0o644)
	second := gen(open())
	if second.SplitBuild != 0 || !slices.Equal(second.IDs, first.IDs) {
		t.Fatalf("cache hit: build time %v (want 0), ids %v (want %v)", second.SplitBuild, second.IDs, first.IDs)
	}
	t.Logf("build %v + load %v; from cache: load %v", first.SplitBuild, first.SessionOpen, second.SessionOpen)
	if err := os.WriteFile(files[0], []byte("not an onnx graph"), 0o644); err != nil {
		t.Fatal(err)
	}
	third := gen(open())
	if third.SplitBuild <= 0 || !slices.Equal(third.IDs, first.IDs) {
		t.Fatalf("damaged entry: build time %v (want > 0, rebuilt), ids %v (want %v)", third.SplitBuild, third.IDs, first.IDs)
	}
}
