package encoder

import (
	"image"
	"math"
	"runtime"
	"sync"
)

// This file ports Pillow's resampler (libImaging/Resample.c, and
// Geometry.c's ImagingScaleAffine for NEAREST) so that ResizerPIL gives
// the bytes PIL's Image.resize gives. Every step keeps Pillow's arithmetic:
// float64 coefficients normalised to sum 1, rounded to 22-bit fixed point,
// two 8-bit passes (horizontal first, over only the rows the vertical pass
// reads) with int32 accumulators and clip8. Products that C computes and
// rounds before an addition are wrapped in float64() conversions, which
// stop Go from fusing them into FMA instructions on arm64 and others.

// pilFilter is a Pillow kernel and its support radius at scale 1.
type pilFilter struct {
	kernel  func(x float64) float64
	support float64
}

var pilFilters = map[Resample]pilFilter{
	ResampleBox:      {pilBox, 0.5},
	ResampleBilinear: {pilBilinear, 1},
	ResampleHamming:  {pilHamming, 1},
	ResampleBicubic:  {pilBicubic, 2},
	ResampleLanczos:  {pilLanczos, 3},
}

func pilBox(x float64) float64 {
	if x > -0.5 && x <= 0.5 {
		return 1
	}
	return 0
}

func pilBilinear(x float64) float64 {
	x = math.Abs(x)
	if x < 1 {
		return 1 - x
	}
	return 0
}

func pilHamming(x float64) float64 {
	x = math.Abs(x)
	if x == 0 {
		return 1
	}
	if x >= 1 {
		return 0
	}
	x = x * math.Pi
	// C: sin(x) / x * (0.54f + 0.46f * cos(x)), float constants.
	return math.Sin(x) / x * (float64(float32(0.54)) + float64(float64(float32(0.46))*math.Cos(x)))
}

func pilBicubic(x float64) float64 {
	const a = -0.5
	x = math.Abs(x)
	if x < 1 {
		return float64(float64(float64((a+2)*x)-(a+3))*x*x) + 1
	}
	if x < 2 {
		return float64(float64(float64(float64((x-5)*x)+8)*x)-4) * a
	}
	return 0
}

func pilSinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x = x * math.Pi
	return math.Sin(x) / x
}

func pilLanczos(x float64) float64 {
	if -3 <= x && x < 3 {
		return pilSinc(x) * pilSinc(x/3)
	}
	return 0
}

// pilPrecision is Pillow's PRECISION_BITS: 32 - 8 bits of result - 2
// bits for coefficient sums below 0 or above 1.
const pilPrecision = 32 - 8 - 2

// pilCoeffs is Pillow's precompute_coeffs followed by
// normalize_coeffs_8bpc: for each output pixel, the first input pixel it
// reads, how many it reads, and ksize fixed-point weights.
func pilCoeffs(inSize, outSize int, f pilFilter) (ksize int, bounds []int, kk []int32) {
	scale := float64(inSize) / float64(outSize)
	filterscale := max(scale, 1)
	support := f.support * filterscale
	ksize = int(math.Ceil(support))*2 + 1
	bounds = make([]int, 2*outSize)
	kk = make([]int32, outSize*ksize)
	k := make([]float64, ksize)
	ss := 1 / filterscale
	for xx := 0; xx < outSize; xx++ {
		center := float64((float64(xx) + 0.5) * scale)
		xmin := max(int(center-support+0.5), 0)
		xmax := min(int(center+support+0.5), inSize) - xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			w := f.kernel(float64(float64(x+xmin)-center+0.5) * ss)
			k[x] = w
			ww += w
		}
		for x := 0; x < xmax; x++ {
			v := k[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				kk[xx*ksize+x] = int32(-0.5 + float64(v*(1<<pilPrecision)))
			} else {
				kk[xx*ksize+x] = int32(0.5 + float64(v*(1<<pilPrecision)))
			}
		}
		bounds[2*xx], bounds[2*xx+1] = xmin, xmax
	}
	return ksize, bounds, kk
}

