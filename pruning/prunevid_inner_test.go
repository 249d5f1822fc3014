package pruning

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// RoPE-free scores, hand-computed: 2 query heads sharing 1 key head of
// size 2 (scale 1/√2), visual tokens 0 and 1, text rows 2 and 3. Keys
// k0=(1,0), k1=(0,1), k2=k3=(0,0). Row 2: head 0 q=(√2·ln3, 0) gives logits
// (ln3, 0, 0, 0) → softmax (3/6, 1/6, 1/6, 1/6) — over all four keys, the
// later row 3 included (no causal mask); head 1 q=(0, √2·ln4) gives
// (1, 4, 1, 1)/7. Row 3: q=0 → 1/4 everywhere. Max over heads and rows:
// token 0 max(3/6, 1/7, 1/4) = 1/2, token 1 max(1/6, 4/7, 1/4) = 4/7.
func TestRoPEFreeScoresVector(t *testing.T) {
	r2 := math.Sqrt2
	q := Matrix{Rows: 4, Cols: 4, Data: []float32{
		0, 0, 0, 0,
		0, 0, 0, 0,
		float32(r2 * math.Log(3)), 0, 0, float32(r2 * math.Log(4)),
		0, 0, 0, 0}}
	k := Matrix{Rows: 4, Cols: 2, Data: []float32{1, 0, 0, 1, 0, 0, 0, 0}}
	got, err := RoPEFreeScores(q, k, 2, 1, []int{2, 3}, []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0.5, 4.0 / 7}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-6 {
			t.Errorf("scores %v, want %v", got, want)
		}
	}
	// Grouped-query heads use key head h/(heads/kvHeads): the same as two
	// key heads holding copies of the one.
	k2 := Matrix{Rows: 4, Cols: 4}
	for r := 0; r < 4; r++ {
		k2.Data = append(k2.Data, k.Row(r)...)
		k2.Data = append(k2.Data, k.Row(r)...)
	}
	rep, err := RoPEFreeScores(q, k2, 2, 2, []int{2, 3}, []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep, got) {
		t.Errorf("repeated key heads give %v, shared %v", rep, got)
	}
	for _, c := range []struct {
		name       string
		q, k       Matrix
		heads, kv  int
		rows, cols []int
	}{
		{"no rows", q, k, 2, 1, nil, []int{0}},
		{"row out of range", q, k, 2, 1, []int{4}, []int{0}},
		{"heads not a multiple", q, k, 3, 2, []int{2}, []int{0}},
		{"key width", q, Matrix{Rows: 4, Cols: 3, Data: make([]float32, 12)}, 2, 1, []int{2}, []int{0}},
		{"non-finite", Matrix{Rows: 4, Cols: 4, Data: append([]float32{float32(math.Inf(1))}, make([]float32, 15)...)}, k, 2, 1, []int{0}, []int{1}},
	} {
		if _, err := RoPEFreeScores(c.q, c.k, c.heads, c.kv, c.rows, c.cols); !errors.Is(err, ErrBadInput) {
			t.Errorf("%s: %v, want ErrBadInput", c.name, err)
		}
	}
}

// The selection rule (elastic_cache.py process_attention), hand-applied:
// window 0 has static tokens 0..4 (int(5·0.4) = 2 kept: 1 and 3, the two
// 0.5s) and frames 0 (5..7) and 1 (8..10) of dynamic tokens (int(3·0.4) =
// 1 each: 6, and 8 — the tie with 9 goes to the lower index); window 1's
// frame 2 has two dynamic tokens, int(2·0.4) = 0 kept. Groups need not be
// contiguous (order=spatial interleaves them): the shuffled case permutes
// tokens and expects the same tokens kept.
func TestPruneVidInnerSelectVector(t *testing.T) {
	st := func(w int) TokenGroup { return TokenGroup{Window: w, Frame: 2 * w, Static: true} }
	dy := func(w, f int) TokenGroup { return TokenGroup{Window: w, Frame: f} }
	g := []TokenGroup{st(0), st(0), st(0), st(0), st(0), dy(0, 0), dy(0, 0), dy(0, 0), dy(0, 1), dy(0, 1), dy(0, 1), dy(1, 2), dy(1, 2)}
	s := []float64{.1, .5, .3, .5, .2, .05, .07, .06, .9, .9, .1, .99, .98}
	cases := []struct {
		alpha float64
		want  []int
	}{{0.4, []int{1, 3, 6, 8}}, {1, seq(13)}, {0.5, []int{1, 3, 6, 8, 11}}, {0.01, nil}}
	for _, c := range cases {
		got, err := PruneVidInnerSelect(s, g, c.alpha)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("alpha %g: kept %v, want %v", c.alpha, got, c.want)
		}
	}
	perm := []int{12, 0, 5, 8, 1, 11, 6, 9, 2, 3, 7, 10, 4} // new position i holds old token perm[i]
	gp, sp := make([]TokenGroup, 13), make([]float64, 13)
	for i, o := range perm {
		gp[i], sp[i] = g[o], s[o]
	}
	got, err := PruneVidInnerSelect(sp, gp, 0.4)
	if err != nil {
		t.Fatal(err)
	}
	var old []int
	for _, i := range got {
		old = append(old, perm[i])
	}
	slices.Sort(old)
	// The tie between 8 and 9 goes to the lower new index: 8 is at 3, 9 at 7.
	if want := []int{1, 3, 6, 8}; !slices.Equal(old, want) {
		t.Errorf("shuffled: kept old tokens %v, want %v", old, want)
	}
	if _, err := PruneVidInnerSelect(s, g[:3], 0.4); !errors.Is(err, ErrBadInput) {
		t.Errorf("misaligned groups: %v", err)
	}
	if _, err := PruneVidInnerSelect(s, g, 0); !errors.Is(err, ErrBadValue) {
		t.Errorf("alpha 0: %v", err)
	}
}

