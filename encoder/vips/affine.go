package vips

import (
	"fmt"
	"math"
	"sync"
)

// Fixed-point constants (vips/interpolate.h).
const (
	transformScale   = 1 << 6                  // VIPS_TRANSFORM_SCALE: table positions per pixel
	interpolateShift = 12                      // VIPS_INTERPOLATE_SHIFT
	interpolateScale = 1 << 12                 // VIPS_INTERPOLATE_SCALE
	dblMin           = 2.2250738585072014e-308 // DBL_MIN
)

// window returns an interpolator's window size and offset
// (vips_interpolate_get_window_size / _offset).
func (i Interpolator) window() (size, offset int) {
	switch i {
	case Bilinear:
		return 2, 0
	case Bicubic:
		return 4, 1
	}
	return 1, 0
}

// catmull is calculate_coefficients_catmull (resample/templates.h), with
// each product rounded as the C code rounds it.
func catmull(x float64) [4]float64 {
	cr1 := 1 - x
	cr2 := float64(-.5 * x)
	cr3 := float64(cr1 * cr2)
	cone := float64(cr1 * cr3)
	cfou := float64(x * cr3)
	cr4 := cfou - cone
	ctwo := cr1 - cone + cr4
	cthr := x - cfou - cr4
	return [4]float64{cone, ctwo, cthr, cfou}
}

// bicubicTable is vips_bicubic_matrixi: Catmull-Rom weights at 1/64 pixel
// steps, truncated to 12-bit fixed point.
var bicubicTable = sync.OnceValue(func() (t [transformScale + 1][4]int32) {
	for x := range t {
		c := catmull(float64(float32(x) / transformScale))
		for i := range c {
			t[x][i] = int32(c[i] * interpolateScale)
		}
	}
	return t
})

// affineArgs are vips_affine's optional arguments that vlmrun uses.
type affineArgs struct {
	idx, idy float64 // input displacement
	extend   extend
}

// affine is vips_affine with a scale matrix [a, 0, 0, d].
type affine struct {
	in                 op // the embedded input (space 2)
	bands              int
	interp             Interpolator
	ws, wo             int
	ia, ib, ic, id     float64
	idx, idy, odx, ody float64
	iarea, oarea       rect
	dh                 demand
	table              *[transformScale + 1][4]int32
}

func newAffine(in op, bands int, a, d float64, interp Interpolator, args affineArgs) (op, error) {
	b, c := 0.0, 0.0
	iw, ih := in.size()
	f := &affine{bands: bands, interp: interp, iarea: rect{0, 0, iw, ih}}
	f.ws, f.wo = interp.window()
	// vips__transform_calc_inverse.
	det := float64(a*d) - float64(b*c)
	if math.Abs(det) < 2*dblMin {
		return nil, fmt.Errorf("vips: affine: singular or near-singular matrix")
	}
	tmp := 1.0 / det
	f.ia, f.ib, f.ic, f.id = tmp*d, -tmp*b, -tmp*c, tmp*a
	// vips__transform_set_area: the transformed input corners, before the
	// displacements are set.
	f.oarea = transformRect(rect{0, 0, iw, ih}, func(x, y float64) (float64, float64) {
		return float64(a*x) + float64(b*y), float64(c*x) + float64(d*y)
	})
	f.idx, f.idy = args.idx, args.idy
	if f.oarea.width <= 0 || f.oarea.height <= 0 {
		return nil, fmt.Errorf("%w: affine output %d×%d", ErrSize, f.oarea.width, f.oarea.height)
	}
	// "output coordinates out of range".
	const edge = math.MaxInt32 / transformScale
	if f.oarea.left < -edge || f.oarea.top < -edge ||
		f.oarea.left+f.oarea.width > edge || f.oarea.top+f.oarea.height > edge {
		return nil, fmt.Errorf("%w: affine output %d×%d out of range", ErrSize, f.oarea.width, f.oarea.height)
	}
	if err := checkSize("output", f.oarea.width, f.oarea.height); err != nil {
		return nil, err
	}
	// The input with the stencil and one more pixel around it; the
	// displacement compensates the extra pixel.
	f.in = newEmbed(in, bands, f.wo+1, f.wo+1, iw+f.ws-1+2, ih+f.ws-1+2, args.extend)
	f.idx--
	f.idy--
	f.dh = min(fatStrip, f.in.hint()) // a pure scale: FATSTRIP
	if interp == Bicubic {
		t := bicubicTable()
		f.table = &t
	}
	return f, nil
}

// transformRect is transform_rect (resample/transform.c): the rounded
// bounding box of r's corners under point.
func transformRect(r rect, point func(x, y float64) (float64, float64)) rect {
	x1, y1 := point(float64(r.left), float64(r.top))
	x3, y3 := point(float64(r.left), float64(r.bottom()))
	x2, y2 := point(float64(r.right()), float64(r.top))
	x4, y4 := point(float64(r.right()), float64(r.bottom()))
	left := min(x1, min(x2, min(x3, x4)))
	right := max(x1, max(x2, max(x3, x4)))
	top := min(y1, min(y2, min(y3, y4)))
	bottom := max(y1, max(y2, max(y3, y4)))
	return rect{roundInt(left), roundInt(top), roundInt(right - left), roundInt(bottom - top)}
}

