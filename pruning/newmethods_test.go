package pruning

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// Issue 15's methods: reference vectors (part 2 §5–7 (f)) and hand-checked
// vectors (computed by hand in the comments).

func TestVectorMustDropFilter(t *testing.T) {
	// Part 2 §5 (f): head-mean rows of three text tokens over 6 image tokens,
	// global_thr 0.011, individual_thr 0.001: drop candidates 0 and 4 (2 has
	// a low g but m ≥ .001). The reference's key set {0} (from the encoder's
	// CLS attention) adds 0 back: [0 1 2 3 5]; without a key set [1 2 3 5].
	rows := [][]float32{{.0004, .020, .0011, .010, .0002, .0030},
		{.0003, .015, .0000, .008, .0001, .0003},
		{.0002, .030, .0000, .012, .0003, .0004}}
	b := &Boundary{Layer: 2, Hidden: Matrix{Rows: 10, Cols: 1, Data: make([]float32, 10)},
		Attn: Matrix{Rows: 1, Cols: 10, Data: make([]float32, 10)}, ImageIdx: []int{1, 2, 3, 4, 5, 6}, LastToken: 9}
	m := MustDrop{LayerList: []int{2}, Global: 0.011, Individual: 0.001}
	q, err := m.QueryRows(b)
	if err != nil || !slices.Equal(q, []int{7, 8, 9}) {
		t.Fatalf("query rows %v, %v; want the tokens after the image [7 8 9]", q, err)
	}
	for i, r := range rows {
		a := Matrix{Rows: 1, Cols: 10, Data: make([]float32, 10)}
		copy(a.Data[1:7], r)
		b.Queries = append(b.Queries, q[i])
		b.QueryAttn = append(b.QueryAttn, a)
	}
	keep, err := m.Select(b, 6)
	if err != nil || !slices.Equal(keep, []int{1, 2, 3, 5}) {
		t.Errorf("dual filter kept %v (%v), want [1 2 3 5]", keep, err)
	}
	// With a key set of ⌈0.34·6⌉ = 3 tokens by g (1, 3, 5) the result is the
	// same; a cap of 2 keeps the two largest g.
	m.Key = 0.34
	if keep, _ = m.Select(b, 6); !slices.Equal(keep, []int{1, 2, 3, 5}) {
		t.Errorf("with a key set: %v", keep)
	}
	g := []float64{.0009, .065, .0011, .030, .0006, .0037}
	mx := []float64{.0004, .030, .0011, .012, .0003, .0030}
	if k := mustDropFilter(g, mx, 0.011, 0.001, 0, 2); !slices.Equal(k, []int{1, 3}) {
		t.Errorf("cap 2: %v", k)
	}
	// Budget 64 of 576 (ratio 1/9) picks the 64-row thresholds (0.011, 0.01):
	// then token 5 (m = .003 < .01, g = .0037 ≥ .0011143) stays, 2 goes.
	mb, _ := m.WithBudget(KeepCount(4))
	if keep, _ = mb.Select(b, 36); !slices.Equal(keep, []int{1, 3, 5}) {
		t.Errorf("budget 4 of 36: %v, want [1 3 5]", keep)
	}
}

