package qwen2vl

import "fmt"

// RopeTokens are the token ids get_rope_index looks for (config.json).
type RopeTokens struct {
	Image, Video, VisionStart int
	Merge                     int // vision_config.spatial_merge_size (default 2)
}

// RopeIndex is transformers.js 4.3.1's Qwen2VLForConditionalGeneration
// get_rope_index for one prompt without padding (attention mask all ones):
// the M-RoPE position ids, three rows of len(ids) (temporal, height,
// width; row-major), and the next text position (rope_delta + len(ids)).
//
// Every <|vision_start|> followed by an image (or video) token starts a
// vision block: the text before it takes positions st, st+1, ... on all
// three rows (st: the running maximum + 1, from 0); the block's grid (t,
// h/merge, w/merge) takes t = offset + frame, h = offset + row, w = offset
// + column with offset = st + the text length; the text after the last
// block continues from the maximum + 1. grids are the image grids, in
// prompt order (videos are not supported here).
//
// Without grids (a text-only prompt) all three rows are 0..L−1; the next
// position is then L, as in Python, not transformers.js 4.3.1's quirky
// max + 1 + L (model-formats.md §5.3; chat_diff_test.go compares text-only
// generation with transformers.js run with Python's rope_delta).
func RopeIndex(ids []int, grids []Grid, tk RopeTokens) ([]int64, int64, error) {
	L := len(ids)
	merge := tk.Merge
	if merge <= 0 {
		merge = 2
	}
	if len(grids) == 0 {
		pos := make([]int64, 3*L)
		for d := range 3 {
			for i := range L {
				pos[d*L+i] = int64(i)
			}
		}
		return pos, int64(L), nil
	}
	// The segments, each three rows of its length.
	var segs [][]int64
	var last int64 = -1 // the running maximum
	text := func(st int64, n int) {
		s := make([]int64, 3*n)
		for i := range 3 * n {
			s[i] = st + int64(i%n)
		}
		if n > 0 {
			last = max(last, st+int64(n-1))
		}
		segs = append(segs, s)
	}
	var starts int
	for i, id := range ids {
		if id == tk.VisionStart && i+1 < L && (ids[i+1] == tk.Image || ids[i+1] == tk.Video) {
			starts++
		}
	}
	st, img := 0, 0
	for range starts {
		ed := -1
		for i := st + 1; i < L; i++ { // transformers.js: findIndex(i > st)
			if ids[i] == tk.Image {
				ed = i
				break
			}
			if ids[i] == tk.Video {
				return nil, 0, fmt.Errorf("qwen2vl: video tokens are not supported")
			}
		}
		if ed < 0 || img >= len(grids) {
			return nil, 0, fmt.Errorf("qwen2vl: the prompt has more vision blocks than images (%d)", len(grids))
		}
		g := grids[img]
		img++
		gt, gh, gw := g[0], g[1]/merge, g[2]/merge
		textLen := ed - st
		stIdx := last + 1
		text(stIdx, textLen)
		offset := int64(textLen) + stIdx
		n := gt * gh * gw
		s := make([]int64, 3*n)
		for i := range n {
			s[i] = offset + int64(i/(gh*gw))
			s[n+i] = offset + int64((i/gw)%gh)
			s[2*n+i] = offset + int64(i%gw)
			last = max(last, s[i], s[n+i], s[2*n+i])
		}
		segs = append(segs, s)
		st = ed + n
	}
	if st < L {
		text(last+1, L-st)
	}
	// Reorder [seg][t,h,w] into [t,h,w][seg].
	pos := make([]int64, 0, 3*L)
	for d := range 3 {
		for _, s := range segs {
			n := len(s) / 3
			pos = append(pos, s[d*n:(d+1)*n]...)
		}
	}
	if len(pos) != 3*L {
		return nil, 0, fmt.Errorf("qwen2vl: the vision blocks cover %d positions of a %d-token prompt (image tokens and grids disagree)",
			len(pos)/3, L)
	}
	return pos, last + 1, nil
}
