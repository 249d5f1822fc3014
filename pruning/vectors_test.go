package pruning

import (
	"math"
	"slices"
	"testing"
)

// Reference vectors of ../shared/reference/pruning-methods.md §6.

func mat(rows ...[]float32) Matrix {
	m := Matrix{Rows: len(rows)}
	if len(rows) > 0 {
		m.Cols = len(rows[0])
	}
	for _, r := range rows {
		m.Data = append(m.Data, r...)
	}
	return m
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func wantRows(t *testing.T, what string, got Matrix, want [][]float32, tol float64) {
	t.Helper()
	if got.Rows != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, got.Rows, len(want))
	}
	for i, w := range want {
		for k, x := range w {
			if !near(float64(got.Row(i)[k]), float64(x), tol) {
				t.Errorf("%s: row %d = %v, want %v", what, i, got.Row(i), w)
				break
			}
		}
	}
}

// Vector A — DivPrune, 6 tokens, D=2.
var vecA = mat([]float32{1, 0}, []float32{0.9, 0.1}, []float32{0, 1}, []float32{0.1, 0.95},
	[]float32{-1, 0.2}, []float32{0.7, 0.7})

func TestVectorA_DivPrune(t *testing.T) {
	xn := normalizeRows(vecA)
	dist := make([]float32, 36)
	nn := nnDistances(xn, 6, 2, dist)
	wantNN := []float64{0.0061, 0.0061, 0.0055, 0.0055, 0.8039, 0.2191}
	for j, w := range wantNN {
		if !near(nn[j], w, 1e-4) {
			t.Errorf("second-smallest of column %d = %.4f, want %.4f", j, nn[j], w)
		}
	}
	// Distance matrix spot checks.
	row := make([]float64, 6)
	cosDistRow(xn, 2)(4, row)
	for j, w := range []float64{1.9806, 1.9529, 0.8039, 0.9076, 0, 1.5547} {
		if !near(row[j], w, 1e-4) || !near(float64(dist[4*6+j]), w, 1e-4) || dist[j*6+4] != dist[4*6+j] {
			t.Errorf("Dist[4][%d] = %.4f, want %.4f", j, row[j], w)
		}
	}
	first := argmaxFree(nn, make([]bool, 6))
	if order := greedyDiverse(6, 3, first, false, cosDistRow(xn, 2)); !slices.Equal(order, []int{4, 0, 3}) {
		t.Errorf("selection order %v, want [4 0 3]", order)
	}
	for keep, want := range map[int][]int{3: {0, 3, 4}, 4: {0, 3, 4, 5}} {
		res, err := DivPrune{}.Apply(&Visual{Features: vecA}, keep)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Source, want) {
			t.Errorf("keep %d: kept %v, want %v", keep, res.Source, want)
		}
		if g := Gather(vecA, want); !slices.Equal(res.Features.Data, g.Data) {
			t.Errorf("keep %d: features %v, want %v", keep, res.Features.Data, g.Data)
		}
		if res.Positions != Renumber {
			t.Errorf("positions %v, want renumber", res.Positions)
		}
	}
}

// Vector B — FastV top-k and position ids.
func vecBBoundary() *Boundary {
	return &Boundary{
		Layer: 1,
		Attn: mat(
			[]float32{0.30, 0.05, 0.02, 0.10, 0.01, 0.08, 0.03, 0.06, 0.10, 0.10, 0.15},
			[]float32{0.40, 0.02, 0.05, 0.02, 0.03, 0.09, 0.01, 0.03, 0.10, 0.10, 0.15}),
		ImageIdx:  []int{2, 3, 4, 5, 6, 7},
		LastToken: 10,
	}
}

