package smolvlm

import (
	"fmt"
	"image"
	"math"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
)

// imageProcessor is Idefics3ImageProcessor as transformers.js 4.3.1 runs it
// (the same class serves SmolVLMImageProcessor):
//
//  1. resize so the longest edge is LongestEdge (up or down; the only
//     pixel-space resize, done with Resample by vlmrun's resizer where
//     transformers.js uses sharp), then rescale and normalize;
//  2. with splitting, bilinear-resize the normalized tensor so both sides
//     are multiples of Tile (keeping the aspect ratio), cut it into Tile×Tile
//     tiles row-major (the last row and column anchored to the bottom/right
//     edge) and append the global image, the whole tensor resized to
//     Tile×Tile; without splitting, or when both sides are at most Tile, the
//     single Tile×Tile image is used and there is no grid.
//
// The tensor resizes are ONNX Resize (linear, half_pixel, no antialias),
// reproduced bit for bit by resizeBilinear.
type imageProcessor struct {
	LongestEdge int
	Tile        int
	Split       bool
	Resample    encoder.Resample
	Resizer     string
	Norm        encoder.Preprocess // RescaleFactor, Mean, Std
}

// resizeTarget is get_resize_output_image_size for size {longest_edge}:
// scale so the longest edge equals edge, each side floored after rounding to
// two decimals.
func resizeTarget(w, h, edge int) (int, int) {
	f := math.Min(float64(edge)/float64(w), float64(edge)/float64(h))
	r := func(x float64) int { return int(math.Floor(toFixed2(x))) }
	return r(float64(w) * f), r(float64(h) * f)
}

// toFixed2 is JavaScript's Number(x.toFixed(2)) for the positive sizes used
// here.
func toFixed2(x float64) float64 {
	s := fmt.Sprintf("%.2f", x)
	var v float64
	fmt.Sscanf(s, "%g", &v)
	return v
}

// visionResize is get_resize_for_vision_encoder: both sides rounded up to
// multiples of m, the short side derived from the aspect ratio.
func visionResize(h, w, m int) (int, int) {
	aspect := float64(w) / float64(h)
	ceilTo := func(x float64) int { return int(math.Ceil(x/float64(m))) * m }
	if w >= h {
		W := ceilTo(float64(w))
		H := ceilTo(math.Floor(float64(W) / aspect))
		return H, W
	}
	H := ceilTo(float64(h))
	W := ceilTo(math.Floor(float64(H) * aspect))
	return H, W
}

// tensor is a CHW float32 image.
type tensor struct {
	c, h, w int
	data    []float32
}

// Process turns a decoded image into the vision graph's tiles.
func (p imageProcessor) Process(img *image.NRGBA) (models.Pixels, error) {
	if img == nil || img.Rect.Empty() {
		return models.Pixels{}, fmt.Errorf("smolvlm: empty image")
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	nw, nh := resizeTarget(w, h, p.LongestEdge)
	if nw <= 0 || nh <= 0 {
		return models.Pixels{}, fmt.Errorf("smolvlm: image %d×%d is too thin to resize to a %d px longest edge", w, h, p.LongestEdge)
	}
	pre := p.Norm
	pre.Width, pre.Height, pre.Resample, pre.Resizer = nw, nh, p.Resample, p.Resizer
	M := p.Tile
	if !p.Split && (nw != M || nh != M) {
		// One frame, a bilinear downscale (or upscale) of the resized
		// image: resize and normalize only the pixels it reads.
		f, err := single(pre, img, M)
		if err != nil {
			return models.Pixels{}, err
		}
		return models.Pixels{Data: f.data, Images: 1}, nil
	}
	data, err := pre.Tensor(img)
	if err != nil {
		return models.Pixels{}, err
	}
	t := tensor{3, nh, nw, data}
	if p.Split {
		H, W := visionResize(t.h, t.w, M)
		t = resizeBilinear(t, H, W)
	}
	if !p.Split || (t.h <= M && t.w <= M) {
		f := resizeBilinear(t, M, M)
		return models.Pixels{Data: f.data, Images: 1}, nil
	}
	// Tiles, written straight into one buffer, then the global image.
	rows, cols := ceilDiv(t.h, M), ceilDiv(t.w, M)
	oh, ow := ceilDiv(t.h, rows), ceilDiv(t.w, cols)
	if oh != M || ow != M {
		return models.Pixels{}, fmt.Errorf("smolvlm: tile of %d×%d, want %d×%d", ow, oh, M, M)
	}
	frame := 3 * M * M
	px := models.Pixels{Rows: rows, Cols: cols, Images: rows*cols + 1}
	px.Data = make([]float32, px.Images*frame)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			y0, x0 := r*oh, c*ow
			if r == rows-1 {
				y0 = t.h - oh
			}
			if c == cols-1 {
				x0 = t.w - ow
			}
			k := r*cols + c
			cropInto(px.Data[k*frame:(k+1)*frame], t, y0, x0, oh, ow)
		}
	}
	copy(px.Data[rows*cols*frame:], resizeBilinear(t, M, M).data)
	return px, nil
}

