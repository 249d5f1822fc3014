package llavaonevision

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Python's anyres layout (transformers' LlavaOnevisionImageProcessor,
// LlavaOnevisionProcessor and LlavaOnevisionModel.pack_image_features),
// written here from their rules; transformers.js 4.3.1 has none of it.
//
// One image alone in a prompt becomes a base image (squashed to size×size)
// and a grid of size×size crops of the image resized to the best of
// image_grid_pinpoints and padded to it. The base image gives side² tokens
// (side = size/patch: 27 on the real model); the crops' tokens form one
// (rows·side)×(cols·side) feature map that is unpadded to the image's
// aspect ratio, shrunk bilinearly when it holds more than max_num_patches
// (anyres_max_9: 9) crops' worth of tokens by more than 10 %, and followed
// by the learned image_newline vector after every row. Prompt order: base
// tokens, then the map row by row, each row ending with its newline.
//
// Each of several images in one prompt (the processor's batch_num_images
// > 1, one conversation's images) is its base alone (BaseOnly): the image
// padded to a square with the mean colour, squashed, side² tokens and one
// image_newline.

// Resolution is one of image_grid_pinpoints, (height, width) in pixels.
type Resolution struct{ H, W int }

// SelectBestResolution is transformers' select_best_resolution for an
// image of h×w pixels: the pinpoint that keeps the most of the image's
// pixels when the image is scaled to fit it (int truncations as Python's),
// ties broken by the least wasted area, the first in list order after
// that.
func SelectBestResolution(h, w int, pins []Resolution) Resolution {
	var best Resolution
	maxEff, minWaste := 0, math.MaxInt
	for _, p := range pins {
		scale := math.Min(float64(p.W)/float64(w), float64(p.H)/float64(h))
		dw, dh := int(float64(w)*scale), int(float64(h)*scale)
		eff := min(dw*dh, w*h)
		waste := p.W*p.H - eff
		if eff > maxEff || (eff == maxEff && waste < minWaste) {
			maxEff, minWaste, best = eff, waste, p
		}
	}
	return best
}

// PatchOutputSize is transformers' get_patch_output_size: the size an h×w
// image is resized to before being padded to target, its aspect ratio kept
// (the scaled side rounded up, at most the target's).
func PatchOutputSize(h, w int, target Resolution) (nh, nw int) {
	sw := float64(target.W) / float64(w)
	sh := float64(target.H) / float64(h)
	if sw < sh {
		return min(int(math.Ceil(float64(h)*sw)), target.H), target.W
	}
	return target.H, min(int(math.Ceil(float64(w)*sh)), target.W)
}

// Anyres is the token layout of one image alone in a prompt, or (Rows =
// Cols = 0, BaseOnly) of an image among several.
type Anyres struct {
	Side           int        // base tokens per side (size / patch)
	Best           Resolution // the chosen pinpoint
	Rows, Cols     int        // crops: Best.H/size × Best.W/size
	Top, Left      int        // first row and column kept by the unpadding
	UnpadH, UnpadW int        // the unpadded feature map
	OutH, OutW     int        // after the anyres_max pooling (= Unpad* when none)
}

// BaseOnly is the layout of an image that shares its prompt with other
// images (Python's batch_num_images > 1: need_patching false): the base
// image alone — padded to a square, then squashed to size×size — its
// side² tokens and one image_newline after them (side² + 1 slots:
// LlavaOnevisionProcessor counts num_image_tokens + 1, and
// pack_image_features appends the newline to a one-crop image).
func BaseOnly(side int) Anyres { return Anyres{Side: side, OutH: 1} }

// Several reports whether the layout is BaseOnly's.
func (a Anyres) Several() bool { return a.Rows == 0 && a.Cols == 0 }

// Crops is the number of size×size crops after the base image.
func (a Anyres) Crops() int { return a.Rows * a.Cols }

// Tokens is the image's visual-token count: side² base tokens, the map's
// OutH·OutW tokens and OutH newlines (LlavaOnevisionProcessor.
// _get_number_of_features).
func (a Anyres) Tokens() int { return a.Side*a.Side + a.OutH*a.OutW + a.OutH }

// Visual is the image's visual tokens without the newline rows: side² +
// OutH·OutW.
func (a Anyres) Visual() int { return a.Tokens() - a.OutH }

// IsNewline reports whether slot k of the image's Tokens() prompt slots
// is a newline row (the last slot of each map row).
func (a Anyres) IsNewline(k int) bool {
	j := k - a.Side*a.Side
	return j >= 0 && j%(a.OutW+1) == a.OutW
}

// Pooled reports whether the map is shrunk (anyres_max).
func (a Anyres) Pooled() bool {
	return !a.Several() && (a.OutH != a.UnpadH || a.OutW != a.UnpadW)
}

