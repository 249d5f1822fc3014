package llavaonevision

import (
	"math"
	"slices"
	"testing"
)

// pinpoints returns llava-hf's image_grid_pinpoints for crops of size px:
// (a·size, b·size) for a, b in 1..6, height first, in the published order.
func pinpoints(size int) []Resolution {
	var pins []Resolution
	for a := 1; a <= 6; a++ {
		for b := 1; b <= 6; b++ {
			pins = append(pins, Resolution{a * size, b * size})
		}
	}
	return pins
}

// Token counts of one image alone in a prompt at the real model's sizes
// (384 px crops, 27×27 tokens, the published pinpoints, anyres_max_9).
// The rows were computed by this code and cross-checked locally against
// transformers' own select_best_resolution, get_patch_output_size and
// LlavaOnevisionProcessor._get_number_of_features (newest version, with
// round(·, 7) and vision_aspect_ratio), run with Python 3: all equal.
func TestAnyresRealSizes(t *testing.T) {
	pins := pinpoints(384)
	for _, c := range []struct {
		name           string
		h, w           int
		best           Resolution
		resizeH        int
		resizeW        int
		unpadH, unpadW int
		outH, outW     int
		tokens         int
	}{
		{"square 384", 384, 384, Resolution{384, 384}, 384, 384, 27, 27, 27, 27, 1485},
		{"square 500", 500, 500, Resolution{768, 768}, 768, 768, 54, 54, 54, 54, 3699},
		{"square 768", 768, 768, Resolution{768, 768}, 768, 768, 54, 54, 54, 54, 3699},
		{"wide 640×480", 480, 640, Resolution{768, 768}, 576, 768, 40, 54, 40, 54, 2929},
		{"tall 480×640", 640, 480, Resolution{768, 768}, 768, 576, 54, 40, 54, 40, 2943},
		{"wide 1920×1080 (pooled)", 1080, 1920, Resolution{1152, 1920}, 1080, 1920, 75, 135, 60, 108, 7269},
		{"tall 1080×1920 (pooled)", 1920, 1080, Resolution{1920, 1152}, 1920, 1080, 135, 75, 108, 60, 7317},
		{"photo 3000×4000 (pooled)", 4000, 3000, Resolution{2304, 1920}, 2304, 1728, 162, 121, 93, 70, 7332},
		{"very tall 300×2000", 2000, 300, Resolution{2304, 384}, 2304, 346, 162, 25, 162, 25, 4941},
		{"very wide 2000×300", 300, 2000, Resolution{384, 2304}, 346, 2304, 25, 162, 25, 162, 4804},
		{"tiny 14×20", 20, 14, Resolution{384, 384}, 384, 269, 27, 19, 27, 19, 1269},
		{"one pixel", 1, 1, Resolution{384, 384}, 384, 384, 27, 27, 27, 27, 1485},
	} {
		a, err := NewAnyres(c.h, c.w, 384, 27, pins, 9)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		rh, rw := PatchOutputSize(c.h, c.w, a.Best)
		if a.Best != c.best || rh != c.resizeH || rw != c.resizeW || a.UnpadH != c.unpadH || a.UnpadW != c.unpadW ||
			a.OutH != c.outH || a.OutW != c.outW || a.Tokens() != c.tokens {
			t.Errorf("%s: best %v, resize %d×%d, unpad %d×%d, out %d×%d, %d tokens; want %v, %d×%d, %d×%d, %d×%d, %d",
				c.name, a.Best, rh, rw, a.UnpadH, a.UnpadW, a.OutH, a.OutW, a.Tokens(),
				c.best, c.resizeH, c.resizeW, c.unpadH, c.unpadW, c.outH, c.outW, c.tokens)
		}
		if a.Pooled() != (c.outH != c.unpadH) {
			t.Errorf("%s: pooled %v", c.name, a.Pooled())
		}
	}
}

