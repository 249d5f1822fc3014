package encoder

import (
	"image"
	"image/color"
	"testing"
)

// The vectors below are derived by hand from ATen's rules (resize_torch.go)
// for a 4-pixel row resized to 2 pixels, bicubic: scale 2, support 4;
// output 0 has center 1, reads inputs 0..3 at filter((j − 0.5)/2) =
// 111/128, 111/128, 29/128, −9/128 (Keys a = −0.5 at 0.25, 0.25, 0.75,
// 1.25), normalized by their sum 121/64 to 111/242, 111/242, 29/242,
// −9/242; output 1 mirrors them. The largest weight 111/242 gives
// precision 16 (111/242·2^17 ≥ 2^15 > 111/242·2^16), so the int16 weights
// are 30060, 30060, 7853, −2437, and output 0 of [10 200 50 255] is
// (2^15 + 10·30060 + 200·30060 + 50·7853 − 255·2437) >> 16 = 93 (the
// float result 92.83), output 1 is 163 (163.49). [255 0 0 0] gives 117 and
// −9 clamped to 0. The same implementation was compared locally with
// torch 1.13's float antialiased bicubic run one axis at a time, rounding
// to uint8 between passes (the uint8 kernel is newer than that torch): at
// most 1 apart (fixed-point rounding), equal on 99–100 % of the values of
// 64×48 noise and a 320×240 gradient resized to 32×24, 100×75,
// 1536×1152 and 384×384.
func TestResizeTorchAAHand(t *testing.T) {
	cases := []struct {
		name    string
		in      [4]uint8
		want    [2]uint8
		resname Resample
	}{
		{"mixed", [4]uint8{10, 200, 50, 255}, [2]uint8{93, 163}, ResampleBicubic},
		{"step", [4]uint8{0, 0, 255, 255}, [2]uint8{21, 234}, ResampleBicubic},
		{"clamped", [4]uint8{255, 0, 0, 0}, [2]uint8{117, 0}, ResampleBicubic},
		{"lanczos is bicubic", [4]uint8{10, 200, 50, 255}, [2]uint8{93, 163}, ResampleLanczos},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			row := image.NewNRGBA(image.Rect(0, 0, 4, 1))
			col := image.NewNRGBA(image.Rect(0, 0, 1, 4))
			for i, v := range c.in {
				// three channels of different values: G and B are checked
				// against R's weights applied to their inputs
				px := color.NRGBA{v, 255 - v, v / 2, 255}
				row.SetNRGBA(i, 0, px)
				col.SetNRGBA(0, i, px)
			}
			h, err := ResizeTorchAA(row, 2, 1, c.resname)
			if err != nil {
				t.Fatal(err)
			}
			v, err := ResizeTorchAA(col, 1, 2, c.resname)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				if got := h.NRGBAAt(i, 0); got.R != c.want[i] || got.A != 255 {
					t.Errorf("horizontal output %d = %v, want R %d", i, got, c.want[i])
				}
				if got, want := v.NRGBAAt(0, i), h.NRGBAAt(i, 0); got != want {
					t.Errorf("vertical output %d = %v, horizontal %v: the two passes differ", i, got, want)
				}
			}
		})
	}
}

// Properties: a constant image stays constant at any size and filter; an
// unchanged size is a copy (alpha dropped); bad sizes and filters are
// errors.
func TestResizeTorchAAProperties(t *testing.T) {
	img := image.NewNRGBA(image.Rect(3, 5, 40, 27)) // a sub-image origin
	for i := range img.Pix {
		img.Pix[i] = []uint8{77, 140, 3, 200}[i%4]
	}
	for _, r := range []Resample{ResampleBicubic, ResampleBilinear} {
		for _, sz := range [][2]int{{37, 22}, {5, 3}, {100, 61}, {1, 1}, {37, 90}} {
			out, err := ResizeTorchAA(img, sz[0], sz[1], r)
			if err != nil {
				t.Fatal(err)
			}
			if out.Rect.Dx() != sz[0] || out.Rect.Dy() != sz[1] {
				t.Fatalf("%v %v: got %v", r, sz, out.Rect)
			}
			for i := 0; i < len(out.Pix); i += 4 {
				if got := out.Pix[i : i+4]; got[0] != 77 || got[1] != 140 || got[2] != 3 || got[3] != 255 {
					t.Fatalf("%v %v: pixel %d = %v, want [77 140 3 255]", r, sz, i/4, got)
				}
			}
		}
	}
	for _, bad := range []struct {
		w, h int
		r    Resample
	}{{0, 4, ResampleBicubic}, {4, -1, ResampleBicubic}, {4, 4, ResampleNearest}, {4, 4, ResampleBox}} {
		if _, err := ResizeTorchAA(img, bad.w, bad.h, bad.r); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	if _, err := ResizeTorchAA(image.NewNRGBA(image.Rect(0, 0, 0, 0)), 2, 2, ResampleBicubic); err == nil {
		t.Error("empty image: no error")
	}
}
