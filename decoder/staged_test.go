package decoder

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/onnx"
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
	open := func(tune ...string) *LM {
		o := ortx.Options{Threads: 1}
		if len(tune) > 0 {
			var err error
			if o.Tune, err = ortx.ParseTuning(tune[0]); err != nil {
				t.Fatal(err)
			}
		}
		lm, err := Open(Files{Embed: base.embed.Path, Merged: base.split.path, CacheDir: cache}, base.d, o)
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
	checkStagesReferenceSource(t, files, base.split.path)
	os.WriteFile(filepath.Join(cache, ".tmp-half-written"), []byte("garbage"), 0o644)
	second := gen(open())
	if second.SplitBuild != 0 || !slices.Equal(second.IDs, first.IDs) {
		t.Fatalf("cache hit: build time %v (want 0), ids %v (want %v)", second.SplitBuild, second.IDs, first.IDs)
	}
	// Opened from the cache, nothing in Go maps the merged file (no
	// derivation): its new mappings are ORT's, using the stages' weights in
	// place instead of copying them. Without prepacking, which gives a
	// prepacked weight's mapping back once its kernel holds its own copy.
	before := mappings(t, base.split.path)
	unpacked := gen(open("prepack=off"))
	if after := mappings(t, base.split.path); after <= before || !slices.Equal(unpacked.IDs, first.IDs) {
		t.Errorf("stage sessions opened from the cache (prepack=off): %d mappings of %s, %d before (want more: ORT maps the weights), ids %v (want %v)",
			after, filepath.Base(base.split.path), before, unpacked.IDs, first.IDs)
	}
	t.Logf("build %v + load %v; from cache: load %v", first.SplitBuild, first.SessionOpen, second.SessionOpen)
	if err := os.WriteFile(files[0], []byte("not an onnx graph"), 0o644); err != nil {
		t.Fatal(err)
	}
	third := gen(open())
	if third.SplitBuild <= 0 || !slices.Equal(third.IDs, first.IDs) {
		t.Fatalf("damaged entry: build time %v (want > 0, rebuilt), ids %v (want %v)", third.SplitBuild, third.IDs, first.IDs)
	}
	if err := os.Remove(files[len(files)-1]); err != nil {
		t.Fatal(err)
	}
	fourth := gen(open())
	if fourth.SplitBuild <= 0 || !slices.Equal(fourth.IDs, first.IDs) {
		t.Fatalf("removed entry file: build time %v (want > 0, rebuilt), ids %v (want %v)", fourth.SplitBuild, fourth.IDs, first.IDs)
	}
	if _, err := os.Stat(files[len(files)-1]); err != nil {
		t.Errorf("removed entry file not written again: %v", err)
	}
}

// checkStagesReferenceSource checks that the derived stage graphs hold no
// copy of the weights: every initializer of onnx's inline limit (4 KiB) or
// more is external data in the merged file, which ORT maps.
func checkStagesReferenceSource(t *testing.T, files []string, merged string) {
	t.Helper()
	refs := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := onnx.Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, init := range m.Graph.Initializers {
			if init.External != nil {
				if init.External["location"] != filepath.Base(merged) {
					t.Errorf("%s: initializer %q is external data in %q, want %q", f, init.Name, init.External["location"], filepath.Base(merged))
				}
				refs++
			} else if len(init.Raw) >= 4096 {
				t.Errorf("%s: initializer %q holds its %d bytes (a copy of the weights)", f, init.Name, len(init.Raw))
			}
		}
	}
	if refs == 0 {
		t.Fatal("no stage initializer refers to the merged file")
	}
}

// mappings counts this process's memory mappings of the file at path
// (Linux /proc/self/maps; the test is skipped elsewhere).
func mappings(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasSuffix(l, " "+abs) {
			n++
		}
	}
	return n
}