// select_best_resolution: the most kept pixels, then the least waste, then
// list order (derived by hand from the rule).
func TestSelectBestResolution(t *testing.T) {
	for _, c := range []struct {
		name string
		h, w int
		pins []Resolution
		want Resolution
	}{
		// 100×100 fits all three whole (effective 10,000 each); waste
		// 30,000 − 10,000 < 40,000 − 10,000: the 100×300 one.
		{"least waste", 100, 100, []Resolution{{200, 200}, {100, 300}, {300, 100}}, Resolution{100, 300}},
		// equal effective and waste: the first listed
		{"tie keeps the first", 100, 100, []Resolution{{100, 300}, {300, 100}}, Resolution{100, 300}},
		// 200×400 (h×w): 100×200 keeps 100·200 = 20,000 (scale 0.5),
		// 400×400 keeps all 80,000: more kept pixels win over waste.
		{"most kept", 200, 400, []Resolution{{100, 200}, {400, 400}}, Resolution{400, 400}},
		// 480×640 at 384 px pinpoints: 384×384 keeps 384·288 = 110,592,
		// 768×768 keeps all 307,200 and 768×1152 too, with more waste.
		{"wide photo", 480, 640, pinpoints(384)[:9], Resolution{768, 768}},
	} {
		if got := SelectBestResolution(c.h, c.w, c.pins); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// The unpadding of a wide image, by hand: 480×640 (h×w) goes to the
// 768×768 pinpoint, 2×2 crops, a 54×54 map. The image is wider (640/480 >
// 54/54), so new_h = int(round(480 · 54/640, 7)) = int(40.5) = 40, padding
// (54 − 40) // 2 = 7 rows at the top and at the bottom: rows 7..46, a
// 40×54 map, 729 + 40·54 + 40 = 2929 tokens.
func TestUnpadWide(t *testing.T) {
	a, err := NewAnyres(480, 640, 384, 27, pinpoints(384), 9)
	if err != nil {
		t.Fatal(err)
	}
	if a.Top != 7 || a.Left != 0 || a.UnpadH != 40 || a.UnpadW != 54 || a.Pooled() || a.Tokens() != 2929 {
		t.Errorf("%+v, %d tokens", a, a.Tokens())
	}
}

// Pack's order, by hand: 4×4-token crops of 56 px, one pinpoint 56×112
// (1×2 crops, a 4×8 map), a 30×112 image: wider than 4:8, new_h =
// int(round(30·8/112, 7)) = 2, padding (4 − 2) // 2 = 1: map rows 1 and 2.
// With feature value crop·100 + row·10 + column (d = 1; crop 0 is the
// base) the output is the base's 16 values, then for y = 1, 2 the 8 values
// (1 + x/4)·100 + y·10 + x%4 and the newline.
func TestPackOrder(t *testing.T) {
	a, err := NewAnyres(30, 112, 56, 4, []Resolution{{56, 112}}, 9)
	if err != nil {
		t.Fatal(err)
	}
	var feats []float32
	for crop := 0; crop < 3; crop++ {
		for r := 0; r < 4; r++ {
			for c := 0; c < 4; c++ {
				feats = append(feats, float32(crop*100+r*10+c))
			}
		}
	}
	got, err := a.Pack(feats, 1, []float32{-1})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(feats[:16])
	for y := 1; y <= 2; y++ {
		for x := 0; x < 8; x++ {
			want = append(want, float32((1+x/4)*100+y*10+x%4))
		}
		want = append(want, -1)
	}
	if !slices.Equal(got, want) || a.Tokens() != len(want) {
		t.Errorf("packed %v (%d tokens)\nwant   %v", got, a.Tokens(), want)
	}
	// Without a newline vector the newline rows are left out (the
	// prompt's fixed rows carry them): Visual() rows, the slots IsNewline
	// does not mark.
	bare, err := a.Pack(feats, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kept []float32
	for k, v := range want {
		if !a.IsNewline(k) {
			kept = append(kept, v)
		} else if v != -1 {
			t.Errorf("slot %d marked as a newline holds %v", k, v)
		}
	}
	if !slices.Equal(bare, kept) || a.Visual() != len(kept) || a.Visual() != 16+16 {
		t.Errorf("without newlines %v (%d visual)\nwant %v", bare, a.Visual(), kept)
	}
	if _, err := a.Pack(feats[:47], 1, []float32{-1}); err == nil {
		t.Error("a short feature block was packed")
	}
}

// The anyres_max_9 pooling equals bilinear interpolation (align_corners
// false) computed independently in float64 from its definition: output
// (i, j) samples the map at ((i + ½)·H/h − ½, (j + ½)·W/w − ½), clamped at
// 0, between its neighbours. A 420×420 image at the twin's sizes (70 px
// crops, 5×5 tokens) takes the 6×6 pinpoint: a 30×30 map, ratio
// sqrt(900/225) = 2, pooled to 15×15. (Locally, Pack also equalled
// transformers' pack_image_features with torch 1.13's interpolate bit for
// bit on this case and at 384 px; see TestPackPooledTorchIndex.)
func TestPackPooled(t *testing.T) {
	a, err := NewAnyres(420, 420, 70, 5, pinpoints(70), 9)
	if err != nil {
		t.Fatal(err)
	}
	if a.UnpadH != 30 || a.UnpadW != 30 || a.OutH != 15 || a.OutW != 15 || a.Tokens() != 25+225+15 {
		t.Fatalf("%+v, %d tokens", a, a.Tokens())
	}
	const d = 2
	feats := make([]float32, (1+a.Crops())*25*d)
	for i := range feats {
		feats[i] = float32(math.Sin(float64(i) * 0.37))
	}
	got, err := a.Pack(feats, d, []float32{7, 8})
	if err != nil {
		t.Fatal(err)
	}
	mapAt := func(y, x, c int) float64 { // the full 30×30 map (no unpadding here)
		crop := (y/5)*a.Cols + x/5
		return float64(feats[(25+crop*25+(y%5)*5+x%5)*d+c])
	}
	src := func(o, in, out int) (int, int, float64) {
		s := (float64(o)+0.5)*float64(in)/float64(out) - 0.5
		s = math.Max(s, 0)
		i0 := int(s)
		return i0, min(i0+1, in-1), s - float64(i0)
	}
	worst := 0.0
	for i := 0; i < 15; i++ {
		y0, y1, ly := src(i, 30, 15)
		for j := 0; j < 16; j++ {
			for c := 0; c < d; c++ {
				g := float64(got[(25+i*16+j)*d+c])
				want := float64([]float32{7, 8}[c])
				if j < 15 {
					x0, x1, lx := src(j, 30, 15)
					want = (1-ly)*((1-lx)*mapAt(y0, x0, c)+lx*mapAt(y0, x1, c)) + ly*((1-lx)*mapAt(y1, x0, c)+lx*mapAt(y1, x1, c))
				}
				worst = math.Max(worst, math.Abs(g-want))
			}
		}
	}
	if worst > 1e-6 {
		t.Errorf("pooled map differs from bilinear interpolation by %g", worst)
	}
}

// Python's numeric helpers: round(x, 7), // on ints and floats.
func TestPythonNumerics(t *testing.T) {
	for _, c := range []struct{ x, want float64 }{{40.5, 40.5}, {26.99999999, 27}, {1.23456785, 1.2345678}, {2.0000000499, 2}} {
		if got := round7(c.x); got != c.want {
			t.Errorf("round7(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	for _, c := range [][3]int{{7, 2, 3}, {-7, 2, -4}, {7, -2, -4}, {-8, 2, -4}} {
		if got := floorDiv(c[0], c[1]); got != c[2] {
			t.Errorf("%d // %d = %d, want %d", c[0], c[1], got, c[2])
		}
	}
	// 75 // (sqrt(75·135 / (9·729))) = 75 // 1.25 = 60.0 in Python
	for _, c := range [][3]float64{{75, 1.25, 60}, {135, 1.25, 108}, {7, 2, 3}, {1, 0.1, 9}} {
		if got := pyFloorDiv(c[0], c[1]); got != c[2] {
			t.Errorf("%v // %v = %v, want %v", c[0], c[1], got, c[2])
		}
	}
	if n, err := MaxPatches("anyres_max_9"); n != 9 || err != nil {
		t.Errorf("anyres_max_9: %d %v", n, err)
	}
	for _, bad := range []string{"anyres", "anyres_max_0", "max_9", ""} {
		if _, err := MaxPatches(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Pack pools with torch's source index in double (Bilinear), not float32:
// a 3000×1000 image at the real sizes takes the 2×6 pinpoint, a 54×162
// map pooled to 46×140. Along y, scale = float32(54/46) = 1.1739130020141602
// and output row 11's source index is 11.5·scale − 0.5 = 12.999999523 in
// double (rows 12 and 13, λ1 = float32(0.999999523) = 0.9999995) where a
// float32 index rounds to 13.0 (row 13 alone). With map values y − 12
// (constant along x) pooled row 11 is λ1 (1.0 under the float32 rule) and
// row 0 (index 0.0869565, rows 0 and 1) is −11.9130435. (Locally, Pack equalled transformers'
// pack_image_features with torch 1.13's interpolate bit for bit on random
// features of 1920×1080, 640×480, 1500×2000 and this image; the float32
// index differed by up to 4.3e-5.)
func TestPackPooledTorchIndex(t *testing.T) {
	a, err := NewAnyres(1000, 3000, 384, 27, pinpoints(384), 9)
	if err != nil {
		t.Fatal(err)
	}
	if a.Rows != 2 || a.Cols != 6 || a.UnpadH != 54 || a.UnpadW != 162 || a.OutH != 46 || a.OutW != 140 {
		t.Fatalf("layout %+v", a)
	}
	feats := make([]float32, (1+a.Crops())*729)
	for y := 0; y < 54; y++ {
		for x := 0; x < 162; x++ {
			crop := (y/27)*a.Cols + x/27
			feats[729+crop*729+(y%27)*27+x%27] = float32(y - 12)
		}
	}
	got, err := a.Pack(feats, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		row  int
		want float64
	}{{11, float64(float32(0.999999523162842))}, {0, 0.5*1.1739130020141602 - 0.5 - 12}} {
		for x := 0; x < a.OutW; x++ {
			g := float64(got[729+c.row*a.OutW+x])
			if math.Abs(g-c.want) > 3e-7*math.Max(1, math.Abs(c.want)) {
				t.Fatalf("pooled row %d column %d = %.9g, want %.9g", c.row, x, g, c.want)
			}
		}
	}
}
