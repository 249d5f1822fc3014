package smolvlm

import (
	"strings"
	"testing"
)

// TestGeometry checks the size rules against values worked out from
// transformers.js's formulas (and the real model's 2048/512 settings).
func TestGeometry(t *testing.T) {
	for _, c := range []struct {
		w, h, edge, m      int
		nw, nh, vh, vw     int
		rows, cols, frames int
	}{
		{64, 48, 64, 32, 64, 48, 64, 64, 2, 2, 5},
		{48, 64, 64, 32, 48, 64, 64, 64, 2, 2, 5},
		{64, 24, 64, 32, 64, 24, 32, 64, 1, 2, 3},
		{100, 80, 64, 32, 64, 51, 64, 64, 2, 2, 5},
		{32, 24, 32, 32, 32, 24, 32, 32, 0, 0, 1},
		{640, 480, 2048, 512, 2048, 1536, 1536, 2048, 3, 4, 13},
		{1000, 1, 2048, 512, 2048, 2, 512, 2048, 1, 4, 5},
	} {
		nw, nh := resizeTarget(c.w, c.h, c.edge)
		vh, vw := visionResize(nh, nw, c.m)
		if nw != c.nw || nh != c.nh || vh != c.vh || vw != c.vw {
			t.Errorf("%d×%d: resize %d×%d (want %d×%d), vision %d×%d (want %d×%d)", c.w, c.h, nw, nh, c.nw, c.nh, vw, vh, c.vw, c.vh)
		}
		rows, cols := 0, 0
		if vh > c.m || vw > c.m {
			rows, cols = ceilDiv(vh, c.m), ceilDiv(vw, c.m)
		}
		frames := 1
		if rows > 0 {
			frames += rows * cols
		}
		if rows != c.rows || cols != c.cols || frames != c.frames {
			t.Errorf("%d×%d: grid %d×%d, %d frames; want %d×%d, %d", c.w, c.h, rows, cols, frames, c.rows, c.cols, c.frames)
		}
	}
}

// TestExpand checks the image-token expansion layout on a 2×2 grid.
func TestExpand(t *testing.T) {
	got := expand(2, 2, 2)
	want := "<fake_token_around_image><row_1_col_1><image><image><fake_token_around_image><row_1_col_2><image><image>\n" +
		"<fake_token_around_image><row_2_col_1><image><image><fake_token_around_image><row_2_col_2><image><image>\n" +
		"\n<fake_token_around_image><global-img><image><image><fake_token_around_image>"
	if got != want {
		t.Errorf("expand:\n%s\nwant\n%s", got, want)
	}
	if got := expand(3, 0, 0); got != "<fake_token_around_image><global-img>"+strings.Repeat("<image>", 3)+"<fake_token_around_image>" {
		t.Errorf("single: %s", got)
	}
}

// TestResizeBilinearIdentityAndConstant: same size is a copy, a constant
// image stays constant.
func TestResizeBilinearIdentityAndConstant(t *testing.T) {
	in := tensor{1, 3, 4, make([]float32, 12)}
	for i := range in.data {
		in.data[i] = 0.25
	}
	if out := resizeBilinear(in, 3, 4); &out.data[0] != &in.data[0] {
		t.Error("same-size resize copied")
	}
	out := resizeBilinear(in, 7, 5)
	for _, v := range out.data {
		if v != 0.25 {
			t.Fatalf("constant image changed: %v", out.data)
		}
	}
}
