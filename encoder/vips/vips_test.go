package vips

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

func noise(w, h, bands int, seed uint64) Image {
	rng := rand.New(rand.NewPCG(seed, 1))
	img := Image{Pix: make([]uint8, w*h*bands), Width: w, Height: h, Bands: bands}
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.IntN(256))
	}
	return img
}

// TestBadInput: every refused input is one error, never a panic; sizes
// wrap ErrSize.
func TestBadInput(t *testing.T) {
	ok := noise(6, 5, 3, 1)
	for _, tc := range []struct {
		name string
		f    func() (Image, error)
		size bool
	}{
		{"2 bands", func() (Image, error) { return Transformers(noise(4, 4, 2, 1), 8, 8, 3) }, false},
		{"4 bands", func() (Image, error) { return Transformers(noise(4, 4, 4, 1), 8, 8, 1) }, false},
		{"0 bands", func() (Image, error) { return Transformers(Image{Width: 4, Height: 4}, 8, 8, 3) }, false},
		{"short pix", func() (Image, error) {
			return Transformers(Image{Pix: ok.Pix[:10], Width: 6, Height: 5, Bands: 3}, 8, 8, 3)
		}, true},
		{"zero width in", func() (Image, error) { return Transformers(Image{Bands: 3, Height: 4}, 8, 8, 3) }, true},
		{"zero width out", func() (Image, error) { return Transformers(ok, 0, 8, 3) }, true},
		{"negative height out", func() (Image, error) { return SharpResize(ok, 8, -3, Lanczos3) }, true},
		{"huge out", func() (Image, error) { return Transformers(ok, 1<<20, 1<<20, 1) }, true},
		{"huge out affine", func() (Image, error) { return SharpAffine(ok, MaxPixels, 2, Bicubic) }, true},
		{"huge scale", func() (Image, error) { return Affine(ok, 1e12, 1, Bilinear) }, true},
		{"huge resize scale", func() (Image, error) { return Resize(ok, 1, 1e9, Lanczos3) }, true},
		{"zero scale", func() (Image, error) { return Affine(ok, 0, 1, Bilinear) }, true},
		{"NaN scale", func() (Image, error) { return Resize(ok, math.NaN(), 1, Lanczos3) }, true},
		{"Inf scale", func() (Image, error) { return Resize(ok, 1, math.Inf(1), Lanczos3) }, true},
		{"negative scale", func() (Image, error) { return Affine(ok, 1, -2, Nearest) }, true},
		{"resample 6", func() (Image, error) { return Transformers(ok, 8, 8, 6) }, false},
		{"kernel 0", func() (Image, error) { return Resize(ok, 2, 2, Kernel(0)) }, false},
		{"interpolator 7", func() (Image, error) { return Affine(ok, 2, 2, Interpolator(7)) }, false},
	} {
		out, err := tc.f()
		if err == nil {
			t.Errorf("%s: no error (%d×%d)", tc.name, out.Width, out.Height)
			continue
		}
		if errors.Is(err, ErrSize) != tc.size {
			t.Errorf("%s: %v: ErrSize %v, want %v", tc.name, err, !tc.size, tc.size)
		}
	}
}

// TestTransformersSizes: whatever the sizes, transformers.js's resize gives
// exactly the requested size (libvips's rounding lands on it), and an image
// already at that size comes back unchanged.
func TestTransformersSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 300; i++ {
		w, h := 1+rng.IntN(300), 1+rng.IntN(300)
		ow, oh := 1+rng.IntN(300), 1+rng.IntN(300)
		rs := rng.IntN(6)
		img := noise(w, h, 1+2*rng.IntN(2), uint64(i))
		out, err := Transformers(img, ow, oh, rs)
		if err != nil {
			t.Fatalf("%d×%d → %d×%d resample %d: %v", w, h, ow, oh, rs, err)
		}
		if out.Width != ow || out.Height != oh || out.Bands != img.Bands || len(out.Pix) != ow*oh*img.Bands {
			t.Fatalf("%d×%d → %d×%d resample %d: got %d×%d×%d", w, h, ow, oh, rs, out.Width, out.Height, out.Bands)
		}
	}
	img := noise(9, 7, 3, 3)
	out, err := Transformers(img, 9, 7, 1)
	if err != nil || !slices.Equal(out.Pix, img.Pix) {
		t.Errorf("same size: %v, changed %v", err, !slices.Equal(out.Pix, img.Pix))
	}
}