func TestVectorGlobalCom2(t *testing.T) {
	// Part 2 §6 (f): 2×2 crops, 4×4 thumbnail logits → S = [6 2 0 4],
	// p = [.3292 .2207 .1807 .2695], scales [.2698 .2427 .2327 .2549],
	// tokens of a 576-token crop [155 139 134 146].
	thumb := []float64{2, 1, .5, .5, 1, 2, .5, .5, 0, 0, -1, 3, 0, 0, 1, 1}
	sc := globalComScales(thumb, 4, 2, 2, 0.25)
	for i, w := range []float64{.2698, .2427, .2327, .2549} {
		if !near(sc[i], w, 1e-4) {
			t.Errorf("scale %d = %.4f, want %.4f", i, sc[i], w)
		}
		if got := int(576 * sc[i]); got != []int{155, 139, 134, 146}[i] {
			t.Errorf("crop %d keeps %d", i, got)
		}
	}
	// Score combination: own [3 1 0 2], global [.5 2 .2 1], scale .5 →
	// [1.0192 1.1368 .0870 .9693] → keep tokens 1 and 0.
	s := addNormalized([]float64{3, 1, 0, 2}, []float64{.5, 2, .2, 1})
	for i, w := range []float64{1.0192, 1.1368, .0870, .9693} {
		if !near(s[i], w, 1e-4) {
			t.Errorf("combined %d = %.4f, want %.4f", i, s[i], w)
		}
	}
	if k := topK(s, int(4*0.5)); !slices.Equal(k, []int{0, 1}) {
		t.Errorf("kept %v", k)
	}
	// Bilinear, align_corners=False: 2 → 4 gives [a, .75a+.25b, .25a+.75b, b].
	if up := bilinear([]float64{0, 4}, 1, 2, 1, 4); !slices.Equal(up, []float64{0, 1, 3, 4}) {
		t.Errorf("bilinear %v", up)
	}
}

func TestGlobalCom2Layout(t *testing.T) {
	// 2×2 tiles + global (last), 4 tokens each (2×2), D = 2; keep 10 of 20:
	// thumbnail ⌊10·4/20⌋ = 2 tokens, tiles int(4·scale) each.
	r := rng(3)
	v := &Visual{Features: randMat(r, 20, 2), Views: 5}
	res, err := GlobalCom2{Score: "mean"}.Apply(v, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Source) > 10 || !slices.IsSorted(res.Source) {
		t.Errorf("sources %v", res.Source)
	}
	thumb := 0
	for _, s := range res.Source {
		if s >= 16 {
			thumb++
		}
	}
	if thumb != 2 {
		t.Errorf("%d thumbnail tokens, want 2", thumb)
	}
	v.Views = 4 // 3 tiles: not a square grid
	if _, err := (GlobalCom2{}).Apply(v, 10); err == nil {
		t.Error("3 tiles without a layout accepted")
	}
	if _, err := (GlobalCom2{Layout: "1x3"}).Apply(&Visual{Features: randMat(r, 36, 2), Views: 4}, 18); err != nil {
		t.Errorf("layout 1x3: %v", err)
	}
}

func TestGlobalCom2LayoutParam(t *testing.T) {
	for spec, ok := range map[string]bool{"globalcom2:layout=4x4": true, "globalcom2:layout=2X3": true,
		"globalcom2:layout=4": false, "globalcom2:layout=0x4": false, "globalcom2:layout=axb": false} {
		if _, err := Parse(spec); (err == nil) != ok {
			t.Errorf("%s: %v", spec, err)
		}
	}
}

func TestVectorZipVL(t *testing.T) {
	// Part 2 §7 (f): scores [.40 .25 .15 .10 .06 .04]: τ = 0.95 → p = 5
	// (cumulative .96), τ = 0.975 → p = 6.
	s := []float64{.40, .25, .15, .10, .06, .04}
	all := seq(6)
	if k := zipvlKeep(s, all, 0.95); len(k) != 5 {
		t.Errorf("τ 0.95 kept %v", k)
	}
	if k := zipvlKeep(s, all, 0.975); len(k) != 6 {
		t.Errorf("τ 0.975 kept %v", k)
	}
	// Visual tokens 1, 4, 5 of the sequence: at τ 0.95 the top 5 hold 1 and 4.
	if k := zipvlKeep(s, []int{1, 4, 5}, 0.95); !slices.Equal(k, []int{0, 1}) {
		t.Errorf("visual subset kept %v, want [0 1]", k)
	}
	// None of them in the top p: the best visual token stays.
	if k := zipvlKeep(s, []int{4, 5}, 0.5); !slices.Equal(k, []int{0}) {
		t.Errorf("empty top: %v", k)
	}
}

