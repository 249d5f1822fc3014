package vips

import (
	"fmt"
	"math"
)

// maxPoint is MAX_POINT (resample/presample.h), the longest kernel.
const maxPoint = 2000

// resizeGap is vips_resize's default gap: reduction keeps at least this
// factor after the integer box shrink.
const resizeGap = 2.0

// newResize builds vips_resize(hscale, vscale=vscale, kernel=k) on in.
func newResize(in op, bands int, hscale, vscale float64, k Kernel) (op, error) {
	w, h := in.size()
	hscale = max(hscale, 1.0/float64(w))
	vscale = max(vscale, 1.0/float64(h))
	cur := in
	var err error
	if vscale < 1.0 {
		if cur, err = newReduce(cur, bands, 1.0/vscale, k, resizeGap, true); err != nil {
			return nil, err
		}
	}
	if hscale < 1.0 {
		if cur, err = newReduce(cur, bands, 1.0/hscale, k, resizeGap, false); err != nil {
			return nil, err
		}
	}
	if hscale > 1.0 || vscale > 1.0 {
		interp := Bicubic
		if k == Linear {
			interp = Bilinear
		}
		a, d := hscale, vscale
		if hscale <= 1.0 {
			a = 1.0
		}
		if vscale <= 1.0 {
			d = 1.0
		}
		// Centre sampling, edges copied.
		return newAffine(cur, bands, a, d, interp, affineArgs{idx: 0.5, idy: 0.5, extend: extendCopy})
	}
	return cur, nil
}

// points is vips_reduce_get_points.
func points(k Kernel, shrink float64) int {
	var f float64
	switch k {
	case Linear:
		f = 1
	case Cubic, Mitchell, Lanczos2:
		f = 2
	case Lanczos3, MKS2013:
		f = 3
	case MKS2021:
		f = 5
	}
	return int(2*math.RoundToEven(f*shrink) + 1)
}

// filter evaluates kernel k at x (resample/templates.h), each product
// rounded as in C.
func filter(k Kernel, x float64) float64 {
	switch k {
	case Linear:
		x = math.Abs(x)
		if x < 1.0 {
			return 1.0 - x
		}
		return 0
	case Cubic:
		return cubicFilter(x, 0.0, 0.5)
	case Mitchell:
		third := 1.0
		third /= 3.0
		return cubicFilter(x, third, third)
	case Lanczos2:
		if x >= -2 && x <= 2 {
			return float64(sinc(x) * sinc(x/2))
		}
		return 0
	case Lanczos3:
		if x >= -3 && x <= 3 {
			return float64(sinc(x) * sinc(x/3))
		}
		return 0
	case MKS2013:
		x = math.Abs(x)
		switch {
		case x >= 2.5:
			return 0
		case x >= 1.5:
			return float64((x-2.5)*(x-2.5)) / -8.0
		case x >= 0.5:
			return (float64(float64(4.0*x)*x) - float64(11.0*x) + 7.0) / 4.0
		}
		return 17.0/16.0 - float64(float64(7.0*x)*x)/4.0
	case MKS2021:
		x = math.Abs(x)
		quad := func(a, b, c, d float64) float64 {
			return (float64(float64(a*x)*x) - float64(b*x) + c) / d
		}
		switch {
		case x >= 4.5:
			return 0
		case x >= 3.5:
			return quad(4.0, 36.0, 81.0, -1152.0)
		case x >= 2.5:
			return quad(4.0, 27.0, 45.0, 144.0)
		case x >= 1.5:
			return quad(24.0, 113.0, 130.0, -144.0)
		case x >= 0.5:
			return quad(140.0, 379.0, 239.0, 144.0)
		}
		return 577.0/576.0 - float64(float64(239.0*x)*x)/144.0
	}
	return 0
}

