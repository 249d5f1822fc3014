package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
)

// explain draws the kept tokens of a pre-decoder method over the image, and
// of an in-decoder method one row per boundary.
func TestExplain(t *testing.T) {
	if code, _, stderr := runCLI(t, nil, "explain", "--prune", "fastv", "--keep", "1.5", "x.png"); code != 2 || !strings.Contains(stderr, "--keep") {
		t.Errorf("fastv --keep 1.5: exit %d, %q", code, stderr)
	}
	testenv.ORT(t)
	img := filepath.Join(testenv.Repo(t), "examples", "scene-0.png")
	// pdrop on the 4-layer model: stages after layers 0, 1, 2 (32, 16, 8).
	out := filepath.Join(t.TempDir(), "pdrop.png")
	code, stdout, stderr := runCLI(t, nil, "explain", "--prune", "pdrop", "--scale", "1", "--out", out, img)
	if code != 0 || !strings.Contains(stdout, "after layer 2, 8 of 64 visual tokens present") {
		t.Fatalf("pdrop: exit %d, %q %q", code, stdout, stderr)
	}
	if f, err := os.Open(out); err != nil {
		t.Fatal(err)
	} else {
		p, err := png.Decode(f)
		f.Close()
		if err != nil || p.Bounds().Dx() != 96 || p.Bounds().Dy() != 3*96+2*8 {
			t.Errorf("pdrop: %v, bounds %v", err, p.Bounds())
		}
	}
	for _, m := range []string{"divprune", "tome", "vflowopt"} {
		out := filepath.Join(t.TempDir(), m+".png")
		code, stdout, stderr := runCLI(t, nil, "explain", "--prune", m, "--keep", "16", "--out", out, img)
		if code != 0 || !strings.Contains(stdout, "of 64 visual tokens") {
			t.Fatalf("%s: exit %d, %q %q", m, code, stdout, stderr)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		p, err := png.Decode(f)
		f.Close()
		if err != nil || p.Bounds().Dx() != 96*4 || p.Bounds().Dy() != 96*4 {
			t.Errorf("%s: %v, bounds %v", m, err, p.Bounds())
		}
	}
	// A split image (SmolVLM twin: 2×2 tiles of 4×4 tokens + the global
	// image) draws two panels; GlobalCom² reads the tile layout.
	twin := filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata", "smolvlm-twin")
	out = filepath.Join(t.TempDir(), "gc.png")
	code, stdout, stderr = runCLI(t, nil, "explain", "--model", twin, "--prune", "globalcom2", "--keep", "0.25", "--scale", "2",
		"--out", out, filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata", "images", "sq64.png"))
	if code != 0 || !strings.Contains(stdout, "of 80 visual tokens") {
		t.Fatalf("globalcom2 on the twin: exit %d, %q %q", code, stdout, stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if p, err := png.Decode(f); err != nil || p.Bounds().Dx() != 2*64+8 {
		t.Errorf("two panels: %v, bounds %v", err, p.Bounds())
	}
	// Qwen2-VL: the token grid follows the image (112×84: 4×3 tokens).
	qwen := filepath.Join(testenv.Repo(t), "models", "qwen2vl", "testdata")
	out = filepath.Join(t.TempDir(), "qwen.png")
	code, stdout, stderr = runCLI(t, nil, "explain", "--model", filepath.Join(qwen, "qwen2vl-twin"), "--prune", "divprune",
		"--keep", "0.5", "--out", out, filepath.Join(qwen, "images", "wide112x84.png"))
	if code != 0 || !strings.Contains(stdout, "kept 6 of 12 visual tokens") {
		t.Errorf("divprune on the Qwen2-VL twin: exit %d, %q %q", code, stdout, stderr)
	}
}
