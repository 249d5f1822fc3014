package encoder

import (
	"fmt"
	"image"
	"math"
)

// Preprocess turns a decoded image into a vision model's pixel_values,
// following the fields of a Hugging Face preprocessor_config.json: resize
// to Width×Height with Resample, multiply by RescaleFactor, subtract Mean
// and divide by Std, per RGB channel.
type Preprocess struct {
	Width, Height int
	Resample      Resample
	// RescaleFactor scales 0–255 values, usually 1/255. Zero means 1/255.
	// Being float32, it cannot hold the JSON's float64 1/255 exactly; see
	// rescale for how Tensor recovers it.
	RescaleFactor float32
	Mean, Std     [3]float32
	// Resizer is ResizerNFNT ("nfnt", also for ""), ResizerPIL ("pil") or
	// ResizerSharp ("sharp").
	Resizer string
}

// Tensor returns img as a CHW float32 tensor of length 3×Height×Width,
// value ((pixel × RescaleFactor) − Mean[c]) / Std[c], after resizing to
// Width×Height when img has another size. The arithmetic is Hugging Face's:
// the rescale in float64 rounded to float32, the normalisation in float32.
func (p Preprocess) Tensor(img *image.NRGBA) ([]float32, error) {
	if err := p.check(img); err != nil {
		return nil, err
	}
	if img.Rect.Dx() != p.Width || img.Rect.Dy() != p.Height || img.Rect.Min != (image.Point{}) {
		var err error
		if img, err = ResizeNRGBA(img, p.Width, p.Height, p.Resample, p.Resizer); err != nil {
			return nil, err
		}
	}
	return p.normalize(img), nil
}

// TensorAt is Tensor sampled at columns xs and rows ys: a CHW tensor of
// length 3×len(ys)×len(xs) whose element (c, i, j) is Tensor(img)'s element
// (c, ys[i], xs[j]), computed without resizing the rest of the image where
// the resizer allows it (see ResizeNRGBAAt).
func (p Preprocess) TensorAt(img *image.NRGBA, xs, ys []int) ([]float32, error) {
	if err := p.check(img); err != nil {
		return nil, err
	}
	if img.Rect.Dx() != p.Width || img.Rect.Dy() != p.Height || img.Rect.Min != (image.Point{}) {
		var err error
		if img, err = ResizeNRGBAAt(img, p.Width, p.Height, p.Resample, p.Resizer, xs, ys); err != nil {
			return nil, err
		}
	} else {
		if err := checkIndices("column", xs, p.Width); err != nil {
			return nil, err
		}
		if err := checkIndices("row", ys, p.Height); err != nil {
			return nil, err
		}
		img = gatherNRGBA(img, xs, ys)
	}
	return p.normalize(img), nil
}

// check validates the settings and the image.
func (p Preprocess) check(img *image.NRGBA) error {
	if p.Width <= 0 || p.Height <= 0 {
		return fmt.Errorf("encoder: preprocess: image size %d×%d must be positive", p.Width, p.Height)
	}
	for c, s := range p.Std {
		if s == 0 {
			return fmt.Errorf("encoder: preprocess: std[%d] is zero", c)
		}
	}
	if img == nil || img.Rect.Empty() {
		return fmt.Errorf("encoder: preprocess: empty image")
	}
	return checkResizer(p.Resizer)
}

// normalize rescales and normalizes img (already at its final size) into
// a CHW tensor.
func (p Preprocess) normalize(img *image.NRGBA) []float32 {
	scale := rescale(p.RescaleFactor)
	// The 256 possible values of each channel, computed once.
	var lut [3][256]float32
	for c := range lut {
		for v := range lut[c] {
			x := float32(float64(v) * scale)
			lut[c][v] = (x - p.Mean[c]) / p.Std[c]
		}
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	plane := w * h
	out := make([]float32, 3*plane)
	for y := 0; y < h; y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		o := y * w
		for x := 0; x < w; x++ {
			out[o+x] = lut[0][row[4*x]]
			out[plane+o+x] = lut[1][row[4*x+1]]
			out[2*plane+o+x] = lut[2][row[4*x+2]]
		}
	}
	return out
}

// rescale returns the float64 factor Hugging Face would multiply by. When
// f is the float32 rounding of 1/k for k a multiple of 0.5 (1/255, 1/127.5),
// that is the float64 1/k of the JSON file; otherwise it is f itself. Zero
// means 1/255.
func rescale(f float32) float64 {
	if f == 0 {
		return 1.0 / 255
	}
	k := math.Round(2/float64(f)) / 2
	if k != 0 && float32(1/k) == f {
		return 1 / k
	}
	return float64(f)
}
