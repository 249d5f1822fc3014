package models

import (
	"encoding/json"
	"fmt"
	"image"
	"math"
	"path/filepath"

	"github.com/vlmrun/vlmrun/encoder"
)

// ImageProcessor is transformers.js 4.3.1's base ImageProcessor
// (image_processors_utils.js), which CLIPImageProcessor,
// SiglipImageProcessor and LlavaOnevisionImageProcessor use unchanged:
// convert to RGB, resize (size as {shortest_edge[, longest_edge]},
// {longest_edge}, {width, height} or a bare shortest edge), center crop,
// rescale, normalize, pad (do_pad to pad_size, or to size {width, height}
// when pad_size is not given), CHW. Process reproduces its arithmetic: the rescale
// is a float64 product stored as float32, the normalization a float64
// (x − mean) / std stored as float32, as JavaScript computes them on a
// Float32Array. The resize is the one step done by sharp (libvips) in
// transformers.js, here by vlmrun's resizers (encoder.ResizeNRGBA); images
// already at the target size are not resized in either.
type ImageProcessor struct {
	DoResize                  bool
	ShortestEdge, LongestEdge int // size.shortest_edge / longest_edge (0: unset)
	Width, Height             int // size.width / height (0: unset)
	Resample                  encoder.Resample
	DoCenterCrop              bool
	CropWidth, CropHeight     int
	DoRescale                 bool
	RescaleFactor             float64
	DoNormalize               bool
	Mean, Std                 [3]float64
	// DoPad pads the normalized image with zeros on the right and bottom
	// to PadWidth×PadHeight (pad_image with constant 0, not centred).
	DoPad               bool
	PadWidth, PadHeight int
}

// imageProcessorJSON is preprocessor_config.json as the base processor
// reads it.
type imageProcessorJSON struct {
	DoResize       *bool           `json:"do_resize"`
	Size           json.RawMessage `json:"size"`
	ImageSize      json.RawMessage `json:"image_size"`
	Resample       *int            `json:"resample"`
	DoCenterCrop   *bool           `json:"do_center_crop"`
	CropSize       json.RawMessage `json:"crop_size"`
	DoRescale      *bool           `json:"do_rescale"`
	RescaleFactor  *float64        `json:"rescale_factor"`
	DoNormalize    *bool           `json:"do_normalize"`
	ImageMean      json.RawMessage `json:"image_mean"`
	ImageStd       json.RawMessage `json:"image_std"`
	DoThumbnail    *bool           `json:"do_thumbnail"`
	DoPad          *bool           `json:"do_pad"`
	PadSize        json.RawMessage `json:"pad_size"`
	SizeDivisor    *int            `json:"size_divisibility"`
	DoCropMargin   *bool           `json:"do_crop_margin"`
	DoFlipChannels *bool           `json:"do_flip_channel_order"`
	MaxSize        *int            `json:"max_size"`
}

type sizeJSON struct {
	ShortestEdge int `json:"shortest_edge"`
	LongestEdge  int `json:"longest_edge"`
	Width        int `json:"width"`
	Height       int `json:"height"`
}

// parseSize reads a size field: a number (one edge) or an object.
func parseSize(raw json.RawMessage) (sizeJSON, bool, error) {
	var s sizeJSON
	if len(raw) == 0 || string(raw) == "null" {
		return s, false, nil
	}
	var n int
	if json.Unmarshal(raw, &n) == nil {
		// A bare number is the shortest edge, and (without max_size) the
		// longest edge too: the image fits in n×n.
		return sizeJSON{ShortestEdge: n, LongestEdge: n}, true, nil
	}
	err := json.Unmarshal(raw, &s)
	return s, err == nil, err
}

// parseTriple reads image_mean / image_std: three numbers or one for all.
func parseTriple(raw json.RawMessage) ([3]float64, bool) {
	var v [3]float64
	var one float64
	if json.Unmarshal(raw, &one) == nil {
		return [3]float64{one, one, one}, true
	}
	var a []float64
	if json.Unmarshal(raw, &a) != nil || len(a) != 3 {
		return v, false
	}
	copy(v[:], a)
	return v, true
}

