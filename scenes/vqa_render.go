package scenes

import (
	"image"
	"math"
	"math/bits"
)

// center returns the object's centre in units of the VQA cell side.
func vqaCenter(o Object) (x, y float64) {
	return float64(o.Cell%VQAGrid) + o.FX, float64(o.Cell/VQAGrid) + o.FY
}

// Render draws the frame as a size×size opaque image: background, objects
// antialiased by 4×4 supersampling, Gaussian pixel noise seeded with Seed.
func (f VQAFrame) Render(size int) *image.NRGBA {
	if size < 1 {
		return image.NewNRGBA(image.Rect(0, 0, 0, 0))
	}
	n := size * size
	r := raster{size: size, covered: make([]uint16, n), sum: make([]uint32, 3*n)}
	cell := float64(size) / VQAGrid
	var offs [ssSide]float64
	for i := range offs {
		offs[i] = (float64(i) + 0.5) / ssSide
	}
	for k := len(f.Objects) - 1; k >= 0; k-- {
		o := f.Objects[k]
		shape := shapeIndex(o.Shape)
		if shape < 0 || o.Half <= 0 {
			continue
		}
		ox, oy := vqaCenter(o)
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
	return Scene{Background: f.Background, Noise: f.Noise, Seed: f.Seed}.compose(r)
}

// Coverage returns, for a grid×grid lattice of patches in row-major order,
// the fraction of each patch covered by the listed objects (indices into
// Objects; nil means all objects), computed analytically.
func (f VQAFrame) Coverage(grid int, objs []int) []float64 {
	if grid < 1 {
		return nil
	}
	if objs == nil {
		for i := range f.Objects {
			objs = append(objs, i)
		}
	}
	cov := make([]float64, grid*grid)
	ps := float64(VQAGrid) / float64(grid)
	for _, k := range objs {
		if k < 0 || k >= len(f.Objects) {
			continue
		}
		o := f.Objects[k]
		shape := shapeIndex(o.Shape)
		if shape < 0 || o.Half <= 0 {
			continue
		}
		cx, cy := vqaCenter(o)
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
