package llavaonevision

// One bilinear resize for both of Python's OneVision poolings:
// pack_image_features' anyres_max_N shrink of an image's unpadded map and
// apply_pooling's halving of each video frame's grid. Both call
// torch.nn.functional.interpolate(mode="bilinear", align_corners=False)
// with an output size on a contiguous (C, H, W) tensor, so both run torch's
// channels-first CPU kernel; Bilinear reproduces torch 1.13's result bit for
// bit (checked locally on random maps: 27→14, 30→15, 29×30→14×15,
// 75×135→60×108, 144×108→93×70, 54×162→46×140, 5→3).

// tap is one output index of a bilinear resize along one axis: the two
// source indices and their weights.
type tap struct {
	i0, i1 int
	l0, l1 float32
}

// torchTaps are upsample_bilinear2d's source indices and weights along one
// axis (align_corners=False, an output size and no scale factor) as torch
// 1.13's CPU kernel computes them: scale = (float)in/out, the source index
// scale·(d+0.5)−0.5 in double (its accumulate type), clamped at 0, i0 its
// floor, i1 = i0+1 unless i0 is the last index, λ1 = (float)(index−i0),
// λ0 = 1−λ1 in float. (Rounding the index to float32 first, as an earlier
// anyres.go did, moves some weights by an ulp and more: up to 3.6e-6 at
// 27→14 and 4.3e-5 in the packed tokens of a 1500×2000 image.)
func torchTaps(in, out int) []tap {
	scale := float64(float32(in) / float32(out))
	t := make([]tap, out)
	for d := range t {
		src := max(scale*(float64(d)+0.5)-0.5, 0)
		i0 := int(src)
		i1 := i0
		if i0 < in-1 {
			i1 = i0 + 1
		}
		l1 := float32(src - float64(i0))
		t[d] = tap{i0: i0, i1: i1, l0: 1 - l1, l1: l1}
	}
	return t
}

// fma32 is a·b+c rounded once to float32 (the product is exact in float64).
func fma32(a, b, c float32) float32 { return float32(float64(a)*float64(b) + float64(c)) }

// Bilinear appends to out the inH×inW map that at(y, x) reads (each row d
// values) resized to outH×outW, rows in raster order, each value as torch
// 1.13's CPU kernel gives it, whose build fuses the multiply-adds:
// top = fma(x00, w0, x01·w1), bottom likewise, out = fma(top, h0,
// bottom·h1), with torchTaps' weights.
func Bilinear(out []float32, at func(y, x int) []float32, inH, inW, outH, outW, d int) []float32 {
	th, tw := torchTaps(inH, outH), torchTaps(inW, outW)
	for _, ty := range th {
		for _, tx := range tw {
			a, b := at(ty.i0, tx.i0), at(ty.i0, tx.i1)
			c, e := at(ty.i1, tx.i0), at(ty.i1, tx.i1)
			for k := range d {
				top := fma32(a[k], tx.l0, b[k]*tx.l1)
				bot := fma32(c[k], tx.l0, e[k]*tx.l1)
				out = append(out, fma32(top, ty.l0, bot*ty.l1))
			}
		}
	}
	return out
}
