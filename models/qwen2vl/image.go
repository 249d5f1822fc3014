package qwen2vl

import (
	"encoding/json"
	"fmt"
	"image"
	"math"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
)

// Processor is transformers.js 4.3.1's Qwen2VLImageProcessor: the base
// processor's convert-to-RGB, resize (to SmartResize's size), rescale and
// normalize, then the frame repeated TemporalPatch times and cut into
// PatchSize² patches, flattened to [grid_t·grid_h·grid_w,
// C·TemporalPatch·PatchSize²] in merge-block order (see Patches).
type Processor struct {
	// Base does the rescale and normalization (its resize is off: the size
	// comes from SmartResize).
	Base                 models.ImageProcessor
	DoResize             bool
	MinPixels, MaxPixels int
	PatchSize, Merge     int
	TemporalPatch        int
}

// processorJSON is the part of preprocessor_config.json the Qwen processor
// reads besides the base processor's fields.
type processorJSON struct {
	DoResize      *bool           `json:"do_resize"`
	Size          json.RawMessage `json:"size"`
	MinPixels     *int            `json:"min_pixels"`
	MaxPixels     *int            `json:"max_pixels"`
	PatchSize     int             `json:"patch_size"`
	MergeSize     int             `json:"merge_size"`
	TemporalPatch int             `json:"temporal_patch_size"`
	Resample      *int            `json:"resample"`
	DoRescale     *bool           `json:"do_rescale"`
	RescaleFactor *float64        `json:"rescale_factor"`
	DoNormalize   *bool           `json:"do_normalize"`
	ImageMean     []float64       `json:"image_mean"`
	ImageStd      []float64       `json:"image_std"`
}

// ReadProcessor reads dir/preprocessor_config.json as Qwen2VLImageProcessor
// does: min_pixels ?? size.shortest_edge, max_pixels ?? size.longest_edge,
// do_resize ?? (size given), do_normalize only when set (the base
// processor's default is off), resample 3 unless given (the base default is
// 2; Qwen's processors publish 3).
func ReadProcessor(dir string) (Processor, error) {
	const name = "preprocessor_config.json"
	var c processorJSON
	if err := models.ReadJSON(dir, name, &c); err != nil {
		return Processor{}, err
	}
	var size struct {
		ShortestEdge *int `json:"shortest_edge"`
		LongestEdge  *int `json:"longest_edge"`
	}
	hasSize := len(c.Size) > 0 && string(c.Size) != "null"
	if hasSize {
		if err := json.Unmarshal(c.Size, &size); err != nil {
			return Processor{}, fmt.Errorf("qwen2vl: %s/%s: size: %w", dir, name, err)
		}
	}
	p := Processor{DoResize: hasSize, PatchSize: c.PatchSize, Merge: c.MergeSize, TemporalPatch: c.TemporalPatch,
		MinPixels: 56 * 56, MaxPixels: 14 * 14 * 4 * 1280} // smart_resize's defaults
	if c.DoResize != nil {
		p.DoResize = *c.DoResize
	}
	if c.MinPixels != nil {
		p.MinPixels = *c.MinPixels
	} else if size.ShortestEdge != nil {
		p.MinPixels = *size.ShortestEdge
	}
	if c.MaxPixels != nil {
		p.MaxPixels = *c.MaxPixels
	} else if size.LongestEdge != nil {
		p.MaxPixels = *size.LongestEdge
	}
	if p.PatchSize <= 0 || p.Merge <= 0 || p.TemporalPatch <= 0 {
		return p, fmt.Errorf("qwen2vl: %s/%s: needs patch_size, merge_size and temporal_patch_size", dir, name)
	}
	if p.MinPixels <= 0 || p.MaxPixels < p.MinPixels {
		return p, fmt.Errorf("qwen2vl: %s/%s: min_pixels %d, max_pixels %d", dir, name, p.MinPixels, p.MaxPixels)
	}
	b := models.ImageProcessor{Resample: encoder.ResampleBicubic, DoRescale: true, RescaleFactor: 1.0 / 255}
	var err error
	if c.Resample != nil {
		if b.Resample, err = encoder.ParseResample(*c.Resample); err != nil {
			return p, fmt.Errorf("qwen2vl: %s/%s: %w", dir, name, err)
		}
	}
	if c.DoRescale != nil {
		b.DoRescale = *c.DoRescale
	}
	if c.RescaleFactor != nil {
		b.RescaleFactor = *c.RescaleFactor
	}
	if c.DoNormalize != nil && *c.DoNormalize {
		if len(c.ImageMean) != 3 || len(c.ImageStd) != 3 {
			return p, fmt.Errorf("qwen2vl: %s/%s: image_mean and image_std need 3 values", dir, name)
		}
		for i := range 3 {
			if c.ImageStd[i] == 0 {
				return p, fmt.Errorf("qwen2vl: %s/%s: image_std has a zero", dir, name)
			}
			b.Mean[i], b.Std[i] = c.ImageMean[i], c.ImageStd[i]
		}
		b.DoNormalize = true
	}
	p.Base = b
	return p, nil
}

