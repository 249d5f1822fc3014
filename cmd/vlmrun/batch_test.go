package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
)

// caption --jsonl captions a folder (the examples plus a broken file) into
// one line per image whose captions equal plain caption's, resumes, and
// rejects bad batch flags.
func TestCaptionJSONL(t *testing.T) {
	testenv.ORT(t)
	dir := t.TempDir()
	copyDir(t, filepath.Join(testenv.Repo(t), "examples"), dir)
	os.WriteFile(filepath.Join(dir, "broken.jpg"), []byte("nope"), 0o644)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	code, _, stderr := runCLI(t, nil, "caption", "--jsonl", out, "--parallel", "2", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, failed := 0, 0
	got := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct {
			Path    string  `json:"path"`
			Caption *string `json:"caption"`
			Error   string  `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		n++
		if r.Caption == nil {
			failed++
			continue
		}
		got[r.Path] = *r.Caption
	}
	// plain caption --json on the same images gives the same captions
	var paths []string
	for p := range got {
		paths = append(paths, p)
	}
	_, plain, _ := runCLI(t, nil, append([]string{"caption", "--json"}, paths...)...)
	dec := json.NewDecoder(strings.NewReader(plain))
	for dec.More() {
		var r struct {
			Path    string `json:"path"`
			Caption string `json:"caption"`
		}
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		if got[r.Path] != r.Caption {
			t.Errorf("%s: jsonl caption %q, plain caption %q", r.Path, got[r.Path], r.Caption)
		}
		delete(got, r.Path)
	}
	if len(got) != 0 {
		t.Errorf("plain caption did not caption %v", got)
	}
	if n != 6 || failed != 1 {
		t.Errorf("%d lines, %d errors; want 6 and 1", n, failed)
	}
	if !strings.Contains(stderr, "5 captioned, 1 failed") {
		t.Errorf("summary: %q", stderr)
	}
	code, _, stderr = runCLI(t, nil, "caption", "--jsonl", out, dir)
	if code != 0 || !strings.Contains(stderr, "6 already in") {
		t.Errorf("resume: exit %d %q", code, stderr)
	}
	for _, args := range [][]string{
		{"caption", "--shard", "0/2", dir},
		{"caption", "--jsonl", out, "--shard", "2/2", dir},
		{"caption", "--jsonl", out, filepath.Join(dir, "missing.png")},
		{"caption", "--jsonl", out, "-"},
	} {
		if code, _, stderr := runCLI(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
}
