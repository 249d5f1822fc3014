package qwen2vl

import (
	"slices"
	"testing"
)

// The hand-computed case: two text tokens and <|vision_start|>, an image of
// grid (1, 4, 6) (2×3 merged tokens), then <|vision_end|> and two text
// tokens. The text before the image takes 0, 1, 2 on every row; the image
// starts at offset 3: t = 3, h = 3 + row, w = 3 + column; the text after it
// continues from max + 1 = 6; generation from 9 (rope_delta 9 − 12 = −3).
func TestRopeIndexHandComputed(t *testing.T) {
	const vs, img, ve = 50, 51, 52
	tk := RopeTokens{Image: img, Video: 53, VisionStart: vs, Merge: 2}
	ids := []int{7, 8, vs, img, img, img, img, img, img, ve, 9, 10}
	pos, next, err := RopeIndex(ids, []Grid{{1, 4, 6}}, tk)
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{
		0, 1, 2, 3, 3, 3, 3, 3, 3, 6, 7, 8, // t
		0, 1, 2, 3, 3, 3, 4, 4, 4, 6, 7, 8, // h
		0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7, 8, // w
	}
	if !slices.Equal(pos, want) || next != 9 {
		t.Errorf("got %v next %d,\nwant %v next 9", pos, next, want)
	}
	// An image at the very start and nothing after it.
	pos, next, err = RopeIndex([]int{vs, img, img, img, img}, []Grid{{1, 4, 4}}, tk)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{0, 1, 1, 1, 1, 0, 1, 1, 2, 2, 0, 1, 2, 1, 2}; !slices.Equal(pos, want) || next != 3 {
		t.Errorf("image at the end: got %v next %d, want %v next 3", pos, next, want)
	}
	// Two images: text 0, <|vision_start|> 1; the first image (grid
	// (1, 4, 4): 2×2 tokens) at offset 2: t = 2, h = 2 + row, w = 2 +
	// column; <|vision_end|> at max + 1 = 4, <|vision_start|> 5; the second
	// (grid (1, 2, 4): 1×2 tokens) at offset 6; <|vision_end|> 8, text 9;
	// generation from 10 (rope_delta 10 − 12 = −2).
	ids = []int{7, vs, img, img, img, img, ve, vs, img, img, ve, 9}
	pos, next, err = RopeIndex(ids, []Grid{{1, 4, 4}, {1, 2, 4}}, tk)
	if err != nil {
		t.Fatal(err)
	}
	want = []int64{
		0, 1, 2, 2, 2, 2, 4, 5, 6, 6, 8, 9, // t
		0, 1, 2, 2, 3, 3, 4, 5, 6, 6, 8, 9, // h
		0, 1, 2, 3, 2, 3, 4, 5, 6, 7, 8, 9, // w
	}
	if !slices.Equal(pos, want) || next != 10 {
		t.Errorf("two images: got %v next %d,\nwant %v next 10", pos, next, want)
	}
	// Text only: 0..L−1 on every row.
	pos, next, err = RopeIndex([]int{7, 8, 9}, nil, tk)
	if err != nil || !slices.Equal(pos, []int64{0, 1, 2, 0, 1, 2, 0, 1, 2}) || next != 3 {
		t.Errorf("text only: %v %d %v", pos, next, err)
	}
	// Image tokens that do not match the grid.
	if _, _, err := RopeIndex([]int{vs, img, img, ve}, []Grid{{1, 4, 4}}, tk); err == nil {
		t.Error("3 image tokens for a 4-token grid: no error")
	}
	if _, _, err := RopeIndex([]int{vs, 53, ve}, []Grid{{1, 4, 4}}, tk); err == nil {
		t.Error("a video block without a video grid: no error")
	}
}
