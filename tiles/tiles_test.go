package tiles

import (
	"math/rand/v2"
	"testing"
)

const c, h, w = 3, 32, 32

// batch builds n tiles; fill(i, ch, y, x) gives each value.
func batch(n int, fill func(i, ch, y, x int) float32) []float32 {
	out := make([]float32, 0, n*c*h*w)
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					out = append(out, fill(i, ch, y, x))
				}
			}
		}
	}
	return out
}

func noise(r *rand.Rand) float32 { return float32(r.NormFloat64()) * 0.5 }

func TestSelect(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tex := batch(1, func(_, _, _, _ int) float32 { return noise(r) })
	per := c * h * w
	cases := []struct {
		name string
		fill func(i, ch, y, x int) float32
		o    Options
		want []Reason
	}{
		{"flat tiles skipped, global kept", func(i, ch, y, x int) float32 { return 0.3 }, Default(),
			[]Reason{Uniform, Uniform, Uniform, Kept}},
		{"textured: nothing skipped", func(i, ch, y, x int) float32 { return noise(r) }, Default(),
			[]Reason{Kept, Kept, Kept, Kept}},
		{"small jitter is uniform", func(i, ch, y, x int) float32 { return -0.5 + 0.05*float32((x+y)%2) }, Default(),
			[]Reason{Uniform, Uniform, Uniform, Kept}},
		{"a 4×4 object keeps its tile", func(i, ch, y, x int) float32 {
			if i == 1 && x >= 10 && x < 14 && y >= 3 && y < 7 {
				return 1
			}
			return 0
		}, Options{Uniform: true, MaxOutlierFrac: -1}, []Reason{Uniform, Kept, Uniform, Kept}},
		{"a gradient is not uniform", func(i, ch, y, x int) float32 { return float32(x)/float32(w) + float32(i) }, Default(),
			[]Reason{Kept, Kept, Kept, Kept}},
		{"exact duplicate of an earlier tile", func(i, ch, y, x int) float32 {
			if i == 2 {
				i = 0
			}
			return tex[ch*h*w+y*w+x] + float32(i)
		}, Default(), []Reason{Kept, Kept, Duplicate, Kept}},
		{"near duplicate within delta", func(i, ch, y, x int) float32 {
			v := tex[ch*h*w+y*w+x]
			if i == 1 {
				v += 0.03
			}
			if i == 2 {
				v = -v
			}
			return v
		}, Default(), []Reason{Kept, Duplicate, Kept, Kept}},
		{"duplicates off", func(i, ch, y, x int) float32 { return tex[ch*h*w+y*w+x] }, Options{Uniform: true},
			[]Reason{Kept, Kept, Kept, Kept}},
		{"off skips nothing", func(i, ch, y, x int) float32 { return 0 }, Options{},
			[]Reason{Kept, Kept, Kept, Kept}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := batch(4, tc.fill)
			d, err := Select(data, Shape{Tiles: 4, Grid: 3, C: c, H: h, W: w}, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tc.want {
				if d.Reason[i] != want || d.Keep[i] != (want == Kept) {
					t.Fatalf("tile %d: %q keep %v, want %q", i, d.Reason[i], d.Keep[i], want)
				}
			}
			kept, err := Compact(data, Shape{Tiles: 4, Grid: 3, C: c, H: h, W: w}, d.Keep)
			if err != nil {
				t.Fatal(err)
			}
			if len(kept) != (4-d.Skipped())*per {
				t.Fatalf("compact kept %d values, want %d tiles", len(kept), 4-d.Skipped())
			}
			j := 0
			for i, k := range d.Keep {
				if !k {
					continue
				}
				if kept[j*per] != data[i*per] || kept[(j+1)*per-1] != data[(i+1)*per-1] {
					t.Fatalf("kept tile %d is not tile %d", j, i)
				}
				j++
			}
		})
	}
}

func TestOutlierBudget(t *testing.T) {
	// 1024 pixels; 1e-4 allows none, 0.01 allows 10.
	data := make([]float32, c*h*w)
	for p := 0; p < 10; p++ {
		data[p] = 1 // channel 0 of 10 pixels
		data[h*w+p] = 1
	}
	if NearUniform(data, c, 0.06, Options{}.maxOutliers(h*w)) {
		t.Fatal("10 off pixels of 1024 pass the default budget")
	}
	if !NearUniform(data, c, 0.06, Options{MaxOutlierFrac: 0.01}.maxOutliers(h*w)) {
		t.Fatal("10 off pixels (two channels each, counted once) fail a budget of 10")
	}
}

func TestErrors(t *testing.T) {
	if _, err := Select(make([]float32, 10), Shape{Tiles: 1, Grid: 1, C: c, H: h, W: w}, Default()); err == nil {
		t.Fatal("wrong length accepted")
	}
	if _, err := Select(make([]float32, c*h*w), Shape{Tiles: 1, Grid: 2, C: c, H: h, W: w}, Default()); err == nil {
		t.Fatal("grid larger than the batch accepted")
	}
	if _, err := Compact(make([]float32, c*h*w), Shape{Tiles: 1, C: c, H: h, W: w}, []bool{true, false}); err == nil {
		t.Fatal("wrong flag count accepted")
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Options{
		"": {}, "off": {}, "on": Default(), "all": Default(), "uniform": {Uniform: true},
		"duplicates": {Duplicates: true}, "uniform, duplicates": Default(),
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, _ := Parse(got.String()); back != got {
			t.Errorf("String round trip of %+v gave %+v", got, back)
		}
	}
	if _, err := Parse("median"); err == nil {
		t.Error("unknown rule accepted")
	}
}
