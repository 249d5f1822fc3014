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
	data, err := pre.Tensor(img)
	if err != nil {
		return models.Pixels{}, err
	}
	t := tensor{3, nh, nw, data}
	M := p.Tile
	var frames []tensor
	px := models.Pixels{}
	if p.Split {
		H, W := visionResize(t.h, t.w, M)
		t = resizeBilinear(t, H, W)
		if t.h > M || t.w > M {
			rows, cols := ceilDiv(t.h, M), ceilDiv(t.w, M)
			oh, ow := ceilDiv(t.h, rows), ceilDiv(t.w, cols)
			for r := 0; r < rows; r++ {
				for c := 0; c < cols; c++ {
					y0, x0 := r*oh, c*ow
					if r == rows-1 {
						y0 = t.h - oh
					}
					if c == cols-1 {
						x0 = t.w - ow
					}
					frames = append(frames, crop(t, y0, x0, oh, ow))
				}
			}
			px.Rows, px.Cols = rows, cols
			t = resizeBilinear(t, M, M)
		}
		frames = append(frames, t)
	} else {
		frames = append(frames, resizeBilinear(t, M, M))
	}
	for _, f := range frames {
		if f.h != M || f.w != M {
			return models.Pixels{}, fmt.Errorf("smolvlm: tile of %d×%d, want %d×%d", f.w, f.h, M, M)
		}
		px.Data = append(px.Data, f.data...)
	}
	px.Images = len(frames)
	return px, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func crop(t tensor, y0, x0, h, w int) tensor {
	out := tensor{t.c, h, w, make([]float32, t.c*h*w)}
	for c := 0; c < t.c; c++ {
		for y := 0; y < h; y++ {
			src := t.data[c*t.h*t.w+(y0+y)*t.w+x0:]
			copy(out.data[c*h*w+y*w:c*h*w+(y+1)*w], src[:w])
		}
	}
	return out
}

// resizeBilinear resizes every channel to H×W as ONNX Runtime's CPU Resize
// does for mode linear, coordinate_transformation_mode half_pixel, no
// antialias: float32 arithmetic in the same order, so the result is the one
// transformers.js's interpolate_4d gets. A same-size resize is a copy.
func resizeBilinear(t tensor, H, W int) tensor {
	if t.h == H && t.w == W {
		return t
	}
	ys := axisWeights(t.h, H)
	xs := axisWeights(t.w, W)
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
