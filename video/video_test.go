package video

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gifFile writes an animated GIF of n frames (frame i is grey level 20·i),
// each shown for delay/100 s, and returns its path.
func gifFile(t *testing.T, n, delay, w, h int) string {
	t.Helper()
	g := &gif.GIF{}
	for i := range n {
		img := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
		c := img.Palette.Index(color.Gray{Y: uint8(20 * i)})
		for j := range img.Pix {
			img.Pix[j] = uint8(c)
		}
		g.Image = append(g.Image, img)
		g.Delay = append(g.Delay, delay)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "a.gif")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func grey(t *testing.T, f Frame) uint8 {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(f.PNG))
	if err != nil {
		t.Fatal(err)
	}
	r, _, _, _ := img.At(0, 0).RGBA()
	return uint8(r >> 8)
}

func TestTimes(t *testing.T) {
	if got := Times(10, 1.6, 16); len(got) != 16 || got[1] != 0.625 {
		t.Errorf("10 s at 1.6 fps: %v", got)
	}
	if got := Times(3600, 1, 8); len(got) != 8 || got[7] != 3150 { // spread over the hour
		t.Errorf("1 h, 8 frames: %v", got)
	}
	if got := Times(0.01, 1, 16); len(got) != 1 || got[0] != 0 {
		t.Errorf("short: %v", got)
	}
}

// GIF frames in pure Go: 10 frames of 0.1 s sampled at 4 fps.
func TestGIF(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no ffmpeg needed
	p := gifFile(t, 10, 10, 8, 6)
	fr, err := Extract(context.Background(), p, Options{FPS: 4, MaxFrames: 16})
	if err != nil {
		t.Fatal(err)
	}
	if len(fr) != 4 || fr[0].Duration != 1 || fr[3].Duration != 1 {
		t.Fatalf("%d frames of a %v s GIF, want 4 of 1 s", len(fr), fr[0].Duration)
	}
	for i, want := range []int{0, 2, 5, 7} { // t = 0, .25, .5, .75
		pal := palette.Plan9[color.Palette(palette.Plan9).Index(color.Gray{Y: uint8(20 * want)})]
		r, _, _, _ := pal.RGBA()
		if g := grey(t, fr[i]); g != uint8(r>>8) || fr[i].W != 8 || fr[i].H != 6 || fr[i].Time != float64(i)*0.25 {
			t.Errorf("frame %d: grey %d (want frame %d), %dx%d at %v", i, g, want, fr[i].W, fr[i].H, fr[i].Time)
		}
	}
	// max-frames caps and spreads
	fr, _ = Extract(context.Background(), p, Options{FPS: 30, MaxFrames: 2})
	if len(fr) != 2 || fr[1].Time != 0.5 {
		t.Errorf("capped: %d frames", len(fr))
	}
	// large frames are scaled down
	fr, err = Extract(context.Background(), gifFile(t, 2, 10, 300, 100), Options{MaxSide: 64})
	if err != nil || fr[0].W != 64 || fr[0].H != 21 {
		t.Errorf("downscale: %v %dx%d", err, fr[0].W, fr[0].H)
	}
}

func TestGIFBad(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	p := gifFile(t, 5, 10, 16, 16)
	data, _ := os.ReadFile(p)
	dir := t.TempDir()
	trunc := filepath.Join(dir, "t.gif")
	os.WriteFile(trunc, data[:len(data)/2], 0o644)
	if _, err := Extract(context.Background(), trunc, Options{}); !errors.Is(err, ErrBadVideo) {
		t.Errorf("truncated GIF: %v", err)
	}
	// a 65535×65535 screen: refused from the header, nothing decoded
	huge := append([]byte(nil), data...)
	huge[6], huge[7], huge[8], huge[9] = 0xff, 0xff, 0xff, 0xff
	hp := filepath.Join(dir, "h.gif")
	os.WriteFile(hp, huge, 0o644)
	if _, err := Extract(context.Background(), hp, Options{}); !errors.Is(err, ErrBadVideo) || !strings.Contains(err.Error(), "above the limit") {
		t.Errorf("huge GIF: %v", err)
	}
	l, err := ScanGIF(bytes.NewReader(data))
	if err != nil || l.Frames != 5 || l.Pixels != 5*256 {
		t.Errorf("scan: %+v %v", l, err)
	}
	empty := filepath.Join(dir, "e.mp4")
	os.WriteFile(empty, nil, 0o644)
	if _, err := Extract(context.Background(), empty, Options{}); !errors.Is(err, ErrBadVideo) || !strings.Contains(err.Error(), "zero bytes") {
		t.Errorf("empty: %v", err)
	}
}

