package graphcache

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// A key changes with the version, the variant and the source file's
// contents or time; entries round-trip and an incomplete one is not read.
func TestKeyReadWrite(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(src, []byte("graph"), 0o644); err != nil {
		t.Fatal(err)
	}
	k, err := Key("v1", src, "a")
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range [][2]string{{"v2", "a"}, {"v1", "b"}} {
		if k2, _ := Key(other[0], src, other[1]); k2 == k {
			t.Errorf("key unchanged for %v", other)
		}
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(src, later, later); err != nil {
		t.Fatal(err)
	}
	if k2, _ := Key("v1", src, "a"); k2 == k {
		t.Errorf("key unchanged after the source's time changed")
	}
	if _, err := Key("v1", filepath.Join(dir, "missing.onnx"), "a"); err == nil {
		t.Errorf("key of a missing file")
	}
	cache := filepath.Join(dir, "cache")
	if _, ok := Read(cache, k, 1); ok {
		t.Errorf("read from an empty cache")
	}
	want := [][]byte{[]byte("zero"), []byte("one")}
	if err := Write(cache, k, want); err != nil {
		t.Fatal(err)
	}
	got, ok := Read(cache, k, 2)
	if !ok || len(got) != 2 || !slices.Equal(got[0], want[0]) || !slices.Equal(got[1], want[1]) {
		t.Errorf("read back %q, %v", got, ok)
	}
	if _, ok := Read(cache, k, 3); ok {
		t.Errorf("read 3 graphs of a 2-graph entry")
	}
	if tmp, _ := filepath.Glob(filepath.Join(cache, ".tmp-*")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}
