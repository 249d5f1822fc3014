package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/scenes"
)

func TestRun(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	for _, dir := range dirs {
		var out bytes.Buffer
		if err := run([]string{"--seed", "1000", "--count", "3", "--start", "5", "--size", "60", "--out", dir}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "wrote 3 scenes") {
			t.Errorf("summary %q", out.String())
		}
	}
	f, err := os.Open(filepath.Join(dirs[0], "labels.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	i := 5
	for ; sc.Scan(); i++ {
		var rec record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %d: %v", i-4, err)
		}
		s := scenes.Generate(1000, i)
		if rec.Index != i || rec.Seed != 1000 || rec.Caption != s.Caption() || len(rec.Objects) != len(s.Objects) {
			t.Fatalf("record %+v does not describe scene %d (%q)", rec, i, s.Caption())
		}
		if rec.Objects[0].Object != s.Objects[0] || rec.Objects[0].Position != scenes.Positions[s.Objects[0].Cell] {
			t.Errorf("record object %+v, want %+v", rec.Objects[0], s.Objects[0])
		}
		a, err := os.ReadFile(filepath.Join(dirs[0], rec.File))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dirs[1], rec.File))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between runs", rec.File)
		}
		img, err := png.Decode(bytes.NewReader(a))
		if err != nil {
			t.Fatalf("%s: %v", rec.File, err)
		}
		if img.Bounds().Dx() != 60 {
			t.Errorf("%s: bounds %v", rec.File, img.Bounds())
		}
	}
	if i != 8 {
		t.Errorf("labels.jsonl has %d lines, want 3", i-5)
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "scene-00005.png")); err != nil {
		t.Error(err)
	}
}

func TestRunJPEG(t *testing.T) {
	dir := t.TempDir()
	if err := run([]string{"--count", "1", "--size", "48", "--format", "jpeg", "-q", "--out", dir}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "scene-00000.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--count", "1"},
		{"--out", dir, "--format", "gif"},
		{"--out", dir, "--size", "0"},
		{"--out", dir, "--count", "-1"},
		{"--out", dir, "--start", "-2"},
		{"--out", dir, "extra"},
		{"--bogus"},
	} {
		err := run(args, io.Discard, io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), "gen-scenes: ") {
			t.Errorf("run(%q) = %v, want a gen-scenes error", args, err)
		}
	}
	if err := run([]string{"--help"}, io.Discard, io.Discard); !errors.Is(err, pflag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
}