// cubicFilter is cubic_filter: the Mitchell–Netravali family.
func cubicFilter(x, B, C float64) float64 {
	ax := math.Abs(x)
	ax2 := float64(ax * ax)
	ax3 := float64(ax2 * ax)
	if ax <= 1 {
		t1 := 12 - float64(9*B) - float64(6*C)
		t2 := -18 + float64(12*B) + float64(6*C)
		t3 := 6 - float64(2*B)
		return (float64(t1*ax3) + float64(t2*ax2) + t3) / 6
	}
	if ax <= 2 {
		t1 := -B - float64(6*C)
		t2 := float64(6*B) + float64(30*C)
		t3 := float64(-12*B) - float64(48*C)
		t4 := float64(8*B) + float64(24*C)
		return (float64(t1*ax3) + float64(t2*ax2) + float64(t3*ax) + t4) / 6
	}
	return 0
}

// sinc is sinc_filter.
func sinc(x float64) float64 {
	if x == 0.0 {
		return 1.0
	}
	x = x * math.Pi
	return math.Sin(x) / x
}

// masks is the reducers' table (matrixs): for each of the 65 positions in
// 1/64 pixel, calculate_coefficients normalised to sum 1 and truncated to
// 12-bit fixed point.
func masks(k Kernel, n int, shrink float64) [][]int16 {
	t := make([][]int16, transformScale+1)
	c := make([]float64, n)
	for x := range t {
		pos := float64(float32(x) / transformScale)
		half := pos + float64(n)/2.0 - 1
		sum := 0.0
		for i := range c {
			c[i] = filter(k, (float64(i)-half)/shrink)
			sum += c[i]
		}
		t[x] = make([]int16, n)
		for i := range c {
			t[x][i] = int16(int32(c[i] / sum * interpolateScale))
		}
	}
	return t
}

// reduce is vips_reduceh (vertical false) or vips_reducev (vertical
// true): a fractional shrink by residual with the kernel's fixed-point
// table, on the input embedded with copied edges.
type reduce struct {
	in       op
	bands    int
	vertical bool
	w, h     int
	n        int
	residual float64
	offset   float64 // hoffset / voffset
	table    [][]int16
	dh       demand
}

// newReduce builds vips_reduceh / vips_reducev with the given gap: an
// integer box shrink of the input first when the factor leaves at least
// gap, then the residual reduction (none when it is exactly 1).
func newReduce(in op, bands int, shrink float64, k Kernel, gap float64, vertical bool) (op, error) {
	if shrink < 1.0 {
		return nil, fmt.Errorf("vips: reduce factor %g should be >= 1.0", shrink)
	}
	w, h := in.size()
	insize := w
	if vertical {
		insize = h
	}
	outsize := int(float64(insize)/shrink + 0.5)
	if outsize <= 0 {
		return nil, fmt.Errorf("%w: image has shrunk to nothing", ErrSize)
	}
	extra := float64(float64(outsize)*shrink) - float64(insize)
	residual := shrink
	if gap > 0.0 {
		intShrink := max(1, int(math.Floor(float64(insize)/float64(outsize)/gap)))
		if intShrink > 1 {
			in = newShrink(in, bands, intShrink, vertical)
			residual /= float64(intShrink)
			extra /= float64(intShrink)
		}
	}
	if residual == 1.0 {
		return in, nil
	}
	r := &reduce{bands: bands, vertical: vertical, residual: residual}
	r.n = points(k, residual)
	if r.n > maxPoint {
		return nil, fmt.Errorf("%w: reduce factor %g too large", ErrSize, shrink)
	}
	r.offset = (1+extra)/2.0 - 1
	r.table = masks(k, r.n, residual)
	w, h = in.size()
	pad := int(math.Ceil(float64(r.n)/2.0)) - 1
	if vertical {
		r.in = newEmbed(in, bands, 0, pad, w, h+r.n, extendCopy)
		r.w, r.h = w, outsize
	} else {
		r.in = newEmbed(in, bands, pad, 0, w+r.n, h, extendCopy)
		r.w, r.h = outsize, h
	}
	r.dh = min(fatStrip, r.in.hint())
	return r, nil
}