// single is resizeBilinear(Tensor(img), M, M) computed from only the
// rows and columns of the resized image that the bilinear pass reads (about
// a quarter of them when a 512 px image was upscaled to 2048 px): the
// same float32 values, since every step is per pixel.
func single(pre encoder.Preprocess, img *image.NRGBA, M int) (tensor, error) {
	ys, xs := axisWeights(pre.Height, M), axisWeights(pre.Width, M)
	rows, cols := used(ys), used(xs)
	data, err := pre.TensorAt(img, cols, rows)
	if err != nil {
		return tensor{}, err
	}
	return resizeWith(tensor{3, len(rows), len(cols), data}, remap(ys, rows), remap(xs, cols)), nil
}

// used lists, in increasing order, the input indices that ws reads.
func used(ws []weights) []int {
	var idx []int
	for _, w := range ws {
		for _, i := range [2]int{w.i1, w.i2} {
			if n := len(idx); n == 0 || idx[n-1] < i {
				idx = append(idx, i)
			}
		}
	}
	return idx
}

// remap rewrites ws's input indices as positions in idx (from used).
func remap(ws []weights, idx []int) []weights {
	pos := make(map[int]int, len(idx))
	for p, i := range idx {
		pos[i] = p
	}
	out := make([]weights, len(ws))
	for k, w := range ws {
		w.i1, w.i2 = pos[w.i1], pos[w.i2]
		out[k] = w
	}
	return out
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// cropInto copies the h×w window of t at (y0, x0) into dst (CHW).
func cropInto(dst []float32, t tensor, y0, x0, h, w int) {
	for c := 0; c < t.c; c++ {
		for y := 0; y < h; y++ {
			src := t.data[c*t.h*t.w+(y0+y)*t.w+x0:]
			copy(dst[c*h*w+y*w:c*h*w+(y+1)*w], src[:w])
		}
	}
}

// resizeBilinear resizes every channel to H×W as ONNX Runtime's CPU Resize
// does for mode linear, coordinate_transformation_mode half_pixel, no
// antialias: float32 arithmetic in the same order, so the result is the one
// transformers.js's interpolate_4d gets. A same-size resize is a copy.
func resizeBilinear(t tensor, H, W int) tensor {
	if t.h == H && t.w == W {
		return t
	}
	return resizeWith(t, axisWeights(t.h, H), axisWeights(t.w, W))
}

// resizeWith is resizeBilinear's arithmetic with the axis weights given:
// output row y blends input rows ys[y].i1 and ys[y].i2, and likewise for
// columns.
func resizeWith(t tensor, ys, xs []weights) tensor {
	H, W := len(ys), len(xs)
	out := tensor{t.c, H, W, make([]float32, t.c*H*W)}
	for c := 0; c < t.c; c++ {
		in := t.data[c*t.h*t.w : (c+1)*t.h*t.w]
		o := out.data[c*H*W : (c+1)*H*W]
		for y := 0; y < H; y++ {
			ay := ys[y]
			r1, r2 := in[ay.i1*t.w:], in[ay.i2*t.w:]
			for x := 0; x < W; x++ {
				ax := xs[x]
				// Each product is rounded to float32 before the sums, left to
				// right, as the C++ expression is evaluated (no fused
				// multiply-add).
				a := float32(float32(ax.d2*ay.d2) * r1[ax.i1])
				b := float32(float32(ax.d1*ay.d2) * r1[ax.i2])
				cc := float32(float32(ax.d2*ay.d1) * r2[ax.i1])
				d := float32(float32(ax.d1*ay.d1) * r2[ax.i2])
				o[y*W+x] = float32(float32(float32(a+b)+cc) + d)
			}
		}
	}
	return out
}

type weights struct {
	i1, i2 int
	d1, d2 float32
}

// axisWeights is SetupUpsampleBilinear for one axis.
func axisWeights(in, out int) []weights {
	scale := float32(out) / float32(in)
	ws := make([]weights, out)
	for i := range ws {
		var x float32
		if scale == 1 {
			x = float32(i)
		} else {
			x = float32(float32(float32(i)+0.5)/scale) - 0.5
		}
		x = max(0, min(x, float32(in-1)))
		i1 := min(int(x), in-1)
		i2 := min(i1+1, in-1)
		w := weights{i1: i1, i2: i2, d1: abs32(x - float32(i1)), d2: abs32(x - float32(i2))}
		if i1 == i2 {
			w.d1, w.d2 = 0.5, 0.5
		}
		ws[i] = w
	}
	return ws
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
