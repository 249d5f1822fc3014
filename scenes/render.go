package scenes

import (
	"image"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
)

// Supersampling of the shape masks: each pixel is sampled on an
// ssSide×ssSide lattice of sub-pixel centres.
const (
	ssSide    = 4
	ssSamples = ssSide * ssSide
)

// noiseStream is the PCG stream of the noise field (seeded with Scene.Seed).
const noiseStream = 0x6e6f697365 // "noise"

// Shape indices into Shapes.
const (
	shapeCircle = iota
	shapeSquare
	shapeTriangle
	shapeCross
)

// shapeIndex returns the index of a shape name in Shapes, or -1.
func shapeIndex(name string) int {
	for i, s := range Shapes {
		if s == name {
			return i
		}
	}
	return -1
}

// inside reports whether the offset (dx, dy) from an object's centre, with y
// pointing down, lies in the shape of half-extent h. The tests are those of
// the training renderer, boundaries included.
func inside(shape int, dx, dy, h float64) bool {
	switch shape {
	case shapeCircle:
		return dx*dx+dy*dy <= h*h
	case shapeSquare:
		return math.Abs(dx) <= h && math.Abs(dy) <= h
	case shapeTriangle: // apex at the top centre, base at the bottom
		return dy >= -h && dy <= h && math.Abs(dx) <= (dy+h)/2
	case shapeCross: // plus sign, arm half-thickness h/3
		t := h / 3
		ax, ay := math.Abs(dx), math.Abs(dy)
		return (ax <= h && ay <= t) || (ay <= h && ax <= t)
	}
	return false
}

// raster is the supersampled object layer of a scene at size×size pixels:
// for each pixel the bit set of sub-samples covered by some object and the
// per-channel sum of the colours of those sub-samples. Where objects overlap
// the later one wins, as in painting them in order.
type raster struct {
	size    int
	covered []uint16 // bit j*ssSide+i: sub-sample (i, j) is covered
	sum     []uint32 // 3 per pixel
}

// rasterise draws the scene's objects at size×size pixels (size > 0).
func (s Scene) rasterise(size int) raster {
	n := size * size
	r := raster{size: size, covered: make([]uint16, n), sum: make([]uint32, 3*n)}
	cell := float64(size) / Grid
	var offs [ssSide]float64
	for i := range offs {
		offs[i] = (float64(i) + 0.5) / ssSide
	}
	// Painter's order: draw the last object first, earlier ones only claim
	// sub-samples that are still free.
	for k := len(s.Objects) - 1; k >= 0; k-- {
		o := s.Objects[k]
		shape := shapeIndex(o.Shape)
		if shape < 0 || o.Half <= 0 {
			continue
		}
		ox, oy := o.Center()
		cx, cy, h := ox*cell, oy*cell, o.Half*cell
		x0, x1 := max(0, int(math.Floor(cx-h))), min(size-1, int(math.Floor(cx+h)))
		y0, y1 := max(0, int(math.Floor(cy-h))), min(size-1, int(math.Floor(cy+h)))
		rgb := [3]uint32{uint32(o.RGB[0]), uint32(o.RGB[1]), uint32(o.RGB[2])}
		for py := y0; py <= y1; py++ {
			for px := x0; px <= x1; px++ {
				var m uint16
				for j, fy := range offs {
					dy := float64(py) + fy - cy
					for i, fx := range offs {
						if inside(shape, float64(px)+fx-cx, dy, h) {
							m |= 1 << (j*ssSide + i)
						}
					}
				}
				p := py*size + px
				m &^= r.covered[p]
				if m == 0 {
					continue
				}
				r.covered[p] |= m
				c := uint32(bits.OnesCount16(m))
				r.sum[3*p] += c * rgb[0]
				r.sum[3*p+1] += c * rgb[1]
				r.sum[3*p+2] += c * rgb[2]
			}
		}
	}
	return r
}

// Render draws the scene as a size×size opaque image: the background, the
// objects antialiased by 4×4 supersampling of their masks, then Gaussian
// pixel noise of standard deviation Noise drawn from a PCG stream seeded with
// Seed. The result is deterministic. A size below 1 gives an empty image.
func (s Scene) Render(size int) *image.NRGBA {
	if size < 1 {
		return image.NewNRGBA(image.Rect(0, 0, 0, 0))
	}
	return s.compose(s.rasterise(size))
}