func TestVFlowOptRecycling(t *testing.T) {
	// 2×3 grid, imp = CLS attention [.30 .05 .20 .10 .14 .21], m = 2: cells
	// {0,1,3,4} and {2,5}. keep 3: reduce 3 + int(6/4) = 1 → 4 pruned
	// (1, 3, 4, 2); kept 0 and 5; cell {1,3,4} → representative 4 with
	// (.14·5 + .10·4 + .05·2)/.29 = 4.137931; cell {2} → 2 itself. Four
	// tokens (the reference's count exceeds keep by one).
	v := &Visual{Features: mat([]float32{1}, []float32{2}, []float32{3}, []float32{4}, []float32{5}, []float32{6}),
		CLSAttn: []float32{.30, .05, .20, .10, .14, .21}, GridH: 2, GridW: 3}
	res, err := VFlowOpt{T: 1, M: 2, Attn: "cls"}.Apply(v, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Source, []int{0, 2, 4, 5}) || !slices.Equal(res.Sizes, []int{1, 1, 3, 1}) {
		t.Errorf("sources %v sizes %v", res.Source, res.Sizes)
	}
	wantRows(t, "vflowopt", res.Features, [][]float32{{1}, {3}, {4.137931}, {6}}, 1e-5)
	// exact: 5 pruned (1, 3, 4, 2, 5) in 2 groups → 6 − 5 + 2 = 3 tokens:
	// 0, 4 (as above) and 5 = (.20·3 + .21·6)/.41 = 4.536585.
	res, _ = VFlowOpt{T: 1, M: 2, Attn: "cls", Exact: true}.Apply(v, 3)
	if !slices.Equal(res.Source, []int{0, 4, 5}) {
		t.Errorf("exact sources %v", res.Source)
	}
	wantRows(t, "vflowopt exact", res.Features, [][]float32{{1}, {4.137931}, {4.536585}}, 1e-5)
	// keep 1 < 2 cells: every token pruned; the group of larger importance
	// survives ({0,1,3,4}: .59 > {2,5}: .41), represented by 0.
	res, _ = VFlowOpt{T: 1, M: 2, Attn: "cls", Exact: true}.Apply(v, 1)
	if !slices.Equal(res.Source, []int{0}) {
		t.Errorf("exact keep 1: %v", res.Source)
	}
	// Self-attention proxy: rows sum to 1.
	a := selfAttention(mat([]float32{1, 0}, []float32{0, 1}, []float32{1, 1}))
	for i := range 3 {
		if s := a[3*i] + a[3*i+1] + a[3*i+2]; !near(s, 1, 1e-12) {
			t.Errorf("row %d sums to %v", i, s)
		}
	}
}

func TestFlowCutScores(t *testing.T) {
	// Values [1 0], [0 1], [1 1], v_cls = 0 (semantic attention uniform 1/3),
	// a_cls [.5 .3 .2]: scores (.5+1/3)·1, (.3+1/3)·1, (.2+1/3)·2 =
	// .8333, .6333, 1.0667.
	v := &Visual{Features: mat([]float32{9}, []float32{9}, []float32{9}),
		PreProj: mat([]float32{1, 0}, []float32{0, 1}, []float32{1, 1}), CLSPreProj: []float32{0, 0},
		CLSAttn: []float32{.5, .3, .2}}
	s := flowCutScores(to64(v.CLSAttn), v.PreProj, v.CLSPreProj)
	for i, w := range []float64{5.0 / 6, 1.9 / 3, 3.2 / 3} {
		if !near(s[i], w, 1e-6) {
			t.Errorf("score %d = %v, want %v", i, s[i], w)
		}
	}
	for keep, want := range map[int][]int{1: {2}, 2: {0, 2}} {
		if r, _ := (FlowCut{}).Apply(v, keep); !slices.Equal(r.Source, want) {
			t.Errorf("keep %d: %v, want %v", keep, r.Source, want)
		}
	}
}

