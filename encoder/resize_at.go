package encoder

import (
	"fmt"
	"image"
)

// ResizeNRGBAAt returns the pixels of ResizeNRGBA(img, w, h, r, resizer)
// at columns xs and rows ys, as a len(xs)×len(ys) image whose pixel (j, i)
// is the full result's pixel (xs[j], ys[i]). With the Pillow resizer only
// those pixels are computed (each output pixel of Pillow's two passes
// depends on its own row and column alone, so they are the same bytes);
// with nfnt the whole image is resized and then sampled. Callers that read
// a fraction of an upscaled image (a bilinear downscale right after it)
// save most of the work.
func ResizeNRGBAAt(img *image.NRGBA, w, h int, r Resample, resizer string, xs, ys []int) (*image.NRGBA, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("encoder: resize to %d×%d: size must be positive", w, h)
	}
	if err := checkIndices("column", xs, w); err != nil {
		return nil, err
	}
	if err := checkIndices("row", ys, h); err != nil {
		return nil, err
	}
	if img == nil || img.Rect.Empty() {
		return nil, fmt.Errorf("encoder: resize: source image is empty")
	}
	if _, err := ParseResample(int(r)); err != nil {
		return nil, err
	}
	if resizer != ResizerPIL {
		full, err := ResizeNRGBA(img, w, h, r, resizer)
		if err != nil {
			return nil, err
		}
		return gatherNRGBA(full, xs, ys), nil
	}
	src := img
	if img.Rect.Min != (image.Point{}) {
		src = cloneNRGBA(img)
	}
	return pilResizeAt(src, w, h, r, xs, ys), nil
}

func checkIndices(what string, idx []int, n int) error {
	if len(idx) == 0 {
		return fmt.Errorf("encoder: resize: no %ss selected", what)
	}
	for _, i := range idx {
		if i < 0 || i >= n {
			return fmt.Errorf("encoder: resize: %s %d is outside 0..%d", what, i, n-1)
		}
	}
	return nil
}

// gatherNRGBA copies the pixels at columns xs and rows ys of img.
func gatherNRGBA(img *image.NRGBA, xs, ys []int) *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, len(xs), len(ys)))
	for i, y := range ys {
		in := img.Pix[y*img.Stride:]
		d := out.Pix[i*out.Stride:]
		for j, x := range xs {
			copy(d[4*j:4*j+4], in[4*x:4*x+4])
		}
	}
	return out
}

// pilResizeAt is pilResize evaluated only at columns xs and rows ys. It
// runs the same pilHorizontal and pilVertical on the coefficient rows of
// the selected outputs.
func pilResizeAt(img *image.NRGBA, w, h int, r Resample, xs, ys []int) *image.NRGBA {
	inW, inH := img.Rect.Dx(), img.Rect.Dy()
	if r == ResampleNearest || (w == inW && h == inH) {
		return gatherNRGBA(pilResize(img, w, h, r), xs, ys)
	}
	nch := 3
	if !img.Opaque() {
		nch = 4
	}
	f := pilFilters[r]

	// The input rows the result needs, as a contiguous source for the
	// horizontal pass: rows first..last when the height changes (with the
	// vertical coefficients of the selected rows, shifted by first), else
	// the selected rows themselves.
	var vk int
	var vb []int
	var vkk []int32
	src := img
	if h != inH {
		k, b, kk := pilCoeffs(inH, h, f)
		vk = k
		vb = make([]int, 2*len(ys))
		vkk = make([]int32, len(ys)*k)
		first, last := inH, 0
		for i, y := range ys {
			vb[2*i], vb[2*i+1] = b[2*y], b[2*y+1]
			copy(vkk[i*k:(i+1)*k], kk[y*k:(y+1)*k])
			first, last = min(first, b[2*y]), max(last, b[2*y]+b[2*y+1])
		}
		for i := range ys {
			vb[2*i] -= first
		}
		src = &image.NRGBA{Pix: img.Pix[first*img.Stride : last*img.Stride], Stride: img.Stride,
			Rect: image.Rect(0, 0, inW, last-first)}
	} else {
		all := make([]int, inW)
		for x := range all {
			all[x] = x
		}
		src = gatherNRGBA(img, all, ys)
	}

	cur := src
	if w != inW {
		k, b, kk := pilCoeffs(inW, w, f)
		hb := make([]int, 2*len(xs))
		hkk := make([]int32, len(xs)*k)
		for j, x := range xs {
			hb[2*j], hb[2*j+1] = b[2*x], b[2*x+1]
			copy(hkk[j*k:(j+1)*k], kk[x*k:(x+1)*k])
		}
		tmp := image.NewNRGBA(image.Rect(0, 0, len(xs), src.Rect.Dy()))
		parallelRows(src.Rect.Dy(), len(xs)*k, func(y0, y1 int) {
			pilHorizontal(tmp, src, 0, y0, y1, k, hb, hkk, nch)
		})
		cur = tmp
	} else {
		all := make([]int, src.Rect.Dy())
		for y := range all {
			all[y] = y
		}
		cur = gatherNRGBA(src, xs, all)
	}
	if h == inH {
		return cur
	}
	out := image.NewNRGBA(image.Rect(0, 0, len(xs), len(ys)))
	parallelRows(len(ys), len(xs)*vk, func(y0, y1 int) {
		pilVertical(out, cur, y0, y1, vk, vb, vkk, nch)
	})
	return out
}
