package encoder

import (
	"fmt"
	"image"
	"math"
)

// This file ports PyTorch's antialiased uint8 resize on the CPU, the path
// that torchvision's v2 resize takes for a uint8 tensor with
// InterpolationMode.BICUBIC (always) or BILINEAR (AVX2 CPUs) and
// antialias=True: aten/src/ATen/native/cpu/UpSampleKernel.cpp
// (HelperInterpBase::_compute_indices_min_size_weights_aa,
// _compute_index_ranges_int16_weights, basic_loop_aa_horizontal<uint8_t>
// and basic_loop_aa_vertical<uint8_t>, separable_upsample_generic_Nd_kernel_impl).
// Hugging Face's fast image and video processors resize this way.
//
//   - Per axis, with scale = in/out: support = (taps/2)·max(scale, 1) (taps
//     4 for bicubic, 2 for bilinear); output i reads inputs xmin .. xmin+n−1,
//     center = scale·(i+0.5), xmin = max(int(center − support + 0.5), 0),
//     n = min(int(center + support + 0.5), in) − xmin, weights
//     filter((j + xmin − center + 0.5)·min(1/scale, 1)) divided by their sum.
//     The bicubic filter is Keys' with a = −0.5 (PIL's), written as ATen
//     writes it: ((a+2)x − (a+3))x² + 1 below 1, ((ax − 5a)x + 8a)x − 4a
//     below 2.
//   - The weights become int16 with one precision per axis: the largest p <
//     22 such that int(0.5 + wmax·2^(p+1)) < 2^15 fails for p+1 (wmax the
//     largest weight of the axis); each weight is rounded half away from
//     zero after scaling by 2^p.
//   - The width is resized first (when it changes), into uint8, then the
//     height: each output is (2^(p−1) + Σ w·v) >> p clamped to 0..255.
//   - A size that does not change is a copy (torchvision returns the input).
//
// Alpha is dropped (the processors convert to RGB first): the result is
// opaque.

// torchCubic is HelperInterpCubic::aa_filter with a = −0.5.
func torchCubic(x float64) float64 {
	const a = -0.5
	x = math.Abs(x)
	if x < 1 {
		return float64(float64(float64(float64((a+2)*x)-(a+3))*x)*x) + 1
	}
	if x < 2 {
		return float64(float64(float64(float64(a*x)-5*a)*x)+8*a)*x - 4*a
	}
	return 0
}

// torchLinear is HelperInterpLinear::aa_filter.
func torchLinear(x float64) float64 {
	x = math.Abs(x)
	if x < 1 {
		return 1 - x
	}
	return 0
}

// torchAxis is one axis's taps: output i reads n[i] inputs from xmin[i],
// with int16 weights w[i*ksize:], scaled by 2^prec.
type torchAxis struct {
	xmin, n []int
	w       []int32
	ksize   int
	prec    uint
}

// torchWeights is _compute_index_ranges_int16_weights for antialias=True,
// align_corners=False and no explicit scale.
func torchWeights(in, out, taps int, filter func(float64) float64) torchAxis {
	scale := float64(in) / float64(out)
	support := float64(taps) * 0.5
	if scale >= 1 {
		support *= scale
	}
	ks := int(math.Ceil(support))*2 + 1
	invscale := 1.0
	if scale >= 1 {
		invscale = 1 / scale
	}
	ax := torchAxis{xmin: make([]int, out), n: make([]int, out), w: make([]int32, out*ks), ksize: ks}
	wf := make([]float64, out*ks)
	wmax := 0.0
	for i := 0; i < out; i++ {
		center := float64(scale * (float64(i) + 0.5))
		xmin := max(int(center-support+0.5), 0)
		n := min(int(center+support+0.5), in) - xmin
		n = max(0, min(n, ks))
		ww := wf[i*ks : i*ks+n]
		total := 0.0
		for j := range ww {
			ww[j] = filter(float64(float64(float64(j+xmin)-center)+0.5) * invscale)
			total += ww[j]
		}
		if total != 0 {
			for j := range ww {
				ww[j] /= total
				wmax = max(wmax, ww[j])
			}
		}
		ax.xmin[i], ax.n[i] = xmin, n
	}
	var p uint
	for p = 0; p < 22; p++ {
		if int(0.5+wmax*float64(int(1)<<(p+1))) >= 1<<15 {
			break
		}
	}
	ax.prec = p
	for k, v := range wf {
		v *= float64(int(1) << p)
		if v < 0 {
			ax.w[k] = int32(int16(int(-0.5 + v)))
		} else {
			ax.w[k] = int32(int16(int(0.5 + v)))
		}
	}
	return ax
}

