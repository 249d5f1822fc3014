package encoder

import (
	"encoding/json"
	"fmt"
	"image"
	"slices"
	"strings"

	"github.com/nfnt/resize"

	"github.com/vlmrun/vlmrun/encoder/vips"
)

// Resample is a resampling filter, numbered as PIL numbers them (the
// "resample" field of a Hugging Face preprocessor_config.json).
type Resample int

// The PIL filters, by PIL id.
const (
	ResampleNearest  Resample = 0
	ResampleLanczos  Resample = 1
	ResampleBilinear Resample = 2
	ResampleBicubic  Resample = 3
	ResampleBox      Resample = 4
	ResampleHamming  Resample = 5
)

var resampleNames = [...]string{"nearest", "lanczos", "bilinear", "bicubic", "box", "hamming"}

// String returns the filter's lower-case PIL name.
func (r Resample) String() string {
	if r >= 0 && int(r) < len(resampleNames) {
		return resampleNames[r]
	}
	return fmt.Sprintf("Resample(%d)", int(r))
}

// ParseResample converts a PIL filter id (0–5) to a Resample.
func ParseResample(id int) (Resample, error) {
	if id < 0 || id >= len(resampleNames) {
		return 0, fmt.Errorf("encoder: unknown resample filter %d (PIL ids: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)", id)
	}
	return Resample(id), nil
}

// UnmarshalJSON accepts a PIL filter id (3) or a name ("bicubic",
// case-insensitive; PIL's alias "antialias" means lanczos).
func (r *Resample) UnmarshalJSON(b []byte) error {
	var id int
	if err := json.Unmarshal(b, &id); err == nil {
		v, err := ParseResample(id)
		if err != nil {
			return err
		}
		*r = v
		return nil
	}
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return fmt.Errorf("encoder: resample must be a PIL filter id or name, got %s", b)
	}
	name = strings.ToLower(name)
	if name == "antialias" {
		name = "lanczos"
	}
	for i, n := range resampleNames {
		if n == name {
			*r = Resample(i)
			return nil
		}
	}
	return fmt.Errorf("encoder: unknown resample filter %q", name)
}

// The resizers ResizeNRGBA offers.
const (
	// ResizerNFNT uses github.com/nfnt/resize: fast, but about one level
	// darker on average than PIL, and without box or hamming filters
	// (both fall back to its bilinear filter).
	ResizerNFNT = "nfnt"
	// ResizerPIL is a port of Pillow's resampler; it matches PIL's
	// Image.resize of an RGB image exactly.
	ResizerPIL = "pil"
	// ResizerSharp is transformers.js 4.3.1's RawImage.resize in Node
	// (sharp 0.35.5 on libvips 8.18.7), reproduced byte for byte by package
	// encoder/vips: bicubic, bilinear, nearest (and box, hamming as
	// bilinear) as sharp's affine, lanczos as sharp's lanczos3 resize. It
	// resamples the RGB channels (transformers.js converts images to RGB
	// first, dropping alpha) and returns an opaque image.
	ResizerSharp = "sharp"
)

// Resizers lists the resizer names ResizeNRGBA accepts ("" means nfnt).
var Resizers = []string{ResizerNFNT, ResizerPIL, ResizerSharp}

// checkResizer refuses an unknown resizer name.
func checkResizer(resizer string) error {
	if resizer == "" || slices.Contains(Resizers, resizer) {
		return nil
	}
	return fmt.Errorf("encoder: unknown resizer %q (want %s)", resizer, strings.Join(Resizers, ", "))
}

