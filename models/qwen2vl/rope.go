package qwen2vl

import "fmt"

// RopeTokens are the token ids get_rope_index looks for (config.json).
type RopeTokens struct {
	Image, Video, VisionStart int
	Merge                     int // vision_config.spatial_merge_size (default 2)
	// TokensPerSecond is Qwen2.5-VL's vision_config.tokens_per_second
	// (temporal ids per second of video); 0 for Qwen2-VL (one per
	// temporal patch).
	TokensPerSecond float64
}

// RopeIndex is transformers.js 4.3.1's Qwen2VLForConditionalGeneration
// get_rope_index for one prompt without padding (attention mask all ones)
// and images only: RopeVideoIndex without videos.
func RopeIndex(ids []int, grids []Grid, tk RopeTokens) ([]int64, int64, error) {
	return RopeVideoIndex(ids, grids, nil, tk)
}

// VideoGrid is one video's grid (video_grid_thw) and the seconds one of
// its temporal patches spans (Qwen2.5-VL's second_per_grid_ts).
type VideoGrid struct {
	Grid    Grid
	Seconds float64
}

// RopeVideoIndex is get_rope_index for one prompt without padding
// (attention mask all ones): the M-RoPE position ids, three rows of
// len(ids) (temporal, height, width; row-major), and the next text
// position (rope_delta + len(ids)).
//
// Every <|vision_start|> followed by an image or video token starts a
// vision block, which is the image or the video whose first token comes
// next (images and videos each in prompt order); the text before it takes
// positions st, st+1, ... on all three rows (st: the running maximum + 1,
// from 0); the block's grid (t, h/merge, w/merge) takes t = offset + T(k)
// for temporal patch k, h = offset + row, w = offset + column with offset
// = st + the text length; the text after the last block continues from the
// maximum + 1. T(k) = k for Qwen2-VL (tk.TokensPerSecond 0: transformers.js
// 4.3.1 and Python) and for images; for a Qwen2.5-VL video T(k) =
// int(k · seconds · tokens_per_second), computed in float32 as Qwen's
// own get_rope_index does (current Python transformers first truncates
// the seconds to an integer, which differs when temporal_patch_size/fps
// is not whole; see the package README).
//
// Without grids (a text-only prompt) all three rows are 0..L−1; the next
// position is then L, as in Python, not transformers.js 4.3.1's quirky
// max + 1 + L (model-formats.md §5.3; chat_diff_test.go compares text-only
// generation with transformers.js run with Python's rope_delta).
func RopeVideoIndex(ids []int, grids []Grid, videos []VideoGrid, tk RopeTokens) ([]int64, int64, error) {
	L := len(ids)
	merge := tk.Merge
	if merge <= 0 {
		merge = 2
	}
	if len(grids) == 0 && len(videos) == 0 {
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
	st, img, vid := 0, 0, 0
	for range starts {
		edImg, edVid := -1, -1
		for i := st + 1; i < L; i++ { // transformers.js: findIndex(i > st)
			if edImg < 0 && ids[i] == tk.Image && img < len(grids) {
				edImg = i
			}
			if edVid < 0 && ids[i] == tk.Video && vid < len(videos) {
				edVid = i
			}
			if edImg >= 0 && edVid >= 0 {
				break
			}
		}
		var g Grid
		var ed int
		var secs float64
		video := false
		switch {
		case edImg >= 0 && (edVid < 0 || edImg < edVid):
			g, ed = grids[img], edImg
			img++
		case edVid >= 0:
			g, ed, secs, video = videos[vid].Grid, edVid, videos[vid].Seconds, true
			vid++
		default:
			return nil, 0, fmt.Errorf("qwen2vl: the prompt has more vision blocks than images (%d) and videos (%d)",
				len(grids), len(videos))
		}
		gt, gh, gw := g[0], g[1]/merge, g[2]/merge
		textLen := ed - st
		stIdx := last + 1
		text(stIdx, textLen)
		offset := int64(textLen) + stIdx
		n := gt * gh * gw
		s := make([]int64, 3*n)
		for i := range n {
			s[i] = offset + temporal(i/(gh*gw), video, secs, tk.TokensPerSecond)
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

// temporal is the t id of temporal patch k of a vision block: k for an
// image's (always 0) and for Qwen2-VL's videos, int(k · secs · tps) in
// float32 (torch's default dtype, truncated as .long()) for Qwen2.5-VL's.
func temporal(k int, video bool, secs, tps float64) int64 {
	if !video || tps == 0 {
		return int64(k)
	}
	return int64(float32(float32(k)*float32(secs)) * float32(tps))
}