// jsRound is JavaScript's Math.round: halves go up (toward +∞), unlike
// Python's round and Go's math.Round (model-formats.md §12.4).
func jsRound(x float64) float64 { return math.Floor(x + 0.5) }

// SmartResize is transformers.js's smart_resize(height, width, factor,
// min_pixels, max_pixels): both sides a multiple of factor, the area within
// [minPixels, maxPixels], the aspect ratio kept as far as that allows. It
// returns width first, as transformers.js does.
func SmartResize(height, width, factor, minPixels, maxPixels int) (int, int, error) {
	if height <= 0 || width <= 0 || factor <= 0 {
		return 0, 0, fmt.Errorf("qwen2vl: smart_resize of a %d×%d image with factor %d", width, height, factor)
	}
	h, w := float64(height), float64(width)
	f := float64(factor)
	if h < f || w < f {
		scale := math.Max(f/h, f/w)
		h, w = jsRound(h*scale), jsRound(w*scale)
	}
	if math.Max(h, w)/math.Min(h, w) > 200 {
		return 0, 0, fmt.Errorf("qwen2vl: absolute aspect ratio must be smaller than 200, got %v", math.Max(h, w)/math.Min(h, w))
	}
	hBar := jsRound(h/f) * f
	wBar := jsRound(w/f) * f
	if hBar*wBar > float64(maxPixels) {
		beta := math.Sqrt(h * w / float64(maxPixels))
		hBar = math.Max(f, math.Floor(h/beta/f)*f)
		wBar = math.Max(f, math.Floor(w/beta/f)*f)
	} else if hBar*wBar < float64(minPixels) {
		beta := math.Sqrt(float64(minPixels) / (h * w))
		hBar = math.Ceil(h*beta/f) * f
		wBar = math.Ceil(w*beta/f) * f
	}
	return int(wBar), int(hBar), nil
}

// underBudget is a smart_resize (size, given min_pixels) under a token
// budget of maxPixels: min_pixels is lowered to maxPixels, then one
// token's area (factor²) at a time while the result still exceeds
// maxPixels, as the min_pixels branch rounds a small image up past the
// budget (the twin's min of 4 tokens turns a 20×14 image into 56×84, 6
// tokens, under a budget of 4 that 28×28 fits). What remains over
// maxPixels at one token's min_pixels (a long strip) is the caller's
// refusal.
func underBudget(minPixels, maxPixels, factor int, size func(minPixels int) (int, int, error)) (int, int, error) {
	minPixels = min(minPixels, maxPixels)
	for {
		w, h, err := size(minPixels)
		if err != nil || w*h <= maxPixels || minPixels <= factor*factor {
			return w, h, err
		}
		minPixels = max(factor*factor, minPixels-factor*factor)
	}
}

// checkTarget refuses a resize target over encoder.DefaultLimits'
// pixels (a folder's min_pixels can ask for any size; Qwen2-VL's own
// max_pixels is 12.8 Mpx).
func checkTarget(w, h int) error {
	if int64(w)*int64(h) > encoder.DefaultLimits.MaxPixels {
		return fmt.Errorf("qwen2vl: the processor's min_pixels/max_pixels resize to %d×%d, over %d pixels", w, h, encoder.DefaultLimits.MaxPixels)
	}
	return nil
}

