package scenes

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"
)

func TestRenderDeterministic(t *testing.T) {
	for i := range 10 {
		s := Generate(1000, i)
		a, b := s.Render(300), Generate(1000, i).Render(300)
		if !bytes.Equal(a.Pix, b.Pix) {
			t.Fatalf("scene %d renders differently twice", i)
		}
		if a.Bounds().Dx() != 300 || a.Bounds().Dy() != 300 {
			t.Fatalf("scene %d: bounds %v", i, a.Bounds())
		}
		if !bytes.Equal(s.Blank(300).Pix, s.Blank(300).Pix) {
			t.Fatalf("scene %d: blank renders differently twice", i)
		}
	}
	got := fmt.Sprintf("%x", sha256.Sum256(Generate(1000, 0).Render(300).Pix))
	const want = "267e4ea9ab4a8bb8214851b2e956b0ee159f629e79803732d05674e4f5b3ec02"
	if got != want {
		t.Errorf("Render(300) of scene (1000, 0): sha256 %s, want %s", got, want)
	}
}

func TestRenderEmpty(t *testing.T) {
	s := Generate(1, 1)
	for _, size := range []int{0, -3} {
		if img := s.Render(size); len(img.Pix) != 0 {
			t.Errorf("Render(%d) has %d bytes", size, len(img.Pix))
		}
		if img := s.Blank(size); len(img.Pix) != 0 {
			t.Errorf("Blank(%d) has %d bytes", size, len(img.Pix))
		}
	}
	if c := s.Coverage(0); c != nil {
		t.Errorf("Coverage(0) = %v", c)
	}
	if img := s.Render(1); len(img.Pix) != 4 || img.Pix[3] != 255 {
		t.Errorf("Render(1) = %v", img.Pix)
	}
}

// TestRenderObjects checks that Render and Blank differ only inside the
// objects' bounding boxes, and that object interiors carry the object colour.
func TestRenderObjects(t *testing.T) {
	const size = 300
	cell := float64(size) / Grid
	for i := range 40 {
		s := Generate(1000, i)
		img, blank := s.Render(size), s.Blank(size)
		for y := range size {
			for x := range size {
				p := y*img.Stride + 4*x
				if bytes.Equal(img.Pix[p:p+4], blank.Pix[p:p+4]) {
					continue
				}
				in := false
				for _, o := range s.Objects {
					cx, cy := o.Center()
					h := o.Half * cell
					if float64(x+1) > cx*cell-h && float64(x) < cx*cell+h &&
						float64(y+1) > cy*cell-h && float64(y) < cy*cell+h {
						in = true
					}
				}
				if !in {
					t.Fatalf("scene %d: pixel (%d, %d) differs from blank outside every object", i, x, y)
				}
			}
		}
		tol := 5*s.Noise + 2
		for k, o := range s.Objects {
			cx, cy := o.Center()
			x, y := int(cx*cell), int(cy*cell)
			p := y*img.Stride + 4*x
			for c := range 3 {
				if d := math.Abs(float64(img.Pix[p+c]) - float64(o.RGB[c])); d > tol {
					t.Errorf("scene %d object %d (%s): channel %d at centre = %d, want %d ± %.1f",
						i, k, o.Shape, c, img.Pix[p+c], o.RGB[c], tol)
				}
			}
		}
	}
}

// TestBlankStatistics checks the background mean and noise level.
func TestBlankStatistics(t *testing.T) {
	for i := range 20 {
		s := Generate(1000, i)
		img := s.Blank(200)
		var sum, sq [3]float64
		n := 0.0
		for p := 0; p < len(img.Pix); p += 4 {
			for c := range 3 {
				d := float64(img.Pix[p+c]) - float64(s.Background[c])
				sum[c] += d
				sq[c] += d * d
			}
			if img.Pix[p+3] != 255 {
				t.Fatalf("scene %d: alpha %d", i, img.Pix[p+3])
			}
			n++
		}
		for c := range 3 {
			if float64(s.Background[c])+3*s.Noise > 255 {
				continue // clipped at white: mean and spread shrink
			}
			mean := sum[c] / n
			std := math.Sqrt(sq[c]/n - mean*mean)
			if math.Abs(mean) > 0.2 {
				t.Errorf("scene %d channel %d: mean offset %.3f from background", i, c, mean)
			}
			// Rounding to 8 bits adds variance 1/12.
			want := math.Sqrt(s.Noise*s.Noise + 1.0/12)
			if math.Abs(std-want) > 0.05*want {
				t.Errorf("scene %d channel %d: noise std %.3f, want %.3f", i, c, std, want)
			}
		}
	}
}

