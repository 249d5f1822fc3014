package smolvlm

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
)

// TestSingleFrame checks the no-splitting fast path (only the pixels the
// bilinear pass reads are resized and normalized) against the plain path,
// resize everything then resizeBilinear, bit for bit.
func TestSingleFrame(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		w, h, edge, tile int
		resizer          string
		resample         encoder.Resample
		opaque           bool
	}{
		{512, 512, 2048, 512, encoder.ResizerPIL, encoder.ResampleLanczos, true},
		{300, 200, 1536, 384, encoder.ResizerPIL, encoder.ResampleLanczos, false},
		{640, 480, 512, 512, encoder.ResizerPIL, encoder.ResampleBicubic, true},
		{100, 333, 700, 224, encoder.ResizerNFNT, encoder.ResampleBilinear, true},
		{2048, 1000, 2048, 512, encoder.ResizerPIL, encoder.ResampleLanczos, true},
		{50, 50, 64, 64, encoder.ResizerPIL, encoder.ResampleLanczos, true},
	} {
		img := image.NewNRGBA(image.Rect(0, 0, c.w, c.h))
		for i := range img.Pix {
			img.Pix[i] = uint8(r.IntN(256))
			if c.opaque && i%4 == 3 {
				img.Pix[i] = 255
			}
		}
		p := imageProcessor{LongestEdge: c.edge, Tile: c.tile, Resample: c.resample, Resizer: c.resizer,
			Norm: encoder.Preprocess{RescaleFactor: 1.0 / 255, Mean: [3]float32{0.5, 0.4, 0.3}, Std: [3]float32{0.5, 0.6, 0.7}}}
		got, err := p.Process(img)
		if err != nil {
			t.Fatal(err)
		}
		nw, nh := resizeTarget(c.w, c.h, c.edge)
		pre := p.Norm
		pre.Width, pre.Height, pre.Resample, pre.Resizer = nw, nh, c.resample, c.resizer
		full, err := pre.Tensor(img)
		if err != nil {
			t.Fatal(err)
		}
		want := resizeBilinear(tensor{3, nh, nw, full}, c.tile, c.tile)
		if got.Images != 1 || got.Rows != 0 || len(got.Data) != len(want.data) {
			t.Fatalf("%d×%d: %d images, %d values; want 1 image of %d", c.w, c.h, got.Images, len(got.Data), len(want.data))
		}
		for i := range want.data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(want.data[i]) {
				t.Fatalf("%d×%d: value %d is %v, want %v", c.w, c.h, i, got.Data[i], want.data[i])
			}
		}
	}
}

// BenchmarkProcess times the image processor with SmolVLM-256M's settings
// (longest edge 2048, 512 px tiles, Lanczos, PIL resizer) on a noise image:
// the 512 px case without splitting (upscale to 2048 and back) and the
// 2048 px case split 4×4 + global.
func BenchmarkProcess(b *testing.B) {
	for _, c := range []struct {
		size  int
		split bool
	}{{512, false}, {2048, true}} {
		img := image.NewNRGBA(image.Rect(0, 0, c.size, c.size))
		r := rand.New(rand.NewPCG(1, 2))
		for i := range img.Pix {
			img.Pix[i] = uint8(r.IntN(256))
		}
		p := imageProcessor{LongestEdge: 2048, Tile: 512, Split: c.split, Resample: encoder.ResampleLanczos,
			Resizer: encoder.ResizerPIL,
			Norm:    encoder.Preprocess{RescaleFactor: 1.0 / 255, Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5}}}
		b.Run(fmt.Sprintf("%d/split=%v", c.size, c.split), func(b *testing.B) {
			for b.Loop() {
				if _, err := p.Process(img); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
