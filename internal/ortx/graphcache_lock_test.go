package ortx

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Sessions of one graph opened at once on a cold cache: one writes the
// entry, the others wait for it and open it (before the lock every one of
// them wrote the same weights file, truncating it first); one entry is
// left, and no temporary graph of a writer that died earlier.
func TestGraphCacheConcurrentWriters(t *testing.T) {
	if _, err := Setup(""); err != nil {
		t.Skipf("no ONNX Runtime library: %v", err)
	}
	src := tinyGraph(t)
	dir := filepath.Join(t.TempDir(), "graphs")
	// what a writer killed before its rename leaves behind
	_, prefix, err := cacheEntry(dir, src, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(dir, prefix+"-123.tmp")
	if err := os.WriteFile(dead, []byte("half a graph"), 0o644); err != nil {
		t.Fatal(err)
	}
	const n = 6
	sess := make([]*Session, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess[i], errs[i] = Open(src, []Port{Int64("input_ids")}, []Port{Float("inputs_embeds")}, Options{Threads: 1, GraphCache: dir})
		}()
	}
	wg.Wait()
	written := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("session %d: %v", i, errs[i])
		}
		if !sess[i].FromCache {
			written++
		}
		sess[i].Destroy()
	}
	if written != 1 {
		t.Errorf("%d of %d sessions wrote the entry, want 1", written, n)
	}
	if es, _ := filepath.Glob(filepath.Join(dir, "*.onnx")); len(es) != 1 {
		t.Errorf("cache holds %v, want one entry", es)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("a dead writer's temporary graph is left: %v", err)
	}
}
