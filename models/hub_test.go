package models

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveID(t *testing.T) {
	root := t.TempDir()
	own, hub := filepath.Join(root, "vlmrun"), filepath.Join(root, "hf", "hub")
	t.Setenv("VLMRUN_MODELS", own)
	t.Setenv("HF_HUB_CACHE", hub)
	mk := func(dir string) string {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o644)
		return dir
	}
	// A folder is itself.
	plain := mk(filepath.Join(root, "plain"))
	if got, err := ResolveID(plain); err != nil || got != plain {
		t.Errorf("folder: %q, %v", got, err)
	}
	// Not downloaded: one error naming the places and the commands.
	_, err := ResolveID("Qwen/Qwen2-VL-2B-Instruct")
	if !errors.Is(err, ErrModelNotFound) || !strings.Contains(err.Error(), "download-models.sh") ||
		!strings.Contains(err.Error(), filepath.Join(own, "Qwen2-VL-2B-Instruct")) {
		t.Errorf("missing: %v", err)
	}
	// The hub cache: refs/main wins over a newer snapshot.
	repo := filepath.Join(hub, "models--Qwen--Qwen2-VL-2B-Instruct")
	mk(filepath.Join(repo, "snapshots", "aaa"))
	mk(filepath.Join(repo, "snapshots", "bbb"))
	os.MkdirAll(filepath.Join(repo, "refs"), 0o755)
	os.WriteFile(filepath.Join(repo, "refs", "main"), []byte("aaa\n"), 0o644)
	if got, err := ResolveID("Qwen/Qwen2-VL-2B-Instruct"); err != nil || got != filepath.Join(repo, "snapshots", "aaa") {
		t.Errorf("hub: %q, %v", got, err)
	}
	// vlmrun's own download folder comes first.
	d := mk(filepath.Join(own, "Qwen2-VL-2B-Instruct"))
	if got, err := ResolveID("Qwen/Qwen2-VL-2B-Instruct"); err != nil || got != d {
		t.Errorf("own: %q, %v", got, err)
	}
	// Paths that are not ids (or try to escape) are left for Load to report.
	for _, p := range []string{"no/such/folder", "../x", "a/..", "/abs/path"} {
		if got, err := ResolveID(p); err != nil || got != p {
			t.Errorf("%q: %q, %v", p, got, err)
		}
	}
}