// NewAnyres returns the layout of an h×w image (h, w: the decoded image's
// pixels) for crops of size px, side tokens per crop side, the folder's
// pinpoints and maxPatches (anyres_max_N's N).
func NewAnyres(h, w, size, side int, pins []Resolution, maxPatches int) (Anyres, error) {
	if h <= 0 || w <= 0 || size <= 0 || side <= 0 || maxPatches <= 0 || len(pins) == 0 {
		return Anyres{}, fmt.Errorf("llavaonevision: anyres of a %d×%d (w×h) image with size %d, %d tokens a side, %d pinpoints, max %d",
			w, h, size, side, len(pins), maxPatches)
	}
	a := Anyres{Side: side, Best: SelectBestResolution(h, w, pins)}
	a.Rows, a.Cols = a.Best.H/size, a.Best.W/size
	if a.Rows < 1 || a.Cols < 1 {
		return a, fmt.Errorf("llavaonevision: pinpoint %d×%d is smaller than the %d px crop", a.Best.H, a.Best.W, size)
	}
	ch, cw := side*a.Rows, side*a.Cols
	// unpad_image / _get_unpadded_features: drop the rows (columns) that
	// only the padding to the pinpoint's aspect ratio filled.
	if float64(w)/float64(h) > float64(cw)/float64(ch) {
		nh := int(round7(float64(h) * (float64(cw) / float64(w))))
		a.Top = floorDiv(ch-nh, 2)
		ch -= 2 * a.Top
	} else {
		nw := int(round7(float64(w) * (float64(ch) / float64(h))))
		a.Left = floorDiv(cw-nw, 2)
		cw -= 2 * a.Left
	}
	if ch <= 0 || cw <= 0 {
		return a, fmt.Errorf("llavaonevision: a %d×%d (w×h) image unpads to %d×%d tokens (rows×columns)", w, h, ch, cw)
	}
	a.UnpadH, a.UnpadW, a.OutH, a.OutW = ch, cw, ch, cw
	ratio := math.Sqrt(float64(ch*cw) / float64(maxPatches*side*side))
	if ratio > 1.1 {
		a.OutH, a.OutW = int(pyFloorDiv(float64(ch), ratio)), int(pyFloorDiv(float64(cw), ratio))
		if a.OutH < 1 || a.OutW < 1 {
			// Python's interpolate refuses an empty output size
			return a, fmt.Errorf("llavaonevision: a %d×%d (w×h) image's %d×%d unpadded tokens (rows×columns) pool to %d×%d (anyres_max_%d)",
				w, h, ch, cw, a.OutH, a.OutW, maxPatches)
		}
	}
	return a, nil
}

// MaxPatches parses vision_aspect_ratio "anyres_max_N" (N crops' worth of
// tokens at most before pooling).
func MaxPatches(aspect string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(aspect, "anyres_max_"))
	if !strings.HasPrefix(aspect, "anyres_max_") || err != nil || n <= 0 {
		return 0, fmt.Errorf("llavaonevision: vision_aspect_ratio %q is not anyres_max_N", aspect)
	}
	return n, nil
}

// round7 is Python's round(x, 7): x correctly rounded to 7 decimals.
func round7(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 7, 64), 64)
	return v
}

// floorDiv is Python's integer //.
func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// pyFloorDiv is Python's float // (float_floor_div: fmod, then the
// quotient of the exact difference, floored and corrected).
func pyFloorDiv(a, b float64) float64 {
	mod := math.Mod(a, b)
	div := (a - mod) / b
	if mod != 0 && ((b < 0) != (mod < 0)) {
		div--
	}
	if div == 0 {
		return math.Copysign(0, a/b)
	}
	f := math.Floor(div)
	if div-f > 0.5 {
		f++
	}
	return f
}

// Pack is pack_image_features for one image: feats holds the vision
// graph's rows for the base image then the crops (1+Crops() blocks of
// Side² rows of d values, row-major inside a crop, crops row-major), and
// newline the image_newline vector (d values). It returns Tokens() rows:
// the base rows, then the unpadded (and pooled) map row by row, each row
// followed by newline; with newline nil, Visual() rows: no newline rows.
func (a Anyres) Pack(feats []float32, d int, newline []float32) ([]float32, error) {
	s := a.Side
	if want := (1 + a.Crops()) * s * s * d; len(feats) != want || (newline != nil && len(newline) != d) {
		return nil, fmt.Errorf("llavaonevision: packing %d values and a newline of %d for %d crops of %d×%d tokens of %d (want %d and %d)",
			len(feats), len(newline), 1+a.Crops(), s, s, d, want, d)
	}
	out := make([]float32, 0, a.Tokens()*d)
	// nl appends the newline row, if any.
	nl := func() { out = append(out, newline...) }
	out = append(out, feats[:s*s*d]...)
	if a.Several() {
		if newline != nil {
			nl()
		}
		return out, nil
	}
	grid := feats[s*s*d:]
	// at returns the map's row (y, x) of the full (Rows·s)×(Cols·s) map.
	at := func(y, x int) []float32 {
		crop := (y/s)*a.Cols + x/s
		i := (crop*s*s + (y%s)*s + x%s) * d
		return grid[i : i+d]
	}
	// m reads the packed map: the unpadded map, or interpolate(mode=
	// "bilinear") of it (Bilinear) when pooled.
	m := func(y, x int) []float32 { return at(a.Top+y, a.Left+x) }
	if a.Pooled() {
		pooled := Bilinear(make([]float32, 0, a.OutH*a.OutW*d), m, a.UnpadH, a.UnpadW, a.OutH, a.OutW, d)
		m = func(y, x int) []float32 { return pooled[(y*a.OutW+x)*d : (y*a.OutW+x+1)*d] }
	}
	for y := 0; y < a.OutH; y++ {
		for x := 0; x < a.OutW; x++ {
			out = append(out, m(y, x)...)
		}
		nl()
	}
	return out, nil
}
