package llavaonevision

import (
	"math"
	"testing"
)

// Token counts of LlavaOnevisionProcessor's video expansion:
// frames·ceil(side/2)² + 1 (the newline), side = sqrt(num_image_tokens).
func TestVideoTokens(t *testing.T) {
	for _, c := range []struct{ frames, side, pooled, want int }{
		{8, 27, 14, 8*196 + 1}, // the real model: 729 tokens per frame → 14×14
		{1, 27, 14, 197},
		{16, 27, 14, 3137},
		{4, 5, 3, 37}, // the twin: 5×5 → 3×3
		{2, 4, 2, 9},
		{3, 1, 1, 4},
	} {
		if got := PooledSide(c.side); got != c.pooled {
			t.Errorf("PooledSide(%d) = %d, want %d", c.side, got, c.pooled)
		}
		if got := VideoTokens(c.frames, c.side); got != c.want {
			t.Errorf("VideoTokens(%d, %d) = %d, want %d", c.frames, c.side, got, c.want)
		}
	}
}

// torchTaps by hand: scale = float32(in/out), index = scale·(d+0.5)−0.5 in
// double. 5→3 shows why the index stays double: float32(5/3) is
// 1.66666662693, so output 1's index is 1.99999994039 — floor 1, λ1 the
// float32 0.99999994 — where a float32 index would round to 2.0 (torch
// 1.13 gives the former: 5.96e-8 of source 1, as taps read from its
// interpolate weights showed).
func TestTorchTaps(t *testing.T) {
	f := func(x float64) float32 { return float32(x) }
	s53 := float64(float32(5.0) / float32(3.0))
	s2714 := float64(float32(27.0) / float32(14.0))
	for _, c := range []struct {
		in, out, d int
		want       tap
	}{
		{3, 2, 0, tap{0, 1, 0.75, 0.25}},
		{3, 2, 1, tap{1, 2, 0.25, 0.75}},
		{5, 3, 0, tap{0, 1, 1 - f(s53*0.5-0.5), f(s53*0.5 - 0.5)}},
		{5, 3, 1, tap{1, 2, 1 - f(s53*1.5-0.5-1), f(s53*1.5 - 0.5 - 1)}},
		{5, 3, 2, tap{3, 4, 1 - f(s53*2.5-0.5-3), f(s53*2.5 - 0.5 - 3)}},
		{27, 14, 0, tap{0, 1, 1 - f(s2714*0.5-0.5), f(s2714*0.5 - 0.5)}},
		{27, 14, 13, tap{25, 26, 1 - f(s2714*13.5-0.5-25), f(s2714*13.5 - 0.5 - 25)}},
		{1, 1, 0, tap{0, 0, 1, 0}},
	} {
		got := torchTaps(c.in, c.out)[c.d]
		if got != c.want {
			t.Errorf("%d→%d output %d: %+v, want %+v", c.in, c.out, c.d, got, c.want)
		}
	}
	if tp := torchTaps(5, 3)[1]; tp.l1 != float32(0.99999994) {
		t.Errorf("5→3 output 1: λ1 %v, want 0.99999994", tp.l1)
	}
}

// PoolFrames by hand: bilinear interpolation reproduces a function linear
// in y and x exactly where the weights are dyadic (3→2: 0.25/0.75), and
// keeps channels, frames and raster order apart. The 5→3 ramp shows the
// rounding: output column 1 mixes 1 and 2 with 5.96e-8 and 0.99999994,
// which rounds to 2.0 as one fused multiply-add (torch 1.13 on two or more
// channels gives 2.0; its one-channel path gives 1.9999999).
// Cross-checked: torch 1.13's interpolate (mode "bilinear") on random
// grids of 27×27 (2 frames, 3 channels), 5×5, 4×4 and 7×7 equals PoolFrames
// bit for bit (a local script, not committed).
func TestPoolFrames(t *testing.T) {
	// two frames of 3×3×2: frame f, channel k: (10y + x)·(1 − 2k) + 100f
	var in []float32
	for f := range 2 {
		for y := range 3 {
			for x := range 3 {
				for k := range 2 {
					in = append(in, float32((10*y+x)*(1-2*k)+100*f))
				}
			}
		}
	}
	got, oh, ow, err := PoolFrames(in, 2, 3, 3, 2)
	if err != nil || oh != 2 || ow != 2 {
		t.Fatalf("%v, %d×%d", err, oh, ow)
	}
	want := []float32{2.75, -2.75, 4.25, -4.25, 17.75, -17.75, 19.25, -19.25,
		102.75, 97.25, 104.25, 95.75, 117.75, 82.25, 119.25, 80.75}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pooled %v\nwant %v", got, want)
		}
	}
	var ramp []float32
	for range 5 {
		for x := range 5 {
			ramp = append(ramp, float32(x), float32(x))
		}
	}
	got, _, _, err = PoolFrames(ramp, 1, 5, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	third := float32(float64(float32(5.0)/float32(3.0))*0.5 - 0.5)
	for y := range 3 {
		for x, w := range []float32{third, 2, 3 + float32(float64(float32(5.0)/float32(3.0))*2.5-0.5-3)} {
			if g := got[(y*3+x)*2]; math.Abs(float64(g-w)) > 0 || got[(y*3+x)*2+1] != g {
				t.Errorf("ramp (%d, %d) = %v, want %v", y, x, g, w)
			}
		}
	}
	for _, bad := range []struct{ n, f, h, w, d int }{{10, 1, 3, 3, 1}, {0, 0, 1, 1, 1}, {9, 1, 3, 3, 0}} {
		if _, _, _, err := PoolFrames(make([]float32, bad.n), bad.f, bad.h, bad.w, bad.d); err == nil {
			t.Errorf("PoolFrames(%d values, %d×%d×%d×%d) accepted", bad.n, bad.f, bad.h, bad.w, bad.d)
		}
	}
}