// clip8 is Pillow's clip8: drop the fixed-point fraction, clamp to 0..255.
func clip8(v int32) uint8 {
	v >>= pilPrecision
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// pilResize resizes as PIL's Image.resize does for an RGB image (or, when
// img has transparency, an RGBA image resampled with straight alpha).
func pilResize(img *image.NRGBA, w, h int, r Resample) *image.NRGBA {
	inW, inH := img.Rect.Dx(), img.Rect.Dy()
	if inW == w && inH == h {
		return cloneNRGBA(img)
	}
	if r == ResampleNearest {
		return pilNearest(img, w, h)
	}
	nch := 3
	if !img.Opaque() {
		nch = 4
	}
	f := pilFilters[r]
	vk, vbounds, vkk := pilCoeffs(inH, h, f)
	cur := img
	if w != inW {
		// Only rows first..last feed the vertical pass.
		first, last := vbounds[0], vbounds[2*h-2]+vbounds[2*h-1]
		hk, hbounds, hkk := pilCoeffs(inW, w, f)
		tmp := image.NewNRGBA(image.Rect(0, 0, w, last-first))
		parallelRows(last-first, w*hk, func(y0, y1 int) {
			pilHorizontal(tmp, img, first, y0, y1, hk, hbounds, hkk, nch)
		})
		for i := 0; i < h; i++ {
			vbounds[2*i] -= first
		}
		cur = tmp
	}
	if h != inH {
		out := image.NewNRGBA(image.Rect(0, 0, cur.Rect.Dx(), h))
		parallelRows(h, cur.Rect.Dx()*vk, func(y0, y1 int) {
			pilVertical(out, cur, y0, y1, vk, vbounds, vkk, nch)
		})
		cur = out
	}
	return cur
}

// pilHorizontal is ImagingResampleHorizontal_8bpc for output rows y0..y1,
// reading input row y+off.
func pilHorizontal(dst, src *image.NRGBA, off, y0, y1, ksize int, bounds []int, kk []int32, nch int) {
	const half = 1 << (pilPrecision - 1)
	w := dst.Rect.Dx()
	for y := y0; y < y1; y++ {
		in := src.Pix[(y+off)*src.Stride:]
		out := dst.Pix[y*dst.Stride : y*dst.Stride+4*w]
		for xx := 0; xx < w; xx++ {
			xmin, n := bounds[2*xx], bounds[2*xx+1]
			k := kk[xx*ksize : xx*ksize+n]
			p := in[4*xmin : 4*(xmin+n)]
			var s0, s1, s2, s3 int32 = half, half, half, half
			for x, c := range k {
				q := p[4*x : 4*x+4 : 4*x+4]
				s0 += int32(q[0]) * c
				s1 += int32(q[1]) * c
				s2 += int32(q[2]) * c
				s3 += int32(q[3]) * c
			}
			d := out[4*xx : 4*xx+4 : 4*xx+4]
			d[0], d[1], d[2], d[3] = clip8(s0), clip8(s1), clip8(s2), 255
			if nch == 4 {
				d[3] = clip8(s3)
			}
		}
	}
}

// pilVertical is ImagingResampleVertical_8bpc for output rows y0..y1. It
// sums row by row into a buffer rather than column by column; integer sums
// are the same in any order.
func pilVertical(dst, src *image.NRGBA, y0, y1, ksize int, bounds []int, kk []int32, nch int) {
	const half = 1 << (pilPrecision - 1)
	n := 4 * dst.Rect.Dx()
	acc := make([]int32, n)
	for yy := y0; yy < y1; yy++ {
		ymin, cnt := bounds[2*yy], bounds[2*yy+1]
		for i := range acc {
			acc[i] = half
		}
		// Two input rows a pass: half the loads and stores of acc. int32
		// sums wrap the same in any order, so this is Pillow's result.
		ks := kk[yy*ksize : yy*ksize+cnt]
		y := 0
		for ; y+1 < len(ks); y += 2 {
			c0, c1 := ks[y], ks[y+1]
			r0 := src.Pix[(ymin+y)*src.Stride : (ymin+y)*src.Stride+n]
			r1 := src.Pix[(ymin+y+1)*src.Stride : (ymin+y+1)*src.Stride+n]
			a := acc[:len(r0)]
			r1 = r1[:len(r0)]
			for i, v := range r0 {
				a[i] += int32(v)*c0 + int32(r1[i])*c1
			}
		}
		if y < len(ks) {
			c := ks[y]
			row := src.Pix[(ymin+y)*src.Stride : (ymin+y)*src.Stride+n]
			a := acc[:len(row)]
			for i, v := range row {
				a[i] += int32(v) * c
			}
		}
		out := dst.Pix[yy*dst.Stride : yy*dst.Stride+n]
		for i := 0; i < n; i += 4 {
			out[i], out[i+1], out[i+2], out[i+3] = clip8(acc[i]), clip8(acc[i+1]), clip8(acc[i+2]), 255
			if nch == 4 {
				out[i+3] = clip8(acc[i+3])
			}
		}
	}
}

// pilNearest is PIL's NEAREST resize: ImagingScaleAffine with the
// sampling position stepped by repeated addition from half a step in.
func pilNearest(img *image.NRGBA, w, h int) *image.NRGBA {
	inW, inH := img.Rect.Dx(), img.Rect.Dy()
	coord := func(v float64, n int) int {
		if v < 0 {
			return 0
		}
		return min(int(v), n-1)
	}
	ax, ay := float64(inW)/float64(w), float64(inH)/float64(h)
	xin := make([]int, w)
	xo := float64(ax * 0.5)
	for x := range xin {
		xin[x] = coord(xo, inW)
		xo += ax
	}
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	yo := float64(ay * 0.5)
	for y := 0; y < h; y++ {
		in := img.Pix[coord(yo, inH)*img.Stride:]
		d := out.Pix[y*out.Stride : y*out.Stride+4*w]
		for x, sx := range xin {
			copy(d[4*x:4*x+4], in[4*sx:4*sx+4])
		}
		yo += ay
	}
	return out
}

// parallelRows splits rows 0..n among goroutines when the work (rows ×
// cost a row) is worth it, calling f on disjoint ranges.
func parallelRows(n, rowCost int, f func(y0, y1 int)) {
	workers := min(runtime.GOMAXPROCS(0), n, max(n*rowCost/(1<<18), 1))
	if workers <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		y0, y1 := n*i/workers, n*(i+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(y0, y1)
		}()
	}
	wg.Wait()
}
