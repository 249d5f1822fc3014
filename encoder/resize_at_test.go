package encoder

import (
	"bytes"
	"fmt"
	"image"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestResizeNRGBAAt checks that the selected pixels equal the full resize's
// pixels, byte for byte, for every resampling filter, both resizers, up-
// and downscales, one axis unchanged, and images with transparency.
func TestResizeNRGBAAt(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	pick := func(n int) []int {
		var idx []int
		for i := 0; i < n; i++ {
			if r.IntN(3) == 0 {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			idx = append(idx, r.IntN(n))
		}
		if r.IntN(4) == 0 { // unsorted and repeated indices are allowed too
			idx = append(idx, idx[0])
			slices.Reverse(idx)
		}
		return idx
	}
	sizes := [][4]int{{37, 23, 150, 91}, {150, 91, 37, 23}, {40, 40, 40, 97}, {40, 40, 97, 40}, {64, 48, 64, 48}, {9, 300, 41, 20}}
	for _, sz := range sizes {
		for _, opaque := range []bool{true, false} {
			img := image.NewNRGBA(image.Rect(0, 0, sz[0], sz[1]))
			for i := range img.Pix {
				img.Pix[i] = uint8(r.IntN(256))
				if opaque && i%4 == 3 {
					img.Pix[i] = 255
				}
			}
			for _, rs := range []Resample{ResampleNearest, ResampleBox, ResampleBilinear, ResampleHamming, ResampleBicubic, ResampleLanczos} {
				for _, resizer := range []string{ResizerPIL, ResizerNFNT} {
					name := fmt.Sprintf("%v/opaque=%v/%d/%s", sz, opaque, rs, resizer)
					w, h := sz[2], sz[3]
					full, err := ResizeNRGBA(img, w, h, rs, resizer)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					xs, ys := pick(w), pick(h)
					got, err := ResizeNRGBAAt(img, w, h, rs, resizer, xs, ys)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					want := gatherNRGBA(full, xs, ys)
					if got.Rect != want.Rect || !bytes.Equal(got.Pix, want.Pix) {
						t.Errorf("%s: selected pixels differ from the full resize", name)
					}
				}
			}
		}
	}
}

func TestResizeNRGBAAtErrors(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	for _, c := range []struct {
		xs, ys []int
		want   string
	}{
		{nil, []int{0}, "no columns selected"},
		{[]int{0}, []int{8}, "row 8 is outside 0..7"},
		{[]int{-1}, []int{0}, "column -1 is outside 0..7"},
	} {
		_, err := ResizeNRGBAAt(img, 8, 8, ResampleBilinear, ResizerPIL, c.xs, c.ys)
		if err == nil || err.Error() != "encoder: resize: "+c.want {
			t.Errorf("%v %v: error %v, want %q", c.xs, c.ys, err, c.want)
		}
	}
}