// ReadImageProcessor reads dir/preprocessor_config.json with the base
// processor's defaults (resample 2, do_rescale true, rescale_factor 1/255,
// do_normalize false, do_resize true when size is given). Options the base
// processor has but vlmrun does not implement (thumbnail, size
// divisibility, crop margin, channel flip, padding without a pad size) are
// refused. do_pad pads to pad_size, else — as transformers.js infers it —
// to size when size gives width and height (LlavaOnevisionImageProcessor:
// after the squash to that size, a no-op).
func ReadImageProcessor(dir string) (ImageProcessor, error) {
	const name = "preprocessor_config.json"
	path := filepath.Join(dir, name)
	var c imageProcessorJSON
	if err := ReadJSON(dir, name, &c); err != nil {
		return ImageProcessor{}, err
	}
	p := ImageProcessor{Resample: encoder.ResampleBilinear, DoRescale: true, RescaleFactor: 1.0 / 255}
	sizeRaw := c.Size
	if len(sizeRaw) == 0 || string(sizeRaw) == "null" {
		sizeRaw = c.ImageSize
	}
	s, hasSize, err := parseSize(sizeRaw)
	if err != nil {
		return p, fmt.Errorf("models: %s: size: %w", path, err)
	}
	p.DoResize = hasSize
	if c.DoResize != nil {
		p.DoResize = *c.DoResize
	}
	p.ShortestEdge, p.LongestEdge, p.Width, p.Height = s.ShortestEdge, s.LongestEdge, s.Width, s.Height
	var n int
	if c.MaxSize != nil && json.Unmarshal(sizeRaw, &n) == nil {
		p.LongestEdge = *c.MaxSize
	}
	if p.DoResize && p.ShortestEdge <= 0 && p.LongestEdge <= 0 && (p.Width <= 0 || p.Height <= 0) {
		return p, fmt.Errorf("models: %s: size must give shortest_edge, longest_edge or width and height", path)
	}
	if c.Resample != nil {
		if p.Resample, err = encoder.ParseResample(*c.Resample); err != nil {
			return p, fmt.Errorf("models: %s: %w", path, err)
		}
	}
	if c.DoCenterCrop != nil && *c.DoCenterCrop {
		cs, ok, err := parseSize(c.CropSize)
		if err != nil || !ok || cs.Width <= 0 || cs.Height <= 0 {
			return p, fmt.Errorf("models: %s: do_center_crop needs crop_size with height and width", path)
		}
		p.DoCenterCrop, p.CropWidth, p.CropHeight = true, cs.Width, cs.Height
	}
	if c.DoRescale != nil {
		p.DoRescale = *c.DoRescale
	}
	if c.RescaleFactor != nil {
		p.RescaleFactor = *c.RescaleFactor
	}
	if c.DoNormalize != nil && *c.DoNormalize {
		var ok1, ok2 bool
		p.Mean, ok1 = parseTriple(c.ImageMean)
		p.Std, ok2 = parseTriple(c.ImageStd)
		if !ok1 || !ok2 {
			return p, fmt.Errorf("models: %s: image_mean and image_std need 3 values", path)
		}
		for _, v := range p.Std {
			if v == 0 {
				return p, fmt.Errorf("models: %s: image_std has a zero", path)
			}
		}
		p.DoNormalize = true
	}
	if c.DoPad != nil && *c.DoPad {
		ps, ok, err := parseSize(c.PadSize)
		switch {
		case err != nil:
			return p, fmt.Errorf("models: %s: pad_size: %w", path, err)
		case ok && ps.Width > 0 && ps.Height > 0:
			p.PadWidth, p.PadHeight = ps.Width, ps.Height
		case ok && ps.ShortestEdge > 0 && ps.Width == 0 && ps.Height == 0:
			p.PadWidth, p.PadHeight = ps.ShortestEdge, ps.ShortestEdge // a bare number
		case !ok && c.SizeDivisor == nil && s.Width > 0 && s.Height > 0:
			p.PadWidth, p.PadHeight = s.Width, s.Height
		default:
			return p, fmt.Errorf("models: %s: do_pad without pad_size or a size with width and height is not supported", path)
		}
		p.DoPad = true
	}
	for _, u := range []struct {
		set  bool
		what string
	}{{c.DoThumbnail != nil && *c.DoThumbnail, "do_thumbnail"},
		{c.SizeDivisor != nil, "size_divisibility"}, {c.DoCropMargin != nil && *c.DoCropMargin, "do_crop_margin"},
		{c.DoFlipChannels != nil && *c.DoFlipChannels, "do_flip_channel_order"}} {
		if u.set {
			return p, fmt.Errorf("models: %s: %s is not supported", path, u.what)
		}
	}
	return p, nil
}

// ResizeTarget is get_resize_output_image_size: the size an image of w×h
// is resized to (w, h themselves when the processor does not resize).
func (p ImageProcessor) ResizeTarget(w, h int) (int, int) {
	if !p.DoResize {
		return w, h
	}
	if p.ShortestEdge > 0 || p.LongestEdge > 0 {
		short := 1.0
		if p.ShortestEdge > 0 {
			short = math.Max(float64(p.ShortestEdge)/float64(w), float64(p.ShortestEdge)/float64(h))
		}
		nw, nh := float64(w)*short, float64(h)*short
		long := 1.0
		if p.LongestEdge > 0 {
			long = math.Min(float64(p.LongestEdge)/nw, float64(p.LongestEdge)/nh)
		}
		return int(math.Floor(toFixed2(nw * long))), int(math.Floor(toFixed2(nh * long)))
	}
	return p.Width, p.Height
}

