package qwen2vl

import (
	"image"
	"image/color"
	"math"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
)

// clipVideo is the Qwen2-VL twin's video settings without a resize.
func clipVideo() VideoProcessor {
	return VideoProcessor{Processor{PatchSize: 14, Merge: 2, TemporalPatch: 2, MinPixels: 3136, MaxPixels: 12544,
		Base: models.ImageProcessor{Resample: encoder.ResampleBicubic, DoRescale: true, RescaleFactor: 1.0 / 255, DoNormalize: true,
			Mean: [3]float64{0.48145466, 0.4578275, 0.40821073}, Std: [3]float64{0.26862954, 0.26130258, 0.27577711}}}}
}

// TestVideoFrameNormalization: Python's fast video processor fuses
// rescale and normalize: mean and std become float32 tensors times the
// Python float 1/rescale_factor (255 in float32), and each uint8 value v
// becomes (v − mean·255)/(std·255) in float32. Derived by hand from that
// rule for R = 0, 128, 255, G = 0, 128, 200, B = 0, 128, 37 with CLIP's
// mean/std (e.g. R: mean·255 = 122.7709 (float32), std·255 = 68.50053;
// (128 − 122.7709)/68.50053 = 0.076336011), and cross-checked (not
// committed) with torch 1.13: (uint8 tensor.float() − torch.tensor(mean)·
// (1/rescale_factor)) / (torch.tensor(std)·(1/rescale_factor)), the same
// float32 bits. The image processor's order (v/255 rounded to float32,
// then (x − mean)/std in float64) differs in the last bits on 612 of the
// 768 channel values, e.g. R 128: 0.07633618, so the test tells them
// apart. Rescale only: float32(v)·float32(1/255) (torch 1.13: uint8
// tensor times the Python float, the same bits); neither: v.
func TestVideoFrameNormalization(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 3, 1))
	img.SetNRGBA(0, 0, color.NRGBA{0, 0, 0, 255})
	img.SetNRGBA(1, 0, color.NRGBA{128, 128, 128, 255})
	img.SetNRGBA(2, 0, color.NRGBA{255, 200, 37, 255})
	for _, c := range []struct {
		name               string
		rescale, normalize bool
		want               []float32
	}{
		{"fused", true, true, []float32{
			-1.7922625541687012, 0.07633601129055023, 1.9303362369537354,
			-1.7520970106124878, 0.16889715194702148, 1.2494564056396484,
			-1.480219841003418, 0.3399486839771271, -0.9540773630142212}},
		{"rescale only", true, false, []float32{0, 0.501960814, 1, 0, 0.501960814, 0.784313798, 0, 0.501960814, 0.145098045}},
		{"neither", false, false, []float32{0, 128, 255, 0, 128, 200, 0, 128, 37}},
	} {
		t.Run(c.name, func(t *testing.T) {
			vp := clipVideo()
			vp.Base.DoRescale, vp.Base.DoNormalize = c.rescale, c.normalize
			chws, w, h, err := vp.Frames([]*image.NRGBA{img}, 0)
			if err != nil || w != 3 || h != 1 || len(chws) != 1 {
				t.Fatalf("%d×%d, %d frames, %v", w, h, len(chws), err)
			}
			for i, v := range chws[0] {
				if math.Float32bits(v) != math.Float32bits(c.want[i]) {
					t.Errorf("value %d (channel %d) = %.9g, want %.9g", i, i/3, v, c.want[i])
				}
			}
		})
	}
}

// TestVideoResizeIsTorchAA: frames not at their smart_resize size go
// through torchvision's antialiased uint8 resize (encoder.ResizeTorchAA,
// bicubic), all of them, before the fused normalization and the patch
// layout: 70×42 → 56×56 (grid 2×4×4 for 3 frames), 30×20 → 84×56 (an
// upscale), 200×150 → 112×84 (max_pixels). The port's own hand vectors
// are in package encoder. Cross-checked (not committed) against Python's
// steps in torch 1.13 (smart_resize, F.interpolate bicubic antialias one
// axis at a time with uint8 rounding between the passes, since torch 1.13
// lacks the uint8 kernel itself, the fused normalize, the view/permute):
// 70×42 bit-identical, 30×20 99.66 % and 200×150 99.92 % of the values
// equal, the rest one or two uint8 steps apart. The sharp port
// (transformers.js's image resize) gives other pixels, so the test tells
// the paths apart.
func TestVideoResizeIsTorchAA(t *testing.T) {
	vp := clipVideo()
	vp.DoResize = true
	for _, c := range []struct{ w, h, rw, rh int }{{70, 42, 56, 56}, {30, 20, 84, 56}, {200, 150, 112, 84}} {
		var frames []*image.NRGBA
		for f := range 3 {
			img := image.NewNRGBA(image.Rect(0, 0, c.w, c.h))
			for y := range c.h {
				for x := range c.w {
					img.SetNRGBA(x, y, color.NRGBA{uint8((x*7 + f*40) % 256), uint8((y*5 + x*x/3) % 256), uint8((f*60 + y*3) % 256), 255})
				}
			}
			frames = append(frames, img)
		}
		got, g, err := vp.Process(frames, 0)
		if err != nil {
			t.Fatalf("%d×%d: %v", c.w, c.h, err)
		}
		if g != (Grid{2, c.rh / 14, c.rw / 14}) {
			t.Errorf("%d×%d: grid %v, want [2 %d %d]", c.w, c.h, g, c.rh/14, c.rw/14)
		}
		norm := vp.fusedNorm()
		var torchCHW, sharpCHW [][]float32
		for _, img := range frames {
			r, err := encoder.ResizeTorchAA(img, c.rw, c.rh, encoder.ResampleBicubic)
			if err != nil {
				t.Fatal(err)
			}
			torchCHW = append(torchCHW, norm.chw(r))
			s, err := encoder.ResizeNRGBA(img, c.rw, c.rh, encoder.ResampleBicubic, "sharp")
			if err != nil {
				t.Fatal(err)
			}
			sharpCHW = append(sharpCHW, norm.chw(s))
		}
		want, _, err := VideoPatches(torchCHW, c.rw, c.rh, 14, 2, 2)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%d×%d: pixel_values_videos are not the torch-resized frames'", c.w, c.h)
		}
		if sharp, _, _ := VideoPatches(sharpCHW, c.rw, c.rh, 14, 2, 2); slices.Equal(got, sharp) {
			t.Errorf("%d×%d: the sharp resize gives the same values; the case does not tell the paths apart", c.w, c.h)
		}
	}
	// a resample the torch path does not have is one error
	vp.Base.Resample = encoder.ResampleNearest
	if _, _, err := vp.Process([]*image.NRGBA{image.NewNRGBA(image.Rect(0, 0, 70, 42))}, 0); err == nil {
		t.Error("nearest: no error")
	}
}
