package video

import (
	"context"
	"image/color"
	"image/color/palette"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// SmolVLM2's frame indices, computed by hand from sample_frames (see
// SmolVLMIndices): n = min(round-half-even(fps·duration), maxFrames),
// numpy.linspace(start, end, n) truncated, repeats dropped.
func TestSmolVLMIndices(t *testing.T) {
	for _, tc := range []struct {
		name               string
		total              int
		rate, dur, fps     float64
		max                int
		want               []int
		first, last, count int // for long outputs (want nil)
	}{
		// 10 frames over 300: step 299/9 = 33.2…, the last frame included
		{"10 s at 30 fps", 300, 30, 10, 1, 64, []int{0, 33, 66, 99, 132, 166, 199, 232, 265, 299}, 0, 0, 0},
		// round(2.5) = 2 (to even), round(3.5) = 4
		{"half to even down", 25, 10, 2.5, 1, 64, []int{0, 24}, 0, 0, 0},
		{"half to even up", 35, 10, 3.5, 1, 64, []int{0, 11, 22, 34}, 0, 0, 0},
		// 6 wanted from 3 frames: 0, .4, .8, 1.2, 1.6, 2 → 0, 1, 2
		{"repeats dropped", 3, 1, 3, 2, 16, []int{0, 1, 2}, 0, 0, 0},
		{"at least one", 5, 25, 0.2, 1, 64, []int{0}, 0, 0, 0},
		{"capped", 300, 30, 10, 2, 4, []int{0, 99, 199, 299}, 0, 0, 0},
		// an hour at 30 fps: 3598 > 64·1, so 1 s is skipped at both ends:
		// linspace(30, 107970, 64), step 107940/63 = 1713.33…
		{"an hour skips a second at both ends", 108000, 30, 3600, 1, 64, nil, 30, 107970, 64},
		{"no frames", 0, 30, 0, 1, 64, nil, 0, 0, 0},
	} {
		got := SmolVLMIndices(tc.total, tc.rate, tc.dur, tc.fps, tc.max)
		if tc.want != nil || tc.count == 0 {
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			}
			continue
		}
		if len(got) != tc.count || got[0] != tc.first || got[len(got)-1] != tc.last || got[1] != 1743 {
			t.Errorf("%s: %d indices %v…%v, want %d from %d (then 1743) to %d", tc.name, len(got), got[:2], got[len(got)-1], tc.count, tc.first, tc.last)
		}
	}
	for s, want := range map[string]float64{"30000/1001": 30000.0 / 1001, "25": 25, "0/0": 0, "x": 0, "-5/1": 0} {
		if got := parseRate(s); got != want {
			t.Errorf("parseRate(%q) = %v, want %v", s, got, want)
		}
	}
}

// GIF frames under SampleSmolVLM: 8 frames of 0.5 s (rate 2, 4 s) at 1 fps
// are indices 0, 2, 4, 7 (step 7/3), at index/rate seconds.
func TestGIFSmolVLM(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	fr, err := Extract(context.Background(), gifFile(t, 8, 50, 8, 6), Options{FPS: 1, MaxFrames: 16, Sampler: SampleSmolVLM})
	if err != nil || len(fr) != 4 {
		t.Fatalf("%d frames, %v", len(fr), err)
	}
	for i, k := range []int{0, 2, 4, 7} {
		pal := palette.Plan9[color.Palette(palette.Plan9).Index(color.Gray{Y: uint8(20 * k)})]
		r, _, _, _ := pal.RGBA()
		if g := grey(t, fr[i]); g != uint8(r>>8) || fr[i].Time != float64(k)/2 || fr[i].Duration != 4 || fr[i].Planned != 4 {
			t.Errorf("frame %d: grey %d (want frame %d's), at %v of %v s", i, g, k, fr[i].Time, fr[i].Duration)
		}
	}
}

// Through ffmpeg: a 2 s 10 fps video (20 frames) at 2 fps is indices 0, 6,
// 12, 19 (step 19/3), selected in one pass, at index/10 seconds.
func TestFFmpegSmolVLM(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("VLMRUN_REQUIRE_FFMPEG") != "" {
			t.Fatal("VLMRUN_REQUIRE_FFMPEG is set but ffmpeg is not in PATH")
		}
		t.Skip("ffmpeg not installed (apt-get install -y ffmpeg)")
	}
	p := filepath.Join(t.TempDir(), "two.mp4")
	cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=2:size=64x48:rate=10",
		"-pix_fmt", "yuv420p", p)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make video: %v %s", err, out)
	}
	start := time.Now()
	fr, err := Extract(context.Background(), p, Options{FPS: 2, MaxFrames: 16, Sampler: SampleSmolVLM})
	if err != nil || len(fr) != 4 {
		t.Fatalf("%d frames, %v", len(fr), err)
	}
	t.Logf("4 frames by index in %v", time.Since(start))
	for i, k := range []int{0, 6, 12, 19} {
		if fr[i].Time != float64(k)/10 || fr[i].Duration != 2 || fr[i].W != 64 {
			t.Errorf("frame %d: at %v of %v s, %dx%d; want frame %d at %v", i, fr[i].Time, fr[i].Duration, fr[i].W, fr[i].H, k, float64(k)/10)
		}
	}
	if slices.Equal(fr[0].PNG, fr[3].PNG) {
		t.Error("first and last frames are the same image")
	}
}