// Blank draws the scene without its objects: the background with the same
// noise field as Render, so Render and Blank differ only at pixels that
// objects cover. A size below 1 gives an empty image.
func (s Scene) Blank(size int) *image.NRGBA {
	if size < 1 {
		return image.NewNRGBA(image.Rect(0, 0, 0, 0))
	}
	n := size * size
	return s.compose(raster{size: size, covered: make([]uint16, n), sum: make([]uint32, 3*n)})
}

// compose blends the object layer over the background and adds the noise.
func (s Scene) compose(r raster) *image.NRGBA {
	size := r.size
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	rng := rand.New(rand.NewPCG(s.Seed, noiseStream))
	bg := [3]float64{float64(s.Background[0]), float64(s.Background[1]), float64(s.Background[2])}
	std := s.Noise
	for y := range size {
		row := img.Pix[y*img.Stride : y*img.Stride+4*size]
		for x := range size {
			p := y*size + x
			px := row[4*x : 4*x+4 : 4*x+4]
			v := bg
			if m := r.covered[p]; m != 0 {
				free := float64(ssSamples - bits.OnesCount16(m))
				sum := r.sum[3*p : 3*p+3 : 3*p+3]
				for c := range 3 {
					v[c] = (float64(sum[c]) + free*bg[c]) / ssSamples
				}
			}
			for c := range 3 {
				if std > 0 {
					v[c] += std * rng.NormFloat64()
				}
				px[c] = uint8(min(max(v[c], 0), 255) + 0.5)
			}
			px[3] = 255
		}
	}
	return img
}

// Coverage returns, for a grid×grid lattice of square patches over the image
// in row-major order, the fraction of each patch covered by objects, summed
// over the objects (objects never overlap, so it is at most 1). It is
// computed analytically from the continuous shapes, independent of any
// rendering size, and serves as the oracle score of a patch token. A grid
// below 1 gives nil.
func (s Scene) Coverage(grid int) []float64 {
	if grid < 1 {
		return nil
	}
	cov := make([]float64, grid*grid)
	ps := float64(Grid) / float64(grid) // patch side in cell units
	for _, o := range s.Objects {
		shape := shapeIndex(o.Shape)
		if shape < 0 || o.Half <= 0 {
			continue
		}
		cx, cy := o.Center()
		h := o.Half
		i0, i1 := patchRange(cx-h, cx+h, ps, grid)
		j0, j1 := patchRange(cy-h, cy+h, ps, grid)
		for j := j0; j <= j1; j++ {
			for i := i0; i <= i1; i++ {
				a := shapeRectArea(shape, h,
					float64(i)*ps-cx, float64(i+1)*ps-cx,
					float64(j)*ps-cy, float64(j+1)*ps-cy)
				cov[j*grid+i] += a / (ps * ps)
			}
		}
	}
	return cov
}

// patchRange returns the range of patch indices that [lo, hi] touches.
func patchRange(lo, hi, ps float64, grid int) (int, int) {
	a := int(math.Floor(lo / ps))
	b := int(math.Floor(hi / ps))
	return min(max(a, 0), grid-1), min(max(b, 0), grid-1)
}

// shapeArea returns the area of a shape of half-extent h.
func shapeArea(name string, h float64) float64 {
	switch shapeIndex(name) {
	case shapeCircle:
		return math.Pi * h * h
	case shapeSquare:
		return 4 * h * h
	case shapeTriangle:
		return 2 * h * h
	case shapeCross:
		return 20 * h * h / 9
	}
	return 0
}

// shapeRectArea returns the exact area of the intersection of a shape of
// half-extent h centred at the origin with the rectangle [x0,x1]×[y0,y1].
func shapeRectArea(shape int, h, x0, x1, y0, y1 float64) float64 {
	switch shape {
	case shapeCircle:
		return circleRectArea(h, x0, x1, y0, y1)
	case shapeSquare:
		return rectOverlap(-h, h, -h, h, x0, x1, y0, y1)
	case shapeTriangle:
		poly := []point{{0, -h}, {h, h}, {-h, h}}
		return polygonArea(clipRect(poly, x0, x1, y0, y1))
	case shapeCross:
		t := h / 3
		return rectOverlap(-h, h, -t, t, x0, x1, y0, y1) +
			rectOverlap(-t, t, -h, h, x0, x1, y0, y1) -
			rectOverlap(-t, t, -t, t, x0, x1, y0, y1)
	}
	return 0
}

