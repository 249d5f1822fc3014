package encoder

import (
	"image"
	"image/color"
	"testing"
)

// Extreme sizes and aspects through the torch resize: a uniform image
// stays uniform at any size (every output weight row sums to one), and
// an empty image or size is one error.
func TestResizeTorchAAExtremes(t *testing.T) {
	for _, c := range []struct{ inW, inH, w, h int }{
		{1, 1, 1, 1}, {1, 1, 64, 64}, {10000, 1, 512, 1}, {1, 10000, 1, 512}, {10000, 10, 512, 1},
		{3, 3, 1, 1}, {5000, 2, 1, 1}, {2, 2, 3000, 1},
	} {
		img := image.NewNRGBA(image.Rect(0, 0, c.inW, c.inH))
		for y := range c.inH {
			for x := range c.inW {
				img.SetNRGBA(x, y, color.NRGBA{200, 100, 7, 255})
			}
		}
		for _, r := range []Resample{ResampleBicubic, ResampleBilinear} {
			out, err := ResizeTorchAA(img, c.w, c.h, r)
			if err != nil {
				t.Fatalf("%dx%d -> %dx%d (%s): %v", c.inW, c.inH, c.w, c.h, r, err)
			}
			if out.Rect.Dx() != c.w || out.Rect.Dy() != c.h {
				t.Fatalf("%dx%d -> %dx%d: got %v", c.inW, c.inH, c.w, c.h, out.Rect)
			}
			for i := 0; i < len(out.Pix); i += 4 {
				if p := out.Pix[i : i+4]; p[0] != 200 || p[1] != 100 || p[2] != 7 || p[3] != 255 {
					t.Fatalf("%dx%d -> %dx%d (%s): pixel %d is %v", c.inW, c.inH, c.w, c.h, r, i/4, p)
				}
			}
		}
	}
	one := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	for _, wh := range [][2]int{{0, 1}, {1, 0}, {-1, 5}} {
		if _, err := ResizeTorchAA(one, wh[0], wh[1], ResampleBicubic); err == nil {
			t.Errorf("to %dx%d: no error", wh[0], wh[1])
		}
	}
	if _, err := ResizeTorchAA(image.NewNRGBA(image.Rectangle{}), 4, 4, ResampleBicubic); err == nil {
		t.Error("an empty image: no error")
	}
}