// prunevid records its grouping: four identical frames form one window; at
// tau 0.8 every position is static (one token per position, window 0), at
// tau 1 none is (every frame's tokens dynamic, in their frames).
func TestPruneVidGroups(t *testing.T) {
	const F, n = 4, 4
	x := Matrix{Rows: F * n, Cols: 3}
	for f := 0; f < F; f++ {
		for i := 0; i < n; i++ {
			x.Data = append(x.Data, float32(i+1), float32(i*i), 1)
		}
	}
	v := &Visual{Features: x, Frames: F}
	m := PruneVid{Tau: 0.8, Ratio: 0.5, Segment: 0.25, KNN: 7, Order: "official"}
	res, err := m.Apply(v, F*n)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Groups) != n {
		t.Fatalf("tau 0.8: %d groups for %d outputs, want %d", len(res.Groups), len(res.Source), n)
	}
	for _, g := range res.Groups {
		if g != (TokenGroup{Window: 0, Frame: 0, Static: true}) {
			t.Errorf("tau 0.8: group %+v, want static in window 0", g)
		}
	}
	m.Tau, m.Ratio, m.Order = 1, 1, "spatial"
	if res, err = m.Apply(v, F*n); err != nil {
		t.Fatal(err)
	}
	if len(res.Groups) != F*n {
		t.Fatalf("tau 1: %d groups, want %d", len(res.Groups), F*n)
	}
	for i, g := range res.Groups {
		if want := (TokenGroup{Window: 0, Frame: res.Source[i] / n}); g != want {
			t.Errorf("tau 1: output %d (token %d): group %+v, want %+v", i, res.Source[i], g, want)
		}
	}
}

// The method: refused without a grouping, layer auto scales with depth,
// alpha 1 keeps every visual token.
func TestPruneVidInnerMethod(t *testing.T) {
	m, err := Parse("prunevid-inner")
	if err != nil {
		t.Fatal(err)
	}
	in := m.In.(PruneVidInner)
	if _, err := in.WithGroups(nil); !errors.Is(err, ErrBadValue) {
		t.Errorf("nil groups: %v", err)
	}
	for _, c := range []struct{ n, want int }{{32, 10}, {4, 1}, {24, 7}, {28, 8}, {2, 0}} {
		f, err := FitDepth(in, c.n)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Layers(); !slices.Equal(got, []int{c.want}) {
			t.Errorf("%d layers: selects after %v, want %d", c.n, got, c.want)
		}
	}
	if _, err := FitDepth(in, 1); !errors.Is(err, ErrDepth) {
		t.Errorf("1 layer: %v, want ErrDepth", err)
	}
	c, err := Parse("prunevid:tau=1,ratio=1,order=spatial+prunevid-inner:alpha=1,layer=1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Pre == nil || c.In == nil {
		t.Fatalf("combination parsed to %+v", c)
	}
	b := &Boundary{Layer: 1, Hidden: Matrix{Rows: 4, Cols: 1, Data: make([]float32, 4)}, ImageIdx: []int{1, 2}, LastToken: 3,
		Q: Matrix{Rows: 4, Cols: 2, Data: make([]float32, 8)}, K: Matrix{Rows: 4, Cols: 2, Data: make([]float32, 8)}, Heads: 1, KVHeads: 1}
	if _, err := c.In.Select(b, 2); !errors.Is(err, ErrBadInput) {
		t.Errorf("no grouping: %v, want ErrBadInput", err)
	}
	gi, err := c.In.(GroupUser).WithGroups([]TokenGroup{{Frame: 0}, {Frame: 1}})
	if err != nil {
		t.Fatal(err)
	}
	keep, err := gi.Select(b, 2)
	if err != nil || !slices.Equal(keep, []int{0, 1}) {
		t.Errorf("alpha 1: kept %v (%v), want both", keep, err)
	}
}
