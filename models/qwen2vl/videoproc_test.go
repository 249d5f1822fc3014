package qwen2vl

import (
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/models"
)

// TestVideoPatchesLayout: three 4×2 frames (patch 1, merge 2, temporal 2)
// of values frame·1000 + channel·100 + row·10 + column. The odd count gets
// a copy of frame 2; the grid is (2, 2, 4); each temporal patch lists the
// two 2×2 merge blocks, each patch its channel-then-frame values. The
// vector was written from Qwen2VLVideoProcessor's rule and cross-checked
// (not committed) against its padding, view and permute in torch 1.13.
func TestVideoPatchesLayout(t *testing.T) {
	const w, h = 4, 2
	frames := make([][]float32, 3)
	for f := range frames {
		frames[f] = make([]float32, 3*w*h)
		for c := range 3 {
			for y := range h {
				for x := range w {
					frames[f][c*w*h+y*w+x] = float32(f*1000 + c*100 + y*10 + x)
				}
			}
		}
	}
	got, g, err := VideoPatches(frames, w, h, 1, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 1000, 100, 1100, 200, 1200, 1, 1001, 101, 1101, 201, 1201, 10, 1010, 110, 1110, 210, 1210,
		11, 1011, 111, 1111, 211, 1211, 2, 1002, 102, 1102, 202, 1202, 3, 1003, 103, 1103, 203, 1203, 12, 1012, 112,
		1112, 212, 1212, 13, 1013, 113, 1113, 213, 1213, 2000, 2000, 2100, 2100, 2200, 2200, 2001, 2001, 2101, 2101,
		2201, 2201, 2010, 2010, 2110, 2110, 2210, 2210, 2011, 2011, 2111, 2111, 2211, 2211, 2002, 2002, 2102, 2102,
		2202, 2202, 2003, 2003, 2103, 2103, 2203, 2203, 2012, 2012, 2112, 2112, 2212, 2212, 2013, 2013, 2113, 2113,
		2213, 2213}
	if g != (Grid{2, 2, 4}) || !slices.Equal(got, want) {
		t.Errorf("grid %v, patches\n%v\nwant\n%v", g, got, want)
	}
	if len(frames) != 3 {
		t.Error("the caller's frame list was extended")
	}
	// a 1-frame video is one temporal patch of the frame twice (as an image)
	one, g1, err := VideoPatches(frames[:1], w, h, 1, 2, 2)
	img, gi, err2 := Patches(frames[0], w, h, 1, 2, 2)
	if err != nil || err2 != nil || g1 != gi || !slices.Equal(one, img) {
		t.Errorf("one frame: %v %v, image %v %v (%v %v)", g1, one, gi, img, err, err2)
	}
	for _, bad := range []struct {
		frames [][]float32
		w, h   int
	}{{nil, w, h}, {frames, 3, h}, {[][]float32{frames[0][:5]}, w, h}} {
		if _, _, err := VideoPatches(bad.frames, bad.w, bad.h, 1, 2, 2); err == nil {
			t.Errorf("%d frames %d×%d: no error", len(bad.frames), bad.w, bad.h)
		}
	}
}

// TestPySmartResize: Python's smart_resize (round half to even), cross-
// checked (not committed) against transformers' function: 70×42 becomes
// 56×56 where transformers.js's Math.round gives 84 wide; the video
// defaults (min 128·28², max 768·28²) on 640×480 and 1920×1080.
func TestPySmartResize(t *testing.T) {
	for _, c := range []struct{ h, w, min, max, wantH, wantW int }{
		{70, 56, 3136, 12544, 56, 56},
		{84, 112, 3136, 12544, 84, 112},
		{480, 640, 128 * 28 * 28, 28 * 28 * 768, 476, 644},
		{1080, 1920, 128 * 28 * 28, 28 * 28 * 768, 560, 1008},
		{20, 14, 3136, 12544, 84, 56},
		{42, 70, 3136, 12544, 56, 56},
		{360, 640, 3136, 12845056, 364, 644},
	} {
		w, h, err := PySmartResize(c.h, c.w, 28, c.min, c.max)
		if err != nil || w != c.wantW || h != c.wantH {
			t.Errorf("%d×%d (h×w): %d×%d %v, want %d×%d", c.h, c.w, h, w, err, c.wantH, c.wantW)
		}
	}
	if jw, jh, _ := SmartResize(42, 70, 28, 3136, 12544); jw != 84 || jh != 56 {
		t.Errorf("transformers.js's rule: 42×70 → %d×%d, want 56×84", jh, jw)
	}
	if _, _, err := PySmartResize(10, 2100, 28, 3136, 12544); err == nil {
		t.Error("aspect ratio 210: no error")
	}
}