func TestMustDropMergeWindow(t *testing.T) {
	// 3×4 grid: one 3×3 window (columns 0–2) of nearly parallel tokens →
	// merged into its bottom-right token 10 (plain mean); 3, 7, 11 stay.
	f := Matrix{Rows: 12, Cols: 2}
	for j := range 12 {
		if j%4 == 3 {
			f.Data = append(f.Data, 0, 1)
		} else {
			f.Data = append(f.Data, 1, float32(j)*0.01)
		}
	}
	cls := make([]float32, 12)
	for j := range cls {
		cls[j] = 1.0 / 12
	}
	v := &Visual{Features: f, CLSAttn: cls, GridH: 3, GridW: 4}
	res, err := MustDropMerge{Threshold: 0.8}.Apply(v, 6)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Source, []int{10, 3, 7, 11}) || !slices.Equal(res.Sizes, []int{9, 1, 1, 1}) {
		t.Errorf("sources %v sizes %v", res.Source, res.Sizes)
	}
	wantRows(t, "merged", Matrix{Rows: 1, Cols: 2, Data: res.Features.Row(0)}, [][]float32{{1, 0.05}}, 1e-6)
	// keep 2: the merged token (CLS mass 9/12) and token 3 (ties: lower source).
	res, _ = MustDropMerge{Threshold: 0.8}.Apply(v, 2)
	if !slices.Equal(res.Source, []int{10, 3}) {
		t.Errorf("keep 2: %v", res.Source)
	}
	res, _ = MustDropMerge{Threshold: 0.8, Order: "spatial"}.Apply(v, 2)
	if !slices.Equal(res.Source, []int{3, 10}) {
		t.Errorf("keep 2 spatial: %v", res.Source)
	}
	// A threshold above every window score merges nothing.
	res, _ = MustDropMerge{Threshold: 1.01}.Apply(v, 11)
	if len(res.Source) != 11 || res.Sizes[0] != 1 {
		t.Errorf("threshold 1.01: %v", res.Source)
	}
}

func TestCATPGreedy(t *testing.T) {
	// Text [1 0]; tokens [1 0], [.9 .1], [0 1], [−1 0]: rel = (1 + cos)/2 =
	// 1, .99695, .5, 0 → first 0; distances to it /2: 0, .00305, .5, 1.
	// λ .7: objectives .6979, .5, .3 → 1. λ .3: .3012, .5, .7 → 3.
	v := &Visual{Features: mat([]float32{1, 0}, []float32{.9, .1}, []float32{0, 1}, []float32{-1, 0}),
		Text: mat([]float32{1, 0})}
	for lambda, want := range map[float64][]int{0.7: {0, 1}, 0.3: {0, 3}} {
		if r, err := (CATP{Lambda: lambda}).Apply(v, 2); err != nil || !slices.Equal(r.Source, want) {
			t.Errorf("λ %v: %v (%v), want %v", lambda, r.Source, err, want)
		}
	}
}