func TestVectorB_FastV(t *testing.T) {
	b := vecBBoundary()
	s := meanHeadScores(b.Attn, b.ImageIdx)
	for j, w := range []float64{0.035, 0.060, 0.020, 0.085, 0.020, 0.045} {
		if !near(s[j], w, 1e-6) {
			t.Errorf("score %d = %v, want %v", j, s[j], w)
		}
	}
	m := FastV{K: 2, R: 0.5}
	if !slices.Equal(m.Layers(), []int{1}) {
		t.Errorf("layers %v, want [1] (boundary after layer K−1)", m.Layers())
	}
	keep, err := m.Select(b, 6)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keep, []int{1, 3, 5}) { // sequence positions 3, 5, 7
		t.Fatalf("kept %v, want [1 3 5]", keep)
	}
	rows, err := KeptRows(11, b.ImageIdx, keep)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows, []int{0, 1, 3, 5, 7, 8, 9, 10}) {
		t.Errorf("kept rows %v", rows)
	}
	orig, _ := PositionIDs(KeepOriginal, seq(11), rows)
	if !slices.Equal(orig, []int{0, 1, 3, 5, 7, 8, 9, 10}) {
		t.Errorf("original position ids %v", orig)
	}
	ren, _ := PositionIDs(Renumber, seq(11), rows)
	if !slices.Equal(ren, seq(8)) {
		t.Errorf("renumbered position ids %v", ren)
	}
	if p := DecodePosition(m.Positions(), 11, 8, 0); p != 11 {
		t.Errorf("FastV first decode position after K: %d, want 11", p)
	}
	if p := DecodePosition(Renumber, 11, 11, 0); p != 11 {
		t.Errorf("renumbered, layers < K: %d, want 11", p)
	}
	if p := DecodePosition(Renumber, 11, 8, 0); p != 8 {
		t.Errorf("renumbered, layers >= K: %d, want 8", p)
	}
	// The same selection from a count budget and from the ratio budget.
	for _, bud := range []Budget{KeepCount(3), KeepRatio(0.5)} {
		mb, err := m.WithBudget(bud)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := mb.Select(b, 6); !slices.Equal(got, []int{1, 3, 5}) {
			t.Errorf("budget %v: kept %v", bud, got)
		}
	}
	if _, err := m.Select(&Boundary{Layer: 2, Attn: b.Attn, ImageIdx: b.ImageIdx, LastToken: 10}, 6); err == nil {
		t.Error("FastV accepted a call at the wrong layer")
	}
}

// Vector C — ToMe bipartite soft matching.
var vecC = mat([]float32{1, 0}, []float32{0.9, 0.1}, []float32{0.95, 0.2}, []float32{-1, 0.5},
	[]float32{0, 1}, []float32{0.2, 1})

func TestVectorC_ToMe(t *testing.T) {
	for _, mode := range []string{"wavg", "mean"} {
		res, err := ToMe{Mode: mode}.Apply(&Visual{Features: vecC}, 4)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Source, []int{4, 1, 3, 5}) {
			t.Errorf("%s: sources %v, want [4 1 3 5]", mode, res.Source)
		}
		if !slices.Equal(res.Sizes, []int{1, 3, 1, 1}) {
			t.Errorf("%s: sizes %v, want [1 3 1 1]", mode, res.Sizes)
		}
		wantRows(t, mode, res.Features, [][]float32{{0, 1}, {0.95, 0.10}, {-1, 0.5}, {0.2, 1}}, 1e-6)
		sp, _ := ToMe{Mode: mode, Order: "spatial"}.Apply(&Visual{Features: vecC}, 4)
		if !slices.Equal(sp.Source, []int{1, 3, 4, 5}) || !sp.Ascending() {
			t.Errorf("%s spatial: sources %v", mode, sp.Source)
		}
	}
	// Later rounds: t1' (size 3) merged with (0, 1) (size 1).
	two := mat([]float32{0, 1}, []float32{0.95, 0.1})
	g := [][]int{{1, 0}}
	wantRows(t, "ToMe wavg", mergeGroups(two, g, []int{1, 3}, false), [][]float32{{0.7125, 0.325}}, 1e-6)
	wantRows(t, "AIM mean", mergeGroups(two, g, []int{1, 3}, true), [][]float32{{0.475, 0.55}}, 1e-6)
	tt := tomeTokens{x: two, src: []int{0, 1}, size: []int{1, 3}}
	if out := tomeRound(tt, 1, false); out.size[0] != 4 || !near(float64(out.x.Data[0]), 0.7125, 1e-6) {
		t.Errorf("round with sizes: %+v", out)
	}
}