// roundInt is VIPS_ROUND_INT.
func roundInt(v float64) int {
	if v > 0 {
		return int(v + 0.5)
	}
	return int(v - 0.5)
}

func (f *affine) size() (int, int) { return f.oarea.width, f.oarea.height }
func (f *affine) hint() demand     { return f.dh }

// gen is vips_affine_gen.
func (f *affine) gen(r rect) (*buf, error) {
	bands := f.bands
	out := newBuf(r, bands)
	want := rect{r.left + f.oarea.left, r.top + f.oarea.top, r.width, r.height}
	// vips__transform_invert_rect, then the margins for rounding and for
	// the stencil.
	need := transformRect(want, func(x, y float64) (float64, float64) {
		x -= f.odx
		y -= f.ody
		return float64(f.ia*x) + float64(f.ib*y) - f.idx, float64(f.ic*x) + float64(f.id*y) - f.idy
	}).margin(1)
	need.width += f.ws - 1
	need.height += f.ws - 1
	ew, eh := f.in.size()
	clipped := need.intersect(rect{0, 0, ew, eh})
	if clipped.empty() {
		return out, nil // all background (black)
	}
	in, err := f.in.gen(clipped)
	if err != nil {
		return nil, err
	}
	wo := float64(f.wo)
	ile, ito := f.iarea.left+f.wo, f.iarea.top+f.wo
	iri, ibo := ile+f.iarea.width, ito+f.iarea.height
	// The stencil's top-left may range over these and stay in the buffer.
	minX, maxX := in.r.left, in.r.right()-f.ws
	minY, maxY := in.r.top, in.r.bottom()-f.ws
	for y := r.top; y < r.bottom(); y++ {
		ox := float64(r.left+f.oarea.left) - f.odx
		oy := float64(y+f.oarea.top) - f.ody
		ix := float64(f.ia*ox) + float64(f.ib*oy)
		iy := float64(f.ic*ox) + float64(f.id*oy)
		ix -= f.idx
		iy -= f.idy
		ix += wo
		iy += wo
		q := out.pix[out.off(r.left, y, bands):]
		for x := 0; x < r.width; x++ {
			fx, fy := int(math.Floor(ix)), int(math.Floor(iy))
			if fx >= ile && fx <= iri && fy >= ito && fy <= ibo {
				sx, sy := int(ix)-f.wo, int(iy)-f.wo
				if sx < minX || sx > maxX || sy < minY || sy > maxY {
					return nil, fmt.Errorf("vips: internal: affine stencil at (%d, %d) outside %v", sx, sy, in.r)
				}
				f.interpolate(q[x*bands:x*bands+bands], in, ix, iy)
			}
			ix += f.ia
			iy += f.ic
		}
	}
	return out, nil
}

// interpolate writes the interpolated pixel at (x, y) (space 2, within
// the stencil's reach of in) to q.
func (f *affine) interpolate(q []uint8, in *buf, x, y float64) {
	bands := len(q)
	switch f.interp {
	case Nearest:
		copy(q, in.pix[in.off(int(x), int(y), bands):])
	case Bilinear:
		ix, iy := int(x), int(y)
		X := int32((x - float64(ix)) * interpolateScale)
		Y := int32((y - float64(iy)) * interpolateScale)
		Yd := interpolateScale - Y
		c4 := (Y * X) >> interpolateShift
		c2 := (Yd * X) >> interpolateShift
		c3 := Y - c4
		c1 := Yd - c2
		p1 := in.off(ix, iy, bands)
		p3 := p1 + in.stride
		for z := 0; z < bands; z++ {
			v := c1*int32(in.pix[p1+z]) + c2*int32(in.pix[p1+bands+z]) +
				c3*int32(in.pix[p3+z]) + c4*int32(in.pix[p3+bands+z])
			q[z] = uint8((v + interpolateScale/2) >> interpolateShift)
		}
	case Bicubic:
		tx := ((int(x*transformScale*2) & (transformScale*2 - 1)) + 1) >> 1
		ty := ((int(y*transformScale*2) & (transformScale*2 - 1)) + 1) >> 1
		cx, cy := &f.table[tx], &f.table[ty]
		p := in.off(int(x)-1, int(y)-1, bands)
		for z := 0; z < bands; z++ {
			var r [4]int32
			row := p + z
			for j := range r {
				s := cx[0]*int32(in.pix[row]) + cx[1]*int32(in.pix[row+bands]) +
					cx[2]*int32(in.pix[row+2*bands]) + cx[3]*int32(in.pix[row+3*bands])
				r[j] = (s + interpolateScale/2) >> interpolateShift
				row += in.stride
			}
			v := (cy[0]*r[0] + cy[1]*r[1] + cy[2]*r[2] + cy[3]*r[3] + interpolateScale/2) >> interpolateShift
			q[z] = uint8(min(max(v, 0), 255))
		}
	}
}
