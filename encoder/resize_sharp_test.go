package encoder

import (
	"errors"
	"image"
	"testing"

	"github.com/vlmrun/vlmrun/encoder/vips"
)

// TestSharpResizerIsVipsOnRGB: the sharp resizer resamples the RGB channels
// of any NRGBA image (a sub-image with a wider stride and another origin
// included) exactly as vips.Transformers does, drops alpha as
// transformers.js's rgb() does and returns an opaque image.
func TestSharpResizerIsVipsOnRGB(t *testing.T) {
	big := image.NewNRGBA(image.Rect(0, 0, 57, 41))
	for i := range big.Pix {
		big.Pix[i] = uint8(i*37 + i/7)
	}
	sub := big.SubImage(image.Rect(5, 3, 50, 40)).(*image.NRGBA)
	w, h := sub.Rect.Dx(), sub.Rect.Dy()
	rgb := vips.Image{Pix: make([]uint8, 0, w*h*3), Width: w, Height: h, Bands: 3}
	for y := sub.Rect.Min.Y; y < sub.Rect.Max.Y; y++ {
		for x := sub.Rect.Min.X; x < sub.Rect.Max.X; x++ {
			c := sub.NRGBAAt(x, y)
			rgb.Pix = append(rgb.Pix, c.R, c.G, c.B)
		}
	}
	for _, tc := range []struct {
		w, h int
		r    Resample
	}{{20, 17, ResampleBicubic}, {90, 80, ResampleBicubic}, {11, 30, ResampleLanczos}, {101, 9, ResampleLanczos},
		{30, 30, ResampleBilinear}, {7, 60, ResampleNearest}, {45, 20, ResampleHamming}} {
		got, err := ResizeNRGBA(sub, tc.w, tc.h, tc.r, ResizerSharp)
		if err != nil {
			t.Fatalf("%v %d×%d: %v", tc.r, tc.w, tc.h, err)
		}
		want, err := vips.Transformers(rgb, tc.w, tc.h, int(tc.r))
		if err != nil {
			t.Fatal(err)
		}
		if got.Rect != image.Rect(0, 0, tc.w, tc.h) {
			t.Fatalf("%v: bounds %v", tc.r, got.Rect)
		}
		for i := 0; i < tc.w*tc.h; i++ {
			p := got.Pix[4*i : 4*i+4]
			if p[0] != want.Pix[3*i] || p[1] != want.Pix[3*i+1] || p[2] != want.Pix[3*i+2] || p[3] != 255 {
				t.Fatalf("%v %d×%d: pixel %d = %v, vips %v", tc.r, tc.w, tc.h, i, p, want.Pix[3*i:3*i+3])
			}
		}
	}
}

// TestSharpResizerErrors: sizes the sharp resizer refuses come back as
// errors wrapping vips.ErrSize, not panics.
func TestSharpResizerErrors(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	for _, tc := range []struct{ w, h int }{{1 << 20, 1 << 20}, {vips.MaxPixels + 1, 1}} {
		if _, err := ResizeNRGBA(src, tc.w, tc.h, ResampleBicubic, ResizerSharp); !errors.Is(err, vips.ErrSize) {
			t.Errorf("%d×%d: error %v, want vips.ErrSize", tc.w, tc.h, err)
		}
	}
	if _, err := ResizeNRGBA(src, 0, 4, ResampleBicubic, ResizerSharp); err == nil {
		t.Error("0×4: no error")
	}
}