func TestAdaptiveCoverage(t *testing.T) {
	// Two tight groups ({0,1,2} near [1 0], {3,4} near [0 1]): the first
	// DivPrune pick is 3 (largest nearest-neighbour distance .005, tied with
	// 4: lowest index), the second the token farthest from it, 2 (distance
	// 1.0499); then every token is within .005 of a pick, so radius 0.01
	// keeps 2. Radius 0 keeps going to the
	// cap; min raises the count.
	v := &Visual{Features: mat([]float32{1, 0}, []float32{1, 0.05}, []float32{1, -0.05}, []float32{0, 1}, []float32{0.1, 1})}
	a := NewAdaptive(1, Budget{}, Budget{}, "coverage")
	a.Radius = 0.01
	if r, err := a.Apply(v, 5); err != nil || !slices.Equal(r.Source, []int{2, 3}) {
		t.Errorf("radius 0.01: %v (%v), want [2 3]", r.Source, err)
	}
	if r, _ := a.Apply(v, 1); len(r.Source) != 1 {
		t.Errorf("keep 1 caps: %v", r.Source)
	}
	a.Min = KeepCount(3)
	if r, _ := a.Apply(v, 5); len(r.Source) != 3 {
		t.Errorf("min 3: %v", r.Source)
	}
	b := NewAdaptive(1, Budget{}, Budget{}, "coverage")
	if r, _ := b.Apply(v, 4); len(r.Source) != 4 {
		t.Errorf("radius 0: %v", r.Source)
	}
	if c, m := a.KeptStats(); c != 3 || !near(m, 2, 1e-12) {
		t.Errorf("stats %d %v", c, m)
	}
}

// BenchmarkNewMethods times each issue-15 method's selection at N = 576,
// 1,088 (SmolVLM's 4×4 + global) and 2,304, D = 576, keep N/4:
// go test -run '^$' -bench NewMethods -benchtime 10x ./pruning
func BenchmarkNewMethods(b *testing.B) {
	for _, name := range []string{"vflowopt", "flowcut", "mustdrop-merge", "globalcom2", "catp"} {
		m, err := Parse(name)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range []int{576, 1088, 2304} {
			v := benchVisual(n, 576)
			v.PreProj = randMat(rng(9), n, 64)
			switch n { // views for GlobalCom²; a grid for MustDrop's windows
			case 1088:
				v.Views, v.GridH, v.GridW = 17, 32, 34
			case 2304:
				v.Views, v.TileRows, v.TileCols = 9, 2, 4
			}
			b.Run(fmt.Sprintf("%s/N=%d", name, n), func(b *testing.B) {
				for b.Loop() {
					if _, err := m.Pre.Apply(v, n/4); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	for _, name := range []string{"mustdrop:layers=1", "zipvl"} {
		pm, err := Parse(name)
		if err != nil {
			b.Fatal(err)
		}
		in := pm.In
		if bm, ok := in.(Budgeted); ok {
			in, _ = bm.WithBudget(KeepRatio(0.25))
		}
		for _, n := range []int{576, 1088, 2304} {
			s := newSeq(uint64(n), 32, n, 32, 576, false)
			bd := s.boundary(1, rng(4), false)
			bd.Attn = attnRows(rng(5), 9, s.hidden.Rows, false)
			rows, _ := in.(RowRequester).QueryRows(bd)
			for _, q := range rows {
				bd.Queries = append(bd.Queries, q)
				bd.QueryAttn = append(bd.QueryAttn, bd.Attn)
			}
			b.Run(fmt.Sprintf("%s/N=%d", pm.Info.Name, n), func(b *testing.B) {
				for b.Loop() {
					if _, err := in.(RowRequester).QueryRows(bd); err != nil {
						b.Fatal(err)
					}
					if _, err := in.Select(bd, n); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

var _ = math.Abs

// FitDepth refuses the paper's MustDrop layers on a 4-layer decoder and says
// what to write.
func TestNewMethodsDepth(t *testing.T) {
	m, _ := Parse("mustdrop")
	if _, err := FitDepth(m.In, 4); err == nil || !strings.Contains(err.Error(), "mustdrop:layers= within 0..3") {
		t.Errorf("mustdrop on 4 layers: %v", err)
	}
	z, _ := Parse("zipvl:layers=5")
	if _, err := FitDepth(z.In, 4); err == nil || !strings.Contains(err.Error(), "zipvl:layers=") {
		t.Errorf("zipvl after layer 5 of 4: %v", err)
	}
	if _, err := FitDepth(z.In, 8); err != nil {
		t.Errorf("zipvl after layer 5 of 8: %v", err)
	}
}