// ResizeNRGBA resizes img to w×h with filter r using the named resizer
// ("nfnt" or "" for nfnt/resize, "pil" for the Pillow port, "sharp" for
// transformers.js's sharp resize). It always returns a new image with
// origin (0, 0), even when the size is unchanged. nfnt premultiplies
// alpha, the Pillow port resamples straight alpha as a fourth channel, the
// sharp resizer drops it as transformers.js does (DecodeImage's output is
// opaque, where all three agree with their references' RGB paths).
func ResizeNRGBA(img *image.NRGBA, w, h int, r Resample, resizer string) (*image.NRGBA, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("encoder: resize to %d×%d: size must be positive", w, h)
	}
	if img == nil || img.Rect.Empty() {
		return nil, fmt.Errorf("encoder: resize: source image is empty")
	}
	if _, err := ParseResample(int(r)); err != nil {
		return nil, err
	}
	src := img
	if img.Rect.Min != (image.Point{}) {
		src = cloneNRGBA(img)
	}
	switch resizer {
	case ResizerNFNT, "":
		if src.Rect.Dx() == w && src.Rect.Dy() == h {
			return cloneNRGBA(src), nil
		}
		return nfntResize(src, w, h, r), nil
	case ResizerPIL:
		return pilResize(src, w, h, r), nil
	case ResizerSharp:
		if src.Rect.Dx() == w && src.Rect.Dy() == h {
			return cloneNRGBA(src), nil
		}
		return sharpResize(src, w, h, r)
	}
	return nil, checkResizer(resizer)
}

// sharpResize resizes the RGB channels of img as transformers.js does in
// Node (vips.Transformers) and returns an opaque image.
func sharpResize(img *image.NRGBA, w, h int, r Resample) (*image.NRGBA, error) {
	iw, ih := img.Rect.Dx(), img.Rect.Dy()
	rgb := vips.Image{Pix: make([]uint8, iw*ih*3), Width: iw, Height: ih, Bands: 3}
	for y := 0; y < ih; y++ {
		row, dst := img.Pix[y*img.Stride:], rgb.Pix[y*iw*3:]
		for x := 0; x < iw; x++ {
			dst[3*x], dst[3*x+1], dst[3*x+2] = row[4*x], row[4*x+1], row[4*x+2]
		}
	}
	res, err := vips.Transformers(rgb, w, h, int(r))
	if err != nil {
		return nil, fmt.Errorf("encoder: sharp resize %d×%d to %d×%d: %w", iw, ih, w, h, err)
	}
	out := image.NewNRGBA(image.Rect(0, 0, res.Width, res.Height))
	for i, j := 0, 0; j < len(res.Pix); i, j = i+4, j+3 {
		out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = res.Pix[j], res.Pix[j+1], res.Pix[j+2], 255
	}
	return out, nil
}

// nfntResize resizes with nfnt/resize on the NRGBA image (never on YCbCr,
// which nfnt would resample in YCbCr space) and converts its premultiplied
// RGBA result back to NRGBA.
func nfntResize(img *image.NRGBA, w, h int, r Resample) *image.NRGBA {
	f := map[Resample]resize.InterpolationFunction{
		ResampleNearest:  resize.NearestNeighbor,
		ResampleLanczos:  resize.Lanczos3,
		ResampleBilinear: resize.Bilinear,
		ResampleBicubic:  resize.Bicubic,
		ResampleBox:      resize.Bilinear,
		ResampleHamming:  resize.Bilinear,
	}[r]
	switch m := resize.Resize(uint(w), uint(h), img, f).(type) {
	case *image.NRGBA:
		return cloneNRGBA(m)
	case *image.RGBA:
		out := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			s := m.Pix[y*m.Stride : y*m.Stride+4*w]
			d := out.Pix[y*out.Stride : y*out.Stride+4*w]
			for i := 0; i < len(s); i += 4 {
				a := s[i+3]
				switch a {
				case 255:
					d[i], d[i+1], d[i+2] = s[i], s[i+1], s[i+2]
				case 0:
					d[i], d[i+1], d[i+2] = 0, 0, 0
				default:
					for c := 0; c < 3; c++ {
						d[i+c] = uint8(min((int(s[i+c])*255+int(a)/2)/int(a), 255))
					}
				}
				d[i+3] = a
			}
		}
		return out
	default: // not returned for *image.NRGBA input by the pinned version
		out := image.NewNRGBA(image.Rect(0, 0, w, h))
		b := m.Bounds()
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				out.Set(x, y, m.At(b.Min.X+x, b.Min.Y+y))
			}
		}
		return out
	}
}

// cloneNRGBA copies m into a new image with origin (0, 0).
func cloneNRGBA(m *image.NRGBA) *image.NRGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		i := m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y+y)
		copy(out.Pix[y*out.Stride:y*out.Stride+4*w], m.Pix[i:i+4*w])
	}
	return out
}
