package qwen2vl

import (
	"math"
	"testing"
)

// checkSize: either an error or both sides positive multiples of f.
func checkSize(t *testing.T, name string, h, w, f, gw, gh int, err error) {
	t.Helper()
	if err != nil {
		return
	}
	if gw <= 0 || gh <= 0 || gw%f != 0 || gh%f != 0 {
		t.Fatalf("%s(%d, %d, factor %d) = %d×%d", name, h, w, f, gw, gh)
	}
}

// Tiny, huge and extreme-aspect frames and images: a size of positive
// multiples of the factor, or one error (Python raises on an aspect over
// 200).
func TestSmartResizeExtremes(t *testing.T) {
	const f, lo, hi = 28, 128 * 28 * 28, 28 * 28 * 768
	for _, c := range []struct {
		h, w    int
		wantErr bool
	}{
		{1, 1, false}, {1, 199, false}, {199, 1, false}, {1, 200, false}, {1, 201, true}, {201, 1, true},
		{10, 10000, true}, {10000, 10, true}, {100000, 100000, false}, {1 << 30, 1 << 30, false}, {27, 27, false},
	} {
		w, h, err := PySmartResize(c.h, c.w, f, lo, hi)
		if (err != nil) != c.wantErr {
			t.Errorf("PySmartResize(%d, %d): %d×%d, %v; want an error: %v", c.h, c.w, w, h, err, c.wantErr)
		}
		checkSize(t, "PySmartResize", c.h, c.w, f, w, h, err)
		if err == nil && w*h > hi {
			t.Errorf("PySmartResize(%d, %d): %d×%d over max_pixels", c.h, c.w, w, h)
		}
		w, h, err = SmartResize(c.h, c.w, f, lo, hi)
		checkSize(t, "SmartResize", c.h, c.w, f, w, h, err)
	}
	for _, hw := range [][2]int{{0, 5}, {5, 0}, {-1, 5}, {1, -48}} {
		if _, _, err := PySmartResize(hw[0], hw[1], f, lo, hi); err == nil {
			t.Errorf("PySmartResize(%d, %d): no error", hw[0], hw[1])
		}
		if _, _, err := SmartResize(hw[0], hw[1], f, lo, hi); err == nil {
			t.Errorf("SmartResize(%d, %d): no error", hw[0], hw[1])
		}
	}
}

func FuzzPySmartResize(f *testing.F) {
	f.Add(1, 1, 28, 3136, 602112)
	f.Add(1, 201, 28, 3136, 602112)
	f.Fuzz(func(t *testing.T, h, w, factor, lo, hi int) {
		factor = max(1, factor%512)
		lo, hi = max(1, lo%(1<<26)), max(1, hi%(1<<26))
		if hi < lo {
			lo, hi = hi, lo
		}
		gw, gh, err := PySmartResize(h, w, factor, lo, hi)
		checkSize(t, "PySmartResize", h, w, factor, gw, gh, err)
		if err == nil && h > 0 && w > 0 && math.Max(float64(h), float64(w))/math.Min(float64(h), float64(w)) > 200 {
			t.Fatalf("aspect over 200 accepted: %d×%d", w, h)
		}
		gw, gh, err = SmartResize(h, w, factor, lo, hi)
		checkSize(t, "SmartResize", h, w, factor, gw, gh, err)
	})
}