// TestShapeRectArea compares the exact shape-rectangle intersection areas
// with a fine point lattice.
func TestShapeRectArea(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const steps = 600
	for shape := range Shapes {
		for trial := range 30 {
			h := 0.2 + r.Float64()
			x0, y0 := -1.5+2*r.Float64(), -1.5+2*r.Float64()
			x1, y1 := x0+0.1+1.5*r.Float64(), y0+0.1+1.5*r.Float64()
			if trial == 0 { // the whole shape
				x0, y0, x1, y1 = -2, -2, 2, 2
			}
			got := shapeRectArea(shape, h, x0, x1, y0, y1)
			dx, dy := (x1-x0)/steps, (y1-y0)/steps
			hits := 0
			for j := range steps {
				for i := range steps {
					if inside(shape, x0+(float64(i)+0.5)*dx, y0+(float64(j)+0.5)*dy, h) {
						hits++
					}
				}
			}
			want := float64(hits) * dx * dy
			if math.Abs(got-want) > 2e-3*(x1-x0)*(y1-y0)+1e-6 {
				t.Errorf("%s h=%.3f rect [%.3f,%.3f]×[%.3f,%.3f]: area %.6f, lattice %.6f",
					Shapes[shape], h, x0, x1, y0, y1, got, want)
			}
			if trial == 0 {
				if full := shapeArea(Shapes[shape], h); math.Abs(got-full) > 1e-9 {
					t.Errorf("%s h=%.3f: whole area %.9f, want %.9f", Shapes[shape], h, got, full)
				}
			}
		}
	}
}

func TestCoverage(t *testing.T) {
	for i := range 200 {
		s := Generate(1000, i)
		area := 0.0
		for _, o := range s.Objects {
			area += o.Area()
		}
		for _, grid := range []int{1, 3, 7, 8, 14} {
			cov := s.Coverage(grid)
			if len(cov) != grid*grid {
				t.Fatalf("scene %d: Coverage(%d) has %d values", i, grid, len(cov))
			}
			ps := float64(Grid) / float64(grid)
			total := 0.0
			for p, v := range cov {
				if v < 0 || v > 1+1e-9 {
					t.Fatalf("scene %d grid %d patch %d: coverage %v", i, grid, p, v)
				}
				total += v * ps * ps
				// A patch that no object's bounding box reaches is empty.
				px0, py0 := float64(p%grid)*ps, float64(p/grid)*ps
				near := false
				for _, o := range s.Objects {
					cx, cy := o.Center()
					if cx+o.Half > px0 && cx-o.Half < px0+ps && cy+o.Half > py0 && cy-o.Half < py0+ps {
						near = true
					}
				}
				if !near && v != 0 {
					t.Fatalf("scene %d grid %d patch %d: coverage %v away from every object", i, grid, p, v)
				}
			}
			if math.Abs(total-area) > 1e-9 {
				t.Fatalf("scene %d grid %d: covered area %.12f, objects' area %.12f", i, grid, total, area)
			}
		}
	}
}

// TestCoverageMatchesRender compares the analytic coverage with the
// supersampled masks the renderer draws.
func TestCoverageMatchesRender(t *testing.T) {
	const size, grid = 384, 8
	pp := size / grid
	for i := range 30 {
		s := Generate(1000, i)
		cov := s.Coverage(grid)
		r := s.rasterise(size)
		for p := range cov {
			px, py := p%grid, p/grid
			hits := 0
			for y := py * pp; y < (py+1)*pp; y++ {
				for x := px * pp; x < (px+1)*pp; x++ {
					hits += bits.OnesCount16(r.covered[y*size+x])
				}
			}
			got := float64(hits) / float64(pp*pp*ssSamples)
			if math.Abs(got-cov[p]) > 0.01 {
				t.Errorf("scene %d patch %d: rendered coverage %.4f, analytic %.4f", i, p, got, cov[p])
			}
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		Generate(1000, i)
	}
}

func BenchmarkRender300(b *testing.B) {
	s := Generate(1000, 0)
	b.ReportAllocs()
	for b.Loop() {
		s.Render(300)
	}
}

func BenchmarkRender300Scenes(b *testing.B) {
	ss := make([]Scene, 64)
	for i := range ss {
		ss[i] = Generate(1000, i)
	}
	for i := 0; b.Loop(); i++ {
		ss[i%len(ss)].Render(300)
	}
}

func BenchmarkCoverage8(b *testing.B) {
	s := Generate(1000, 0)
	for b.Loop() {
		s.Coverage(8)
	}
}