// TestRopeVideo: one text token, <|vision_start|>, a video of grid
// (5, 2, 2) (5 temporal patches of one merged token), <|vision_end|>, one
// text token. The video block starts at offset 2 with h = w = 2. Qwen2-VL:
// t = 2 + k. Qwen2.5-VL (tokens_per_second 2): fps 2 → second_per_grid
// 1 → t = 2 + 2k; fps 3 → 2/3 s → int(k·0.6666667·2) = 0 1 2 4 5 (float32,
// cross-checked against torch); the text after continues from max + 1.
func TestRopeVideo(t *testing.T) {
	const vs, img, vid, ve = 50, 51, 53, 52
	ids := []int{7, vs, vid, vid, vid, vid, vid, ve, 9}
	g := Grid{5, 2, 2}
	for _, c := range []struct {
		name string
		tps  float64
		secs float64
		t    []int64
	}{
		{"qwen2-vl", 0, 1, []int64{2, 3, 4, 5, 6}},
		{"qwen2.5-vl 2 fps", 2, 2.0 / 2, []int64{2, 4, 6, 8, 10}},
		{"qwen2.5-vl 3 fps", 2, 2.0 / 3, []int64{2, 3, 4, 6, 7}},
		{"qwen2.5-vl 4 fps", 2, 2.0 / 4, []int64{2, 3, 4, 5, 6}},
	} {
		tk := RopeTokens{Image: img, Video: vid, VisionStart: vs, Merge: 2, TokensPerSecond: c.tps}
		pos, next, err := RopeVideoIndex(ids, nil, []VideoGrid{{Grid: g, Seconds: c.secs}}, tk)
		if err != nil {
			t.Fatal(err)
		}
		last := c.t[4]
		wantT := append(append([]int64{0, 1}, c.t...), last+1, last+2)
		wantHW := []int64{0, 1, 2, 2, 2, 2, 2, last + 1, last + 2}
		want := slices.Concat(wantT, wantHW, wantHW)
		if !slices.Equal(pos, want) || next != last+3 {
			t.Errorf("%s: %v next %d, want %v next %d", c.name, pos, next, want, last+3)
		}
	}
	// an image then a video: each block takes its own grid, in prompt order
	tk := RopeTokens{Image: img, Video: vid, VisionStart: vs, Merge: 2}
	ids = []int{vs, vid, vid, ve, vs, img, ve}
	pos, next, err := RopeVideoIndex(ids, []Grid{{1, 2, 2}}, []VideoGrid{{Grid: Grid{2, 2, 2}}}, tk)
	want := []int64{0, 1, 2, 3, 4, 5, 6, 0, 1, 1, 3, 4, 5, 6, 0, 1, 1, 3, 4, 5, 6}
	if err != nil || !slices.Equal(pos, want) || next != 7 {
		t.Errorf("video then image: %v next %d %v, want %v next 7", pos, next, err, want)
	}
}

// TestVideoFPS: frames per second of video from the sampled length, else
// the frame times, else 2.
func TestVideoFPS(t *testing.T) {
	for _, c := range []struct {
		v    models.Video
		want float64
	}{
		{models.Video{Times: []float64{0, 0.5, 1, 1.5}, Duration: 2}, 2},
		{models.Video{Times: []float64{0, 0.25, 0.5}}, 4},
		{models.Video{Times: []float64{0}}, 2},
	} {
		if got := VideoFPS(c.v); got != c.want {
			t.Errorf("%+v: %v, want %v", c.v, got, c.want)
		}
	}
}
