package video

import (
	"slices"
	"testing"
)

// TestQwenIndices: Qwen2VLVideoProcessor.sample_frames' indices, written
// from its rule and cross-checked (not committed) against the official
// function run with torch 1.13.
func TestQwenIndices(t *testing.T) {
	for _, c := range []struct {
		total         int
		videoFPS, fps float64
		minF, maxF    int
		want          []int
	}{
		// 10 s at 30 fps, 2 fps: 20 frames every 15, or 16 (the cap) every 18.75
		{300, 30, 2, 4, 768, []int{0, 15, 30, 45, 60, 75, 90, 105, 120, 135, 150, 165, 180, 195, 210, 225, 240, 255, 270, 285}},
		{300, 30, 2, 4, 16, []int{0, 18, 37, 56, 75, 93, 112, 131, 150, 168, 187, 206, 225, 243, 262, 281}},
		{301, 30000.0 / 1001, 2, 4, 16, []int{0, 18, 37, 56, 75, 94, 112, 131, 150, 169, 188, 206, 225, 244, 263, 282}},
		{100, 25, 2, 4, 768, []int{0, 12, 25, 37, 50, 62, 75, 87}},
		// a short clip: 1.4 frames raised to min_frames 4
		{7, 10, 2, 4, 768, []int{0, 1, 3, 5}},
		{10, 30, 2, 4, 768, []int{0, 2, 5, 7}},
		// 97/29.97·2 = 6.47 frames, rounded down to the temporal factor: 6
		{97, 29.97, 2, 4, 768, []int{0, 16, 32, 48, 64, 80}},
		{1000, 30, 1, 4, 8, []int{0, 125, 250, 375, 500, 625, 750, 875}},
		// max_frames 5 becomes 4 (a multiple of 2)
		{31, 30, 2, 4, 5, []int{0, 7, 15, 23}},
		{90, 30, 0.5, 4, 768, []int{0, 22, 45, 67}},
		// 3 frames: at most 2 (a multiple of 2)
		{3, 1, 2, 4, 768, []int{0, 1}},
		{4, 2, 2, 4, 768, []int{0, 1, 2, 3}},
		// one frame: Python divides by zero; every frame
		{1, 30, 2, 4, 768, []int{0}},
		// max_frames below the factor: Python divides by zero; max_frames
		// frames by the same rule, never every frame of a long video
		{1000, 30, 2, 4, 1, []int{0}},
	} {
		if got := QwenIndices(c.total, c.videoFPS, c.fps, c.minF, c.maxF, 2); !slices.Equal(got, c.want) {
			t.Errorf("%d frames at %v fps, %v fps, frames %d..%d: %v, want %v", c.total, c.videoFPS, c.fps, c.minF, c.maxF, got, c.want)
		}
	}
	if QwenIndices(0, 30, 2, 4, 16, 2) != nil {
		t.Error("no frames: indices")
	}
}