func TestNoFFmpeg(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	p := filepath.Join(t.TempDir(), "a.mp4")
	os.WriteFile(p, []byte("\x00\x00\x00\x18ftypmp42 not really"), 0o644)
	_, err := Extract(context.Background(), p, Options{})
	if !errors.Is(err, ErrNoFFmpeg) || !strings.Contains(err.Error(), "apt-get install -y ffmpeg") {
		t.Errorf("no ffmpeg: %v", err)
	}
}

// The ffmpeg path (skipped when ffmpeg is not installed).
func TestFFmpeg(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("VLMRUN_REQUIRE_FFMPEG") != "" {
			t.Fatal("VLMRUN_REQUIRE_FFMPEG is set (.ci/run installed ffmpeg) but ffmpeg is not in PATH")
		}
		t.Skip("ffmpeg not installed (apt-get install -y ffmpeg)")
	}
	dir := t.TempDir()
	mk := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		cmd := exec.Command("ffmpeg", append(append([]string{"-nostdin", "-loglevel", "error", "-y"}, args...), p)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make %s: %v %s", name, err, out)
		}
		return p
	}
	ctx := context.Background()
	// a 10 s 30 fps video → 16 frames spread over it
	v := mk("ten.mp4", "-f", "lavfi", "-i", "testsrc=duration=10:size=320x240:rate=30", "-pix_fmt", "yuv420p")
	start := time.Now()
	fr, err := Extract(ctx, v, Options{FPS: 2, MaxFrames: 16})
	if err != nil || len(fr) != 16 || fr[15].Time != 9.375 || fr[0].W != 320 || fr[15].Duration != 10 {
		t.Fatalf("10 s video: %d frames, %v", len(fr), err)
	}
	t.Logf("10 s 30 fps → 16 frames in %v", time.Since(start))
	// WebM and APNG through ffmpeg too
	for _, name := range []string{"a.webm", "a.apng"} {
		p := mk(name, "-f", "lavfi", "-i", "testsrc=duration=2:size=64x48:rate=10")
		if fr, err := Extract(ctx, p, Options{FPS: 2}); err != nil || len(fr) < 1 {
			t.Errorf("%s: %d frames, %v", name, len(fr), err)
		}
	}
	// an hour-long file with max-frames 8: 8 seeks, bounded time
	hour := mk("hour.mp4", "-f", "lavfi", "-i", "testsrc=duration=3600:size=64x48:rate=1", "-pix_fmt", "yuv420p", "-g", "60")
	start = time.Now()
	fr, err = Extract(ctx, hour, Options{FPS: 1, MaxFrames: 8})
	if err != nil || len(fr) != 8 || fr[7].Time != 3150 {
		t.Errorf("1 h: %d frames, %v", len(fr), err)
	}
	t.Logf("1 h video → 8 frames in %v", time.Since(start))
	// an 8K frame is scaled in ffmpeg before it reaches Go
	k8 := mk("8k.mp4", "-f", "lavfi", "-i", "color=c=red:size=7680x4320:duration=0.2:rate=5", "-pix_fmt", "yuv420p")
	fr, err = Extract(ctx, k8, Options{MaxFrames: 1})
	if err != nil || fr[0].W != 1024 || fr[0].H != 576 {
		t.Errorf("8K: %v %+v", err, fr)
	}
	// not a video, truncated, zero-length
	txt := filepath.Join(dir, "notes.mp4")
	os.WriteFile(txt, []byte("hello, this is text"), 0o644)
	if _, err := Extract(ctx, txt, Options{}); !errors.Is(err, ErrBadVideo) {
		t.Errorf("text: %v", err)
	}
	data, _ := os.ReadFile(v)
	tr := filepath.Join(dir, "trunc.mp4")
	os.WriteFile(tr, data[:len(data)/3], 0o644)
	fr, err = Extract(ctx, tr, Options{FPS: 2, MaxFrames: 16})
	if err == nil && len(fr) == 0 || err != nil && !errors.Is(err, ErrBadVideo) {
		t.Errorf("truncated: %d frames, %v", len(fr), err)
	}
	t.Logf("truncated mp4: %d frames, %v", len(fr), err)
	// truncated with the index first (faststart MP4, WebM): ffprobe still reads
	// the header; the frames past the cut are missing → fewer frames, bounded
	for _, name := range []string{"fast.mp4", "cut.webm"} {
		p := mk(name, "-f", "lavfi", "-i", "testsrc=duration=10:size=160x120:rate=30", "-pix_fmt", "yuv420p", "-movflags", "+faststart")
		data, _ := os.ReadFile(p)
		os.WriteFile(p, data[:len(data)/2], 0o644)
		start := time.Now()
		fr, err := Extract(ctx, p, Options{FPS: 2, MaxFrames: 16})
		if err != nil && !errors.Is(err, ErrBadVideo) || err == nil && (len(fr) == 0 || len(fr) >= 16 || fr[0].Planned != 16) {
			t.Errorf("truncated %s: %d frames, %v", name, len(fr), err)
		}
		t.Logf("half of %s: %d frames, %v, in %v", name, len(fr), err, time.Since(start))
	}
	zero := mk("zero.mp4", "-f", "lavfi", "-i", "testsrc=duration=1:size=64x48:rate=10", "-frames:v", "0")
	if _, err := Extract(ctx, zero, Options{}); !errors.Is(err, ErrBadVideo) {
		t.Errorf("zero frames: %v", err)
	}
	// every command runs under the timeout
	if _, err := Extract(ctx, v, Options{Timeout: time.Millisecond}); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("timeout: %v", err)
	}
}