// rectOverlap returns the area of the intersection of two rectangles.
func rectOverlap(ax0, ax1, ay0, ay1, bx0, bx1, by0, by1 float64) float64 {
	w := min(ax1, bx1) - max(ax0, bx0)
	hh := min(ay1, by1) - max(ay0, by0)
	if w <= 0 || hh <= 0 {
		return 0
	}
	return w * hh
}

// circleRectArea returns the area of the intersection of the disc of radius
// r centred at the origin with the rectangle [x0,x1]×[y0,y1], integrating the
// covered height over x exactly between the points where it changes form.
func circleRectArea(r, x0, x1, y0, y1 float64) float64 {
	a, b := max(x0, -r), min(x1, r)
	if a >= b || y0 >= y1 {
		return 0
	}
	pts := []float64{a}
	for _, yv := range []float64{y0, y1} {
		if math.Abs(yv) < r {
			xb := math.Sqrt(r*r - yv*yv)
			for _, x := range []float64{-xb, xb} {
				if x > a && x < b {
					pts = append(pts, x)
				}
			}
		}
	}
	pts = append(pts, b)
	slices.Sort(pts)
	// S is an antiderivative of the disc's half-height sqrt(r²-x²).
	S := func(x float64) float64 {
		u := min(max(x/r, -1), 1)
		return (x*math.Sqrt(max(r*r-x*x, 0)) + r*r*math.Asin(u)) / 2
	}
	area := 0.0
	for k := 0; k+1 < len(pts); k++ {
		u, v := pts[k], pts[k+1]
		if v <= u {
			continue
		}
		m := (u + v) / 2
		s := math.Sqrt(max(r*r-m*m, 0))
		if min(y1, s) <= max(y0, -s) {
			continue // the strip misses the disc
		}
		// Integral of the top edge minus that of the bottom edge.
		if s <= y1 {
			area += S(v) - S(u)
		} else {
			area += y1 * (v - u)
		}
		if -s >= y0 {
			area += S(v) - S(u)
		} else {
			area -= y0 * (v - u)
		}
	}
	return area
}

// point is a 2-D point.
type point struct{ x, y float64 }

// clipRect clips a convex polygon to the rectangle [x0,x1]×[y0,y1]
// (Sutherland–Hodgman).
func clipRect(poly []point, x0, x1, y0, y1 float64) []point {
	edges := []struct {
		in    func(point) bool
		cross func(p, q point) point
	}{
		{func(p point) bool { return p.x >= x0 }, func(p, q point) point { return atX(p, q, x0) }},
		{func(p point) bool { return p.x <= x1 }, func(p, q point) point { return atX(p, q, x1) }},
		{func(p point) bool { return p.y >= y0 }, func(p, q point) point { return atY(p, q, y0) }},
		{func(p point) bool { return p.y <= y1 }, func(p, q point) point { return atY(p, q, y1) }},
	}
	for _, e := range edges {
		if len(poly) == 0 {
			return nil
		}
		out := make([]point, 0, len(poly)+2)
		prev := poly[len(poly)-1]
		for _, cur := range poly {
			switch cin, pin := e.in(cur), e.in(prev); {
			case cin && pin:
				out = append(out, cur)
			case cin:
				out = append(out, e.cross(prev, cur), cur)
			case pin:
				out = append(out, e.cross(prev, cur))
			}
			prev = cur
		}
		poly = out
	}
	return poly
}

// atX returns the point of segment pq at abscissa x.
func atX(p, q point, x float64) point {
	t := (x - p.x) / (q.x - p.x)
	return point{x, p.y + t*(q.y-p.y)}
}

// atY returns the point of segment pq at ordinate y.
func atY(p, q point, y float64) point {
	t := (y - p.y) / (q.y - p.y)
	return point{p.x + t*(q.x-p.x), y}
}

// polygonArea returns the area of a simple polygon (shoelace formula).
func polygonArea(poly []point) float64 {
	a := 0.0
	for i, p := range poly {
		q := poly[(i+1)%len(poly)]
		a += p.x*q.y - q.x*p.y
	}
	return math.Abs(a) / 2
}