// torchClamp is the uint8 store: the sum shifted down by prec, clamped.
func torchClamp(s int32, prec uint) uint8 {
	s >>= prec
	if s < 0 {
		return 0
	}
	if s > 255 {
		return 255
	}
	return uint8(s)
}

// ResizeTorchAA resizes img to w×h as torchvision's resize does a uint8
// RGB tensor on the CPU with antialias=True (PyTorch's int16 fixed-point
// separable pass, see above). r is ResampleBicubic or ResampleBilinear;
// ResampleLanczos is taken as bicubic, as Hugging Face's torch processors
// take it ("LANCZOS ... not yet supported for torch.Tensor. BICUBIC
// resample will be used").
func ResizeTorchAA(img *image.NRGBA, w, h int, r Resample) (*image.NRGBA, error) {
	if img == nil || img.Rect.Empty() || w <= 0 || h <= 0 {
		return nil, fmt.Errorf("encoder: torch resize of an empty image or to %d×%d", w, h)
	}
	var taps int
	var filter func(float64) float64
	switch r {
	case ResampleBicubic, ResampleLanczos:
		taps, filter = 4, torchCubic
	case ResampleBilinear:
		taps, filter = 2, torchLinear
	default:
		return nil, fmt.Errorf("encoder: torch antialiased resize supports bicubic, lanczos (as bicubic) and bilinear, not %s", r)
	}
	inW, inH := img.Rect.Dx(), img.Rect.Dy()
	cur := image.NewNRGBA(image.Rect(0, 0, inW, inH))
	for y := 0; y < inH; y++ {
		src := img.Pix[img.PixOffset(img.Rect.Min.X, img.Rect.Min.Y+y):]
		d := cur.Pix[y*cur.Stride : y*cur.Stride+4*inW]
		for x := 0; x < inW; x++ {
			d[4*x], d[4*x+1], d[4*x+2], d[4*x+3] = src[4*x], src[4*x+1], src[4*x+2], 255
		}
	}
	if w != inW {
		ax := torchWeights(inW, w, taps, filter)
		out := image.NewNRGBA(image.Rect(0, 0, w, inH))
		half := int32(1) << (ax.prec - 1)
		for y := 0; y < inH; y++ {
			in := cur.Pix[y*cur.Stride:]
			o := out.Pix[y*out.Stride:]
			for x := 0; x < w; x++ {
				s0, s1, s2 := half, half, half
				k := ax.w[x*ax.ksize : x*ax.ksize+ax.n[x]]
				for j, c := range k {
					q := in[4*(ax.xmin[x]+j):]
					s0 += int32(q[0]) * c
					s1 += int32(q[1]) * c
					s2 += int32(q[2]) * c
				}
				o[4*x], o[4*x+1], o[4*x+2], o[4*x+3] = torchClamp(s0, ax.prec), torchClamp(s1, ax.prec), torchClamp(s2, ax.prec), 255
			}
		}
		cur = out
	}
	if h != inH {
		ax := torchWeights(inH, h, taps, filter)
		cw := cur.Rect.Dx()
		out := image.NewNRGBA(image.Rect(0, 0, cw, h))
		half := int32(1) << (ax.prec - 1)
		for y := 0; y < h; y++ {
			o := out.Pix[y*out.Stride:]
			k := ax.w[y*ax.ksize : y*ax.ksize+ax.n[y]]
			for x := 0; x < cw; x++ {
				s0, s1, s2 := half, half, half
				for j, c := range k {
					q := cur.Pix[(ax.xmin[y]+j)*cur.Stride+4*x:]
					s0 += int32(q[0]) * c
					s1 += int32(q[1]) * c
					s2 += int32(q[2]) * c
				}
				o[4*x], o[4*x+1], o[4*x+2], o[4*x+3] = torchClamp(s0, ax.prec), torchClamp(s1, ax.prec), torchClamp(s2, ax.prec), 255
			}
		}
		cur = out
	}
	return cur, nil
}