// TestParallelSameBytes: the tiles computed on one goroutine or several
// give the same bytes (each tile's result depends on its area only).
func TestParallelSameBytes(t *testing.T) {
	img := noise(1500, 1100, 3, 9)
	run := func() []Image {
		var outs []Image
		for _, rs := range []int{1, 3} {
			for _, size := range [][2]int{{301, 177}, {1500, 60}, {2000, 1300}} {
				out, err := Transformers(img, size[0], size[1], rs)
				if err != nil {
					t.Fatal(err)
				}
				outs = append(outs, out)
			}
		}
		return outs
	}
	prev := runtime.GOMAXPROCS(1)
	serial := run()
	runtime.GOMAXPROCS(4)
	parallel := run()
	runtime.GOMAXPROCS(prev)
	for i := range serial {
		if !slices.Equal(serial[i].Pix, parallel[i].Pix) {
			t.Errorf("output %d differs between 1 and 4 goroutines", i)
		}
	}
}

// TestEmbedCopy: vips_embed's copied edges repeat the nearest image pixel,
// also when the area asked for holds none of the image.
func TestEmbedCopy(t *testing.T) {
	img := noise(5, 4, 1, 4)
	e := newEmbed(newSource(img), 1, 3, 2, 12, 9, extendCopy)
	for _, r := range []rect{{0, 0, 12, 9}, {9, 0, 3, 9}, {0, 7, 2, 2}, {4, 3, 2, 2}} {
		b, err := e.gen(r)
		if err != nil {
			t.Fatal(err)
		}
		for y := r.top; y < r.bottom(); y++ {
			for x := r.left; x < r.right(); x++ {
				sx, sy := min(max(x-3, 0), 4), min(max(y-2, 0), 3)
				if got, want := b.pix[b.off(x, y, 1)], img.Pix[sy*5+sx]; got != want {
					t.Fatalf("area %v: (%d, %d) = %d, want %d", r, x, y, got, want)
				}
			}
		}
	}
}

// TestBoxAverage: libvips's multiply-and-shift average is the
// round-half-up mean for power-of-two factors; for the others the
// truncated reciprocal makes it one less on some sums (factor 3, sum 2 gives
// 0), never more. The differential test checks that sharp does the same.
func TestBoxAverage(t *testing.T) {
	for _, f := range []int{2, 3, 4, 5, 7, 8, 13, 64} {
		s := &shrink{factor: f}
		low := 0
		for sum := 0; sum <= 255*f; sum++ {
			got, want := int(s.average(uint32(sum))), (sum+f/2)/f
			if got != want {
				low++
			}
			if got > want || got < want-1 || (got != want && f&(f-1) == 0) {
				t.Fatalf("factor %d sum %d: %d, rounded mean %d", f, sum, got, want)
			}
		}
		if f == 3 && low == 0 {
			t.Errorf("factor 3: never below the rounded mean")
		}
	}
}

// FuzzTransformers: any small image, size and resample value gives an
// image of the requested size or an error, never a panic.
func FuzzTransformers(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6}, uint8(2), uint8(1), uint8(9), uint8(4), uint8(1), true)
	f.Add([]byte{255, 0, 255}, uint8(1), uint8(1), uint8(200), uint8(1), uint8(3), false)
	f.Fuzz(func(t *testing.T, pix []byte, w, h, ow, oh, rs uint8, rgb bool) {
		bands := 1
		if rgb {
			bands = 3
		}
		img := Image{Pix: pix, Width: int(w), Height: int(h), Bands: bands}
		out, err := Transformers(img, int(ow), int(oh), int(rs))
		if err != nil {
			return
		}
		if out.Width != int(ow) || out.Height != int(oh) || len(out.Pix) != int(ow)*int(oh)*bands {
			t.Fatalf("%d×%d → %d×%d: got %d×%d (%d bytes)", w, h, ow, oh, out.Width, out.Height, len(out.Pix))
		}
	})
}

// BenchmarkTransformers: transformers.js's first resizes of typical
// inputs (RGB): a photo to a 384 px CLIP input (bicubic affine), and
// SmolVLM's lanczos resize to a 2048 px longest edge, up and down.
func BenchmarkTransformers(b *testing.B) {
	for _, bc := range []struct {
		name         string
		w, h, ow, oh int
		resample     int
	}{
		{"bicubic-4000x3000-384x384", 4000, 3000, 384, 384, 3},
		{"lanczos-640x480-2048x1536", 640, 480, 2048, 1536, 1},
		{"lanczos-4000x3000-2048x1536", 4000, 3000, 2048, 1536, 1},
	} {
		img := noise(bc.w, bc.h, 3, 5)
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Transformers(img, bc.ow, bc.oh, bc.resample); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
