package encoder

import (
	"image"
	"strings"
	"testing"
)

func TestTensorNormalization(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	copy(m.Pix, []uint8{
		0, 128, 255, 255, 10, 20, 30, 255,
		40, 50, 60, 255, 255, 255, 255, 255,
	})
	p := Preprocess{
		Width: 2, Height: 2, Resample: ResampleBicubic, RescaleFactor: 1.0 / 255,
		Mean: [3]float32{0.48145466, 0.4578275, 0.40821073},
		Std:  [3]float32{0.26862954, 0.26130258, 0.27577711},
	}
	got, err := p.Tensor(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 12 {
		t.Fatalf("len %d, want 12", len(got))
	}
	// CHW: all R values, then G, then B, each row-major.
	pix := [3][4]uint8{{0, 10, 40, 255}, {128, 20, 50, 255}, {255, 30, 60, 255}}
	for c := 0; c < 3; c++ {
		for i, v := range pix[c] {
			x := float32(float64(v) / 255)
			want := (x - p.Mean[c]) / p.Std[c]
			if got[c*4+i] != want {
				t.Errorf("channel %d pixel %d: %v, want %v", c, i, got[c*4+i], want)
			}
		}
	}
	// Zero RescaleFactor means 1/255: white maps to (1 - mean) / std.
	p.RescaleFactor = 0
	got, _ = p.Tensor(m)
	if want := (float32(1) - p.Mean[0]) / p.Std[0]; got[3] != want {
		t.Errorf("white with default rescale: %v, want %v", got[3], want)
	}
}

// TestTensorResizes: Tensor resizes first, with the chosen resizer.
func TestTensorResizes(t *testing.T) {
	src := resizeSource(t, "resize/photo300")
	want := readPNG(t, "testdata/resize/photo-96-bicubic.pil.png")
	p := Preprocess{Width: 96, Height: 96, Resample: ResampleBicubic, RescaleFactor: 1.0 / 127.5,
		Mean: [3]float32{1, 1, 1}, Std: [3]float32{1, 1, 1}, Resizer: ResizerPIL}
	got, err := p.Tensor(src)
	if err != nil {
		t.Fatal(err)
	}
	for c := 0; c < 3; c++ {
		for i := 0; i < 96*96; i++ {
			v := want.Pix[4*i+c]
			if e := float32(float64(v)/127.5) - 1; got[c*96*96+i] != e {
				t.Fatalf("channel %d index %d: %v, want %v", c, i, got[c*96*96+i], e)
			}
		}
	}
	p.Resizer = ""
	if _, err := p.Tensor(src); err != nil {
		t.Errorf("default resizer: %v", err)
	}
}

func TestTensorErrors(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	ok := Preprocess{Width: 4, Height: 4, Std: [3]float32{1, 1, 1}}
	for _, tc := range []struct {
		edit func(*Preprocess)
		img  *image.NRGBA
		want string
	}{
		{func(p *Preprocess) { p.Width = 0 }, m, "must be positive"},
		{func(p *Preprocess) { p.Std[1] = 0 }, m, "std[1] is zero"},
		{func(p *Preprocess) { p.Resizer = "cv2" }, m, `unknown resizer "cv2"`},
		{func(p *Preprocess) { p.Width = 8; p.Resizer = "cv2" }, m, `unknown resizer "cv2"`},
		{func(p *Preprocess) { p.Width = 8; p.Resample = 6 }, m, "unknown resample filter 6"},
		{func(p *Preprocess) {}, nil, "empty image"},
	} {
		p := ok
		tc.edit(&p)
		if _, err := p.Tensor(tc.img); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", p, err, tc.want)
		}
	}
}

func TestRescale(t *testing.T) {
	for _, tc := range []struct {
		f    float32
		want float64
	}{
		{0, 1.0 / 255},
		{1.0 / 255, 1.0 / 255},
		{1.0 / 127.5, 1.0 / 127.5},
		{1, 1},
		{0.5, 0.5},
		{0.0123, float64(float32(0.0123))},
	} {
		if got := rescale(tc.f); got != tc.want {
			t.Errorf("rescale(%v) = %v, want %v", tc.f, got, tc.want)
		}
	}
}
