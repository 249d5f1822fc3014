package models

import (
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// do_pad: transformers.js pads to pad_size, else to size when size gives
// width and height; other forms are refused.
func TestReadImageProcessorPad(t *testing.T) {
	for _, c := range []struct {
		name, json string
		padW, padH int
		fixW, fixH int
		fixed      bool
		err        string
	}{
		{"inferred from size", `{"do_pad": true, "size": {"height": 6, "width": 8}}`, 8, 6, 8, 6, true, ""},
		{"pad_size", `{"do_pad": true, "size": {"height": 4, "width": 4}, "pad_size": {"height": 6, "width": 5}}`, 5, 6, 5, 6, true, ""},
		{"bare pad_size", `{"do_pad": true, "size": {"height": 4, "width": 4}, "pad_size": 7}`, 7, 7, 7, 7, true, ""},
		{"pad smaller than the image", `{"do_pad": true, "size": {"height": 8, "width": 8}, "pad_size": 6}`, 6, 6, 0, 0, false, ""},
		{"off", `{"do_pad": false, "size": {"height": 6, "width": 8}}`, 0, 0, 8, 6, true, ""},
		{"shortest edge", `{"do_pad": true, "size": {"shortest_edge": 8}}`, 0, 0, 0, 0, false, "do_pad without pad_size"},
		{"size divisibility", `{"do_pad": true, "size": {"height": 6, "width": 8}, "size_divisibility": 4}`, 0, 0, 0, 0, false, "do_pad without pad_size"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "preprocessor_config.json"), []byte(c.json), 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := ReadImageProcessor(dir)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.PadWidth != c.padW || p.PadHeight != c.padH {
				t.Errorf("pad %d×%d, want %d×%d", p.PadWidth, p.PadHeight, c.padW, c.padH)
			}
			w, h, ok := p.FixedSize()
			if ok != c.fixed || w != c.fixW || h != c.fixH {
				t.Errorf("fixed size %d×%d (%v), want %d×%d (%v)", w, h, ok, c.fixW, c.fixH, c.fixed)
			}
		})
	}
}

// The padded canvas holds the normalized image at the top left and zeros
// (pad_image's constant 0, after normalization) elsewhere; a pad smaller
// than the image is an error.
func TestProcessPads(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	copy(img.Pix, []uint8{255, 0, 0, 255, 0, 255, 0, 255})
	p := ImageProcessor{DoRescale: true, RescaleFactor: 1.0 / 255, DoNormalize: true,
		Mean: [3]float64{0.5, 0.5, 0.5}, Std: [3]float64{0.5, 0.5, 0.5}, DoPad: true, PadWidth: 3, PadHeight: 2}
	out, w, h, err := p.Process(img, "")
	if err != nil {
		t.Fatal(err)
	}
	if w != 3 || h != 2 || len(out) != 18 {
		t.Fatalf("%d×%d, %d values; want 3×2, 18", w, h, len(out))
	}
	want := []float32{1, -1, 0, 0, 0, 0, -1, 1, 0, 0, 0, 0, -1, -1, 0, 0, 0, 0}
	for i := range want {
		if out[i] != want[i] {
			t.Fatalf("values %v, want %v", out, want)
		}
	}
	p.PadWidth = 1
	if _, _, _, err := p.Process(img, ""); err == nil || !strings.Contains(err.Error(), "does not fit the pad size") {
		t.Errorf("pad 1×2 for a 2×1 image: %v", err)
	}
}