// Size is the pixel_values size (width, height) for a w×h image.
func (p Processor) Size(w, h int) (int, int, error) {
	if !p.DoResize {
		return w, h, nil
	}
	return SmartResize(h, w, p.PatchSize*p.Merge, p.MinPixels, p.MaxPixels)
}

// Grid is one image's (t, h, w) patch grid: image_grid_thw.
type Grid [3]int

// Tokens is the number of visual tokens (merged patches) of the grid.
func (g Grid) Tokens(merge int) int { return g[0] * g[1] * g[2] / (merge * merge) }

// Process returns img's pixel_values (patches × C·T·P·P, see Patches) and
// its grid. resizer picks vlmrun's resizer for the pixel-space resize
// (sharp in transformers.js; an image already at its SmartResize size is
// not resized in either). maxPixels > 0 lowers max_pixels (a visual-token
// budget).
func (p Processor) Process(img *image.NRGBA, resizer string, maxPixels int) ([]float32, Grid, error) {
	if img == nil || img.Rect.Empty() {
		return nil, Grid{}, fmt.Errorf("qwen2vl: empty image")
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	nw, nh, err := p.Size(w, h)
	if maxPixels > 0 && maxPixels < p.MaxPixels && p.DoResize {
		nw, nh, err = underBudget(p.MinPixels, maxPixels, p.PatchSize*p.Merge, func(minPixels int) (int, int, error) {
			return SmartResize(h, w, p.PatchSize*p.Merge, minPixels, maxPixels)
		})
	}
	if err != nil {
		return nil, Grid{}, err
	}
	if err := checkTarget(nw, nh); err != nil {
		return nil, Grid{}, err
	}
	if nw != w || nh != h || img.Rect.Min != (image.Point{}) {
		if img, err = encoder.ResizeNRGBA(img, nw, nh, p.Base.Resample, resizer); err != nil {
			return nil, Grid{}, err
		}
	}
	chw, cw, ch, err := p.Base.Process(img, resizer)
	if err != nil {
		return nil, Grid{}, err
	}
	return Patches(chw, cw, ch, p.PatchSize, p.Merge, p.TemporalPatch)
}

// Patches is Qwen2VLImageProcessor's patch layout for one image (CHW,
// 3×h×w): the frame repeated temporal times, viewed as [grid_t, temporal,
// C, grid_h/merge, merge, patch, grid_w/merge, merge, patch], permuted to
// (0, 3, 6, 4, 7, 2, 1, 5, 8) and flattened to [grid_t·grid_h·grid_w,
// C·temporal·patch·patch]: patches in merge-block order (blocks
// row-major, the merge×merge patches of a block row-major), each patch's
// values channel, then frame, then row, then column. The values are copied,
// so they are bit-identical to transformers.js's.
func Patches(chw []float32, w, h, patch, merge, temporal int) ([]float32, Grid, error) {
	gh, gw := h/patch, w/patch
	if gh*patch != h || gw*patch != w || gh%merge != 0 || gw%merge != 0 {
		return nil, Grid{}, fmt.Errorf("qwen2vl: a %d×%d image is not a whole number of %d×%d merge blocks of %d px patches",
			w, h, merge, merge, patch)
	}
	if len(chw) != 3*w*h {
		return nil, Grid{}, fmt.Errorf("qwen2vl: %d pixel values for 3×%d×%d", len(chw), h, w)
	}
	const C = 3
	dim := C * temporal * patch * patch
	out := make([]float32, gh*gw*dim)
	o := 0
	for bh := 0; bh < gh/merge; bh++ {
		for bw := 0; bw < gw/merge; bw++ {
			for mh := 0; mh < merge; mh++ {
				for mw := 0; mw < merge; mw++ {
					y0, x0 := (bh*merge+mh)*patch, (bw*merge+mw)*patch
					for c := 0; c < C; c++ {
						for t := 0; t < temporal; t++ {
							for py := 0; py < patch; py++ {
								row := chw[c*w*h+(y0+py)*w+x0:]
								o += copy(out[o:o+patch], row[:patch])
							}
						}
					}
				}
			}
		}
	}
	return out, Grid{1, gh, gw}, nil
}
