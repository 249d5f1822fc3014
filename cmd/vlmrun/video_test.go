package main

import (
	"bytes"
	"image"
	pal "image/color/palette"
	"image/gif"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
)

func writeGIF(t *testing.T, dir string, n int) string {
	t.Helper()
	g := &gif.GIF{}
	for i := range n {
		img := image.NewPaletted(image.Rect(0, 0, 32, 24), pal.Plan9)
		for j := range img.Pix {
			img.Pix[j] = uint8(i * 7)
		}
		g.Image, g.Delay = append(g.Image, img), append(g.Delay, 50)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "clip.gif")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// GIF frames need neither ffmpeg nor a model with --extract.
func TestVideoExtractGIF(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	clip := writeGIF(t, dir, 8) // 4 s
	out := filepath.Join(dir, "frames")
	code, stdout, stderr := runCLI(t, nil, "video", "--extract", out, "--fps", "1", "--max-frames", "3", clip)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "1.333 s\t32x24") {
		t.Errorf("frames: %q", stdout)
	}
	if _, err := os.Stat(filepath.Join(out, "frame-0002.png")); err != nil {
		t.Error(err)
	}
}

func TestVideoErrors(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no ffmpeg
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.mp4")
	os.WriteFile(empty, nil, 0o644)
	mp4 := filepath.Join(dir, "a.mp4")
	os.WriteFile(mp4, []byte("\x00\x00\x00\x18ftypisom"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"video"}, 2, "no video given"},
		{[]string{"video", "--fps", "0", mp4}, 2, "--fps"},
		{[]string{"video", "--max-frames", "0", mp4}, 2, "--max-frames"},
		{[]string{"video", empty}, 1, "zero bytes"},
		{[]string{"video", mp4}, 1, "apt-get install -y ffmpeg"},
		{[]string{"video", filepath.Join(dir, "missing.webm")}, 1, "no such file"},
		{[]string{"video", "--max-frames", "2", mp4, mp4, mp4}, 2, "--max-frames is 2"},
	} {
		code, _, stderr := runCLI(t, nil, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d with %q on one line", c.args, code, stderr, c.code, c.want)
		}
	}
}

// The frames reach the multi-image path: a family without it says so; a
// temporal method runs on a single-image model's one frame.
func TestVideoCaption(t *testing.T) {
	testenv.ORT(t)
	t.Setenv("PATH", t.TempDir())
	clip := writeGIF(t, t.TempDir(), 4)
	code, _, stderr := runCLI(t, nil, "video", "--max-frames", "2", clip)
	if code != 1 || !strings.Contains(stderr, "does not take several images in one prompt") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, nil, "video", "--max-frames", "1", "--prune", "dtd", "--json", clip)
	if code != 0 || !strings.Contains(stdout, `"frame_extract_ms"`) || !strings.Contains(stdout, `"visual_tokens_per_frame":{"before":64,"after":64}`) {
		t.Errorf("exit %d: %s %s", code, stdout, stderr)
	}
}