// A GIF frame that covers part of the screen is drawn over the previous
// one (disposal none); DisposalBackground clears its rectangle afterwards.
func TestGIFCompositing(t *testing.T) {
	pal := color.Palette{color.RGBA{0, 0, 0, 255}, color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.Transparent}
	full := image.NewPaletted(image.Rect(0, 0, 4, 4), pal)
	for i := range full.Pix {
		full.Pix[i] = 1 // red
	}
	part := image.NewPaletted(image.Rect(2, 2, 4, 4), pal)
	for i := range part.Pix {
		part.Pix[i] = 2 // green in the bottom-right quarter
	}
	last := image.NewPaletted(image.Rect(0, 0, 1, 1), pal)
	last.Pix[0] = 3 // transparent: shows what is below
	g := &gif.GIF{Image: []*image.Paletted{full, part, last}, Delay: []int{10, 10, 10},
		Disposal: []byte{gif.DisposalNone, gif.DisposalBackground, gif.DisposalNone},
		Config:   image.Config{ColorModel: pal, Width: 4, Height: 4}}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "c.gif")
	os.WriteFile(p, buf.Bytes(), 0o644)
	fr, err := Extract(context.Background(), p, Options{FPS: 10})
	if err != nil || len(fr) != 3 {
		t.Fatalf("%d frames, %v", len(fr), err)
	}
	at := func(f Frame, x, y int) color.RGBA {
		img, _ := png.Decode(bytes.NewReader(f.PNG))
		return color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
	}
	if c := at(fr[1], 0, 0); c.R != 255 || c.G != 0 {
		t.Errorf("frame 1 outside the sub-rectangle: %v, want red", c)
	}
	if c := at(fr[1], 3, 3); c.G != 255 {
		t.Errorf("frame 1 inside: %v, want green", c)
	}
	if c := at(fr[2], 3, 3); c.A != 0 {
		t.Errorf("frame 2 after DisposalBackground: %v, want cleared", c)
	}
	if c := at(fr[2], 0, 0); c.R != 255 {
		t.Errorf("frame 2 under a transparent pixel: %v, want red", c)
	}
}

// A file whose name looks like another ffmpeg protocol is still read as a file.
func TestFFmpegProtocolNames(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "pipe:0")
	cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=1:size=32x24:rate=5",
		"-pix_fmt", "yuv420p", "-f", "mp4", "file:"+p)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	os.Chdir(dir)
	fr, err := Extract(context.Background(), "pipe:0", Options{FPS: 2})
	if err != nil || len(fr) != 2 {
		t.Errorf("%d frames, %v", len(fr), err)
	}
}
