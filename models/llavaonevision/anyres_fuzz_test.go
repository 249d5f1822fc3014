package llavaonevision

import "testing"

// checkAnyres: NewAnyres of an h×w image gives one error, or a layout
// whose every count is positive and in range, and Pack of the right
// number of values gives Tokens() rows (with newlines) or Visual() rows.
func checkAnyres(t *testing.T, h, w, size, side int, pins []Resolution, maxN int) {
	t.Helper()
	a, err := NewAnyres(h, w, size, side, pins, maxN)
	if err != nil {
		return
	}
	if a.Rows < 1 || a.Cols < 1 || a.OutH < 1 || a.OutW < 1 || a.OutH > a.UnpadH || a.OutW > a.UnpadW ||
		a.Top < 0 || a.Left < 0 || a.Top+a.UnpadH > side*a.Rows || a.Left+a.UnpadW > side*a.Cols {
		t.Fatalf("%d×%d (size %d, side %d, max %d): layout %+v", h, w, size, side, maxN, a)
	}
	feats := make([]float32, (1+a.Crops())*side*side)
	out, err := a.Pack(feats, 1, []float32{1})
	if err != nil || len(out) != a.Tokens() {
		t.Fatalf("%d×%d: pack: %d rows (%v), want %d", h, w, len(out), err, a.Tokens())
	}
	if out, err = a.Pack(feats, 1, nil); err != nil || len(out) != a.Visual() {
		t.Fatalf("%d×%d: pack without newlines: %d rows (%v), want %d", h, w, len(out), err, a.Visual())
	}
}

// 1×1, 10000×10 and 10×10000 images at the real model's sizes and at the
// twin's: a layout with at least one row and column kept, or one error.
func TestAnyresExtremes(t *testing.T) {
	for _, hw := range [][2]int{{1, 1}, {10, 10000}, {10000, 10}, {1, 10000}, {10000, 1}, {1, 2}, {2, 1}, {3, 1}, {100000, 100000}} {
		checkAnyres(t, hw[0], hw[1], 384, 27, pinpoints(384), 9)
		checkAnyres(t, hw[0], hw[1], 56, 4, pinpoints(56), 1)
		checkAnyres(t, hw[0], hw[1], 70, 5, pinpoints(70), 9)
	}
}

func FuzzNewAnyres(f *testing.F) {
	f.Add(1, 1, 0, 9)
	f.Add(10, 10000, 1, 1)
	f.Fuzz(func(t *testing.T, h, w, which, maxN int) {
		h, w = max(1, h%(1<<20)), max(1, w%(1<<20))
		maxN = max(1, maxN%64)
		switch which % 3 {
		case 0:
			checkAnyres(t, h, w, 384, 27, pinpoints(384), maxN)
		case 1:
			checkAnyres(t, h, w, 56, 4, pinpoints(56), maxN)
		default:
			checkAnyres(t, h, w, 70, 5, []Resolution{{70, 70}, {70, 700}, {700, 70}}, maxN)
		}
	})
}