// toFixed2 is JavaScript's Number(x.toFixed(2)) for the positive sizes used
// here.
func toFixed2(x float64) float64 {
	var v float64
	fmt.Sscanf(fmt.Sprintf("%.2f", x), "%g", &v)
	return v
}

// OutputSize is the size of pixel_values for a w×h image: the crop, else
// the resize target, padded to the pad size.
func (p ImageProcessor) OutputSize(w, h int) (int, int) {
	ow, oh := p.ResizeTarget(w, h)
	if p.DoCenterCrop {
		ow, oh = p.CropWidth, p.CropHeight
	}
	if p.DoPad {
		return p.PadWidth, p.PadHeight
	}
	return ow, oh
}

// FixedSize is the pixel_values size every image gets, when there is one
// (a center crop, or a resize to width×height; padded to the pad size when
// that is not smaller).
func (p ImageProcessor) FixedSize() (int, int, bool) {
	var w, h int
	switch {
	case p.DoCenterCrop:
		w, h = p.CropWidth, p.CropHeight
	case p.DoResize && p.ShortestEdge <= 0 && p.LongestEdge <= 0:
		w, h = p.Width, p.Height
	default:
		return 0, 0, false
	}
	if p.DoPad {
		if p.PadWidth < w || p.PadHeight < h {
			return 0, 0, false
		}
		return p.PadWidth, p.PadHeight, true
	}
	return w, h, true
}

// Process returns img's pixel_values (CHW float32) and their width and
// height; resizer picks vlmrun's resizer for the one pixel-space resize.
func (p ImageProcessor) Process(img *image.NRGBA, resizer string) ([]float32, int, int, error) {
	if img == nil || img.Rect.Empty() {
		return nil, 0, 0, fmt.Errorf("models: empty image")
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	nw, nh := p.ResizeTarget(w, h)
	if nw <= 0 || nh <= 0 {
		return nil, 0, 0, fmt.Errorf("models: image %d×%d is too thin to resize (%d×%d)", w, h, nw, nh)
	}
	if nw != w || nh != h || img.Rect.Min != (image.Point{}) {
		var err error
		if img, err = encoder.ResizeNRGBA(img, nw, nh, p.Resample, resizer); err != nil {
			return nil, 0, 0, err
		}
	}
	ow, oh := nw, nh
	x0, y0 := 0, 0
	if p.DoCenterCrop {
		ow, oh = p.CropWidth, p.CropHeight
		x0, y0 = cropStart(nw, ow), cropStart(nh, oh)
	}
	// The 256 values of each channel, computed once.
	var lut [3][256]float32
	for c := range lut {
		for v := range lut[c] {
			x := float64(v)
			if p.DoRescale {
				x = float64(float32(p.RescaleFactor * x))
			}
			if p.DoNormalize {
				x = (x - p.Mean[c]) / p.Std[c]
			}
			lut[c][v] = float32(x)
		}
	}
	// do_pad: the normalized image goes to the top left of a zero canvas
	// (pad_image, constant 0); a pad size smaller than the image is refused
	// (pad_image would mix rows).
	pw, ph := ow, oh
	if p.DoPad {
		if p.PadWidth < ow || p.PadHeight < oh {
			return nil, 0, 0, fmt.Errorf("models: a %d×%d image does not fit the pad size %d×%d", ow, oh, p.PadWidth, p.PadHeight)
		}
		pw, ph = p.PadWidth, p.PadHeight
	}
	plane := pw * ph
	out := make([]float32, 3*plane)
	for y := 0; y < oh; y++ {
		sy := y + y0
		for x := 0; x < ow; x++ {
			sx := x + x0
			var r, g, b uint8 // padding (a crop larger than the image) is black
			if sx >= 0 && sx < nw && sy >= 0 && sy < nh {
				i := sy*img.Stride + 4*sx
				r, g, b = img.Pix[i], img.Pix[i+1], img.Pix[i+2]
			}
			o := y*pw + x
			out[o], out[plane+o], out[2*plane+o] = lut[0][r], lut[1][g], lut[2][b]
		}
	}
	return out, pw, ph, nil
}

// cropStart is RawImage.center_crop's offset along one axis: floor((n −
// crop) / 2) inside the image, −floor((crop − n) / 2) when the crop pads.
func cropStart(n, crop int) int {
	if n >= crop {
		return (n - crop) / 2
	}
	return -((crop - n) / 2)
}
