package qwen2vl

import (
	"testing"
)

func TestSmartResize(t *testing.T) {
	for _, c := range []struct {
		h, w, min, max int
		wantW, wantH   int
	}{
		{56, 56, 3136, 12544, 56, 56},
		{56, 112, 3136, 12544, 112, 56},
		{84, 56, 3136, 12544, 56, 84},
		// JavaScript's Math.round: 70/28 = 2.5 → 3 (Python: 2, i.e. 56)
		{56, 70, 3136, 12544, 84, 56},
		// under 28 px: scaled to 28 first (14×20 → 28×40), then up to min_pixels
		{14, 20, 3136, 12544, 84, 56},
		// over max_pixels: beta = sqrt(150·200/12544), floored to multiples of 28
		{150, 200, 3136, 12544, 112, 84},
		// Qwen2-VL-2B-Instruct's limits
		{480, 640, 3136, 12845056, 644, 476},
	} {
		w, h, err := SmartResize(c.h, c.w, 28, c.min, c.max)
		if err != nil || w != c.wantW || h != c.wantH {
			t.Errorf("smart_resize(%d, %d, min %d, max %d) = %d×%d (%v), want %d×%d", c.h, c.w, c.min, c.max, w, h, err, c.wantW, c.wantH)
		}
	}
	if _, _, err := SmartResize(28, 28*201, 28, 3136, 1<<30); err == nil {
		t.Error("aspect ratio 201: no error")
	}
}

// Patches lays out a 56×28 image (2×4 patches of 14 px: 1×2 merge blocks)
// as [block row, block col, row in block, col in block] × [channel, frame,
// y, x]; every value is its source pixel, the same in both frames.
func TestPatchesLayout(t *testing.T) {
	const W, H, P, M, T = 56, 28, 14, 2, 2
	chw := make([]float32, 3*W*H)
	for c := range 3 {
		for y := range H {
			for x := range W {
				chw[c*W*H+y*W+x] = float32(c*10000 + y*100 + x)
			}
		}
	}
	out, g, err := Patches(chw, W, H, P, M, T)
	if err != nil {
		t.Fatal(err)
	}
	if g != (Grid{1, 2, 4}) {
		t.Fatalf("grid %v, want [1 2 4]", g)
	}
	dim := 3 * T * P * P
	if len(out) != 8*dim {
		t.Fatalf("%d values, want %d", len(out), 8*dim)
	}
	for bw := range 2 {
		for mh := range 2 {
			for mw := range 2 {
				row := bw*4 + mh*2 + mw
				for c := range 3 {
					for tt := range T {
						for py := range P {
							for px := range P {
								y, x := mh*P+py, (bw*2+mw)*P+px
								got := out[row*dim+((c*T+tt)*P+py)*P+px]
								if want := chw[c*W*H+y*W+x]; got != want {
									t.Fatalf("patch %d c%d t%d (%d,%d) = %v, want %v", row, c, tt, py, px, got, want)
								}
							}
						}
					}
				}
			}
		}
	}
	if _, _, err := Patches(chw[:3*42*28], 42, 28, P, M, T); err == nil {
		t.Error("42 px wide (3 patches, not whole merge blocks): no error")
	}
}