func (r *reduce) size() (int, int) { return r.w, r.h }
func (r *reduce) hint() demand     { return r.dh }

// gen is vips_reduceh_uchar_vector_gen / vips_reducev_uchar_vector_gen
// (the C paths compute the same sums): the position starts afresh at the
// area's left or top and steps by the residual shrink.
func (r *reduce) gen(o rect) (*buf, error) {
	bands := r.bands
	out := newBuf(o, bands)
	if r.vertical {
		s := rect{o.left, int(float64(o.top)*r.residual - r.offset), o.width, int(float64(o.height)*r.residual + float64(r.n))}
		in, err := prepare(r.in, s)
		if err != nil {
			return nil, err
		}
		ne := o.width * bands
		acc := make([]int32, ne)
		Y := float64((float64(o.top)+0.5)*r.residual) - 0.5 - r.offset
		for y := o.top; y < o.bottom(); y++ {
			py := int(Y)
			k := r.table[tablePos(Y)]
			if py < in.r.top || py+r.n > in.r.bottom() {
				return nil, fmt.Errorf("vips: internal: reducev rows %d+%d outside %v", py, r.n, in.r)
			}
			for e := range acc {
				acc[e] = interpolateScale / 2
			}
			p := in.off(o.left, py, bands)
			for i := 0; i < r.n; i++ {
				c := int32(k[i])
				row := in.pix[p : p+ne]
				acc := acc[:len(row)]
				for e, v := range row {
					acc[e] += c * int32(v)
				}
				p += in.stride
			}
			q := out.pix[out.off(o.left, y, bands) : out.off(o.left, y, bands)+ne]
			for e, v := range acc {
				q[e] = clip8(v >> interpolateShift)
			}
			Y += r.residual
		}
		return out, nil
	}
	width := o.width
	if bands == 3 || bands == 4 {
		width++ // the vector path asks for one more output pixel's input
	}
	s := rect{int(float64(o.left)*r.residual - r.offset), o.top, int(float64(width)*r.residual + float64(r.n)), o.height}
	in, err := prepare(r.in, s)
	if err != nil {
		return nil, err
	}
	for y := o.top; y < o.bottom(); y++ {
		X := float64((float64(o.left)+0.5)*r.residual) - 0.5 - r.offset
		q := out.pix[out.off(o.left, y, bands):]
		for x := 0; x < o.width; x++ {
			ix := int(X)
			k := r.table[tablePos(X)]
			if ix < in.r.left || ix+r.n > in.r.right() {
				return nil, fmt.Errorf("vips: internal: reduceh columns %d+%d outside %v", ix, r.n, in.r)
			}
			p := in.off(ix, y, bands)
			px := in.pix[p : p+r.n*bands]
			if bands == 3 {
				s0, s1, s2 := int32(interpolateScale/2), int32(interpolateScale/2), int32(interpolateScale/2)
				for i, c := range k {
					v := px[3*i : 3*i+3]
					s0 += int32(c) * int32(v[0])
					s1 += int32(c) * int32(v[1])
					s2 += int32(c) * int32(v[2])
				}
				q[3*x], q[3*x+1], q[3*x+2] = clip8(s0>>interpolateShift), clip8(s1>>interpolateShift), clip8(s2>>interpolateShift)
			} else {
				for z := 0; z < bands; z++ {
					sum := int32(interpolateScale / 2)
					for i, c := range k {
						sum += int32(c) * int32(px[i*bands+z])
					}
					q[x*bands+z] = clip8(sum >> interpolateShift)
				}
			}
			X += r.residual
		}
	}
	return out, nil
}

// tablePos is the table index of position v: the nearest 1/64 of its
// fraction, from 0 to 64.
func tablePos(v float64) int {
	return ((int(v*transformScale*2) & (transformScale*2 - 1)) + 1) >> 1
}

func clip8(v int32) uint8 { return uint8(min(max(v, 0), 255)) }