// Vector D — VisionZip dominant + contextual (index 0 = CLS, patches 1..8
// are patches 0..7 here).
func vecDVisual() *Visual {
	h := [][]float32{{0.5, 0.5}, {1, 0}, {0.8, 0.6}, {0, 1}, {0.9, -0.1}, {-0.6, 0.8}, {0.7, 0.7}, {-1, 0}, {0.1, 0.9}}
	k := [][]float32{{0, 1}, {1, 0.1}, {0.9, 0.4}, {0.1, 1}, {1, -0.2}, {-0.5, 1}, {0.8, 0.6}, {-1, 0.1}, {0.2, 1}}
	head0 := []float32{0.02, 0.30, 0.05, 0.04, 0.20, 0.03, 0.06, 0.10}
	head1 := []float32{0.05, 0.25, 0.02, 0.07, 0.15, 0.10, 0.04, 0.12}
	sum := make([]float32, 8)
	for j := range sum {
		sum[j] = head0[j] + head1[j]
	}
	return &Visual{Features: mat(h[1:]...), Keys: mat(k[1:]...), CLSAttn: sum, CLSFeatures: h[0],
		PreProj: mat(h[1:]...), CLSPreProj: h[0]}
}

func TestVectorD_VisionZip(t *testing.T) {
	v := vecDVisual()
	res, err := VisionZip{Dominant: 3, Contextual: 2}.Apply(v, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float32{{0.5, 0.5}, {0.8, 0.6}, {-0.6, 0.8}, {1.9, -0.1}, {0.4, 1.3333333}}
	wantRows(t, "features", res.Features, want, 1e-6)
	wantRows(t, "pre-projector", res.PreProj, want, 1e-6)
	if !slices.Equal(res.Source, []int{-1, 1, 4, 0, 5}) {
		t.Errorf("sources %v, want [-1 1 4 0 5] (CLS, patches 2 5, targets 1 6)", res.Source)
	}
	if !slices.Equal(res.Sizes, []int{1, 1, 1, 2, 4}) {
		t.Errorf("sizes %v, want [1 1 1 2 4]", res.Sizes)
	}
	if res.Ascending() {
		t.Error("official VisionZip order reported ascending")
	}
	// The budget split: keep 5 → contextual round(5·10/64) = 1, dominant 4.
	if d, c, _ := (VisionZip{}).split(5); d != 4 || c != 1 {
		t.Errorf("split(5) = %d+%d", d, c)
	}
	for keep, want := range map[int][2]int{64: {54, 10}, 128: {108, 20}, 192: {162, 30}} {
		if d, c, _ := (VisionZip{}).split(keep); d != want[0] || c != want[1] {
			t.Errorf("split(%d) = %d+%d, want %v", keep, d, c, want)
		}
	}
	sp, _ := VisionZip{Dominant: 3, Contextual: 2, Order: "spatial"}.Apply(v, 5)
	if !slices.Equal(sp.Source, []int{-1, 0, 1, 4, 5}) {
		t.Errorf("spatial sources %v", sp.Source)
	}
	// Without the CLS token the dominant set is three patches.
	v.CLSFeatures = nil
	nc, err := VisionZip{Dominant: 3, Contextual: 2}.Apply(v, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(nc.Source[:3], []int{1, 4, 7}) || len(nc.Source) != 5 || nc.PreProj.Rows != 5 {
		t.Errorf("no-CLS sources %v", nc.Source)
	}
	if _, err := (VisionZip{CLS: "on"}).Apply(v, 5); err == nil {
		t.Error("cls=on accepted a model without a CLS token")
	}
}

// Vector E — CDPruner greedy DPP.
func TestVectorE_CDPruner(t *testing.T) {
	x := mat([]float32{1, 0, 0}, []float32{0.9, 0.3, 0.1}, []float32{0, 1, 0}, []float32{0.5, 0.5, 0.7})
	xn := normalizeRows(x)
	order := dppGreedy(xn, 4, 3, []float64{0.9, 1.0, 0.5, 0.8}, 3)
	if !slices.Equal(order, []int{1, 3, 2}) {
		t.Errorf("DPP order %v, want [1 3 2]", order)
	}
	// Relevance sign and min–max scaling.
	img := normalizeRows(mat([]float32{1, 0}, []float32{0, 1}, []float32{0.6, 0.8}))
	txt := normalizeRows(mat([]float32{0.8, 0.6}))
	rel := cdRelevance(img, 3, 2, txt, 1, true)
	for i, w := range []float64{0.4444, 1.0000, 0} {
		if !near(rel[i], w, 1e-4) {
			t.Errorf("relevance %d = %.6f, want %.4f", i, rel[i], w)
		}
	}
	// The whole method with relevance 1: v0 and v1 near-duplicates, so the
	// DPP keeps one of them.
	res, err := CDPruner{Relevance: "none"}.Apply(&Visual{Features: x}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if res.Source[0] == 0 && res.Source[1] == 1 {
		t.Errorf("plain DPP kept both near-duplicates: %v", res.Source)
	}
	// Rank clamp: D=2 means rank 2; keep 4 of 4 distinct directions in 2-D.
	r2 := dppGreedy(normalizeRows(vecA), 6, 2, []float64{1, 1, 1, 1, 1, 1}, 5)
	if len(r2) != 5 || len(slices.Compact(slices.Sorted(slices.Values(r2)))) != 5 {
		t.Errorf("rank-clamped DPP returned %v", r2)
	}
}

// Vector F — schedule and budget arithmetic.
func TestVectorF_Schedules(t *testing.T) {
	pd := PDrop{LayerList: []int{8, 16, 24}, Ratios: []float64{0.5, 0.25, 0.125}}
	s, _ := pd.Schedule(576)
	if !slices.Equal(s, []int{288, 144, 72}) {
		t.Errorf("PDrop schedule %v", s)
	}
	if !slices.Equal(pd.Layers(), []int{7, 15, 23}) {
		t.Errorf("PDrop boundaries %v", pd.Layers())
	}
	if mean := float64(576*8+288*8+144*8+72*8) / 32; mean != 270 {
		t.Errorf("PDrop mean %v", mean)
	}
	pb, _ := pd.WithBudget(KeepCount(72))
	if s, _ := pb.(Scheduler).Schedule(576); !slices.Equal(s, []int{288, 144, 72}) {
		t.Errorf("PDrop geometric schedule for 72: %v", s)
	}
	for b, want := range map[int]int{128: 132, 64: 68} {
		d, _ := DART{K: 2, ImagePivots: 4, TextPivots: 4}.WithBudget(KeepCount(b))
		if s, _ := d.(Scheduler).Schedule(576); s[0] != want {
			t.Errorf("DART budget %d keeps %d, want %d", b, s[0], want)
		}
		e, _ := DART{K: 2, ImagePivots: 4, TextPivots: 4, Exact: true}.WithBudget(KeepCount(b))
		if s, _ := e.(Scheduler).Schedule(576); s[0] != b {
			t.Errorf("exact DART budget %d keeps %d", b, s[0])
		}
	}
	if k, _ := KeepRatio(0.098).Count(576); k != 56 {
		t.Errorf("DivPrune 0.098·576 → %d, want 56", k)
	}
	sv := SparseVLM{LayerList: []int{2, 6, 15}}
	if c, _ := sv.counts(576); !slices.Equal(c, []int{66, 30, 17}) {
		t.Errorf("SparseVLM 64 counts %v", c)
	}
	if s, _ := sv.Schedule(576); !slices.Equal(s, []int{66, 30, 17}) {
		t.Errorf("SparseVLM schedule without recycling %v", s)
	}
	sv.Recycle = true
	if s, _ := sv.Schedule(576); !slices.Equal(s, []int{66 + 16, 30 + 2, 17 + 1}) {
		t.Errorf("SparseVLM schedule with recycling %v", s)
	}
	for b, want := range map[int][]int{128: {303, 110, 36}, 192: {300, 200, 110}, 96: {238, 48, 26}} {
		m, _ := sv.WithBudget(KeepCount(b))
		if c, _ := m.(SparseVLM).counts(576); !slices.Equal(c, want) {
			t.Errorf("SparseVLM %d counts %v, want %v", b, c, want)
		}
	}
	aim := AIMPrune{Start: 14, Step: 0.125, Tau: 0.1}
	if !slices.Equal(aim.Layers(), []int{14, 15, 16, 17, 18, 19, 20, 21}) {
		t.Errorf("AIM layers %v", aim.Layers())
	}
	if s, _ := aim.Schedule(576); !slices.Equal(s, []int{504, 432, 360, 288, 216, 144, 72, 0}) {
		t.Errorf("AIM schedule %v", s)
	}
	ab, _ := aim.WithBudget(KeepRatio(0.25))
	if s, _ := ab.(Scheduler).Schedule(576); !slices.Equal(s, []int{504, 432, 360, 288, 216, 144}) {
		t.Errorf("AIM schedule with floor 0.25: %v (layers %v)", s, ab.Layers())
	}
}
