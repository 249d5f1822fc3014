package qwen2vl

import (
	"image"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
)

// The video processor on 1×1, 1×199 and 1×201 frames: patches of its
// grid, or one error; none and mismatched frames are errors.
func TestVideoProcessExtremes(t *testing.T) {
	p := VideoProcessor{Processor{DoResize: true, PatchSize: 14, Merge: 2, TemporalPatch: 2, MinPixels: 128 * 28 * 28, MaxPixels: 28 * 28 * 768}}
	p.Base.RescaleFactor = 1.0 / 255
	p.Base.DoRescale = true
	p.Base.Resample = encoder.ResampleBicubic
	for _, c := range []struct {
		w, h, n int
		ok      bool
	}{{1, 1, 1, true}, {199, 1, 3, true}, {201, 1, 2, false}, {1, 199, 2, true}} {
		frames := make([]*image.NRGBA, c.n)
		for i := range frames {
			frames[i] = image.NewNRGBA(image.Rect(0, 0, c.w, c.h))
		}
		pix, g, err := p.Process(frames, 0)
		if (err == nil) != c.ok {
			t.Errorf("%d frames of %d×%d: %v", c.n, c.w, c.h, err)
			continue
		}
		if err == nil && (g[0] != (c.n+1)/2 || len(pix) != g[0]*g[1]*g[2]*3*2*14*14) {
			t.Errorf("%d frames of %d×%d: grid %v, %d values", c.n, c.w, c.h, g, len(pix))
		}
	}
	if _, _, err := p.Process(nil, 0); err == nil {
		t.Error("no frames: no error")
	}
	mixed := []*image.NRGBA{image.NewNRGBA(image.Rect(0, 0, 4, 4)), image.NewNRGBA(image.Rect(0, 0, 5, 4))}
	if _, _, err := p.Process(mixed, 0); err == nil {
		t.Error("frames of two sizes: no error")
	}
	big := p
	big.MinPixels, big.MaxPixels = 1<<40, 1<<40 // a folder asking for a terapixel
	if _, _, err := big.Process(mixed[:1], 0); err == nil {
		t.Error("min_pixels 2^40: no error")
	}
	if _, _, err := big.Processor.Process(mixed[0], "", 0); err == nil {
		t.Error("an image at min_pixels 2^40: no error")
	}
	p.DoResize = false
	if _, _, err := p.Process(mixed[:1], 0); err == nil {
		t.Error("a 4×4 frame without resizing: no error")
	}
}
