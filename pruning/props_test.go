package pruning

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// rng returns uniform values in [-1, 1) from a fixed seed.
func rng(seed uint64) func() float32 {
	g := splitmix{state: seed}
	return func() float32 { return float32(g.next()>>40)/float32(1<<24)*2 - 1 }
}

func randMat(r func() float32, rows, cols int) Matrix {
	m := Matrix{Rows: rows, Cols: cols, Data: make([]float32, rows*cols)}
	for i := range m.Data {
		m.Data[i] = r()
	}
	return m
}

func softmaxRow(r func() float32, n int, scale float32) []float32 {
	out := make([]float32, n)
	sum := 0.0
	for i := range out {
		out[i] = float32(math.Exp(float64(r() * scale)))
		sum += float64(out[i])
	}
	for i := range out {
		out[i] = float32(float64(out[i]) / sum)
	}
	return out
}

func gridOf(n int) (int, int) {
	for h := int(math.Sqrt(float64(n))); h >= 1; h-- {
		if n%h == 0 {
			return h, n / h
		}
	}
	return 1, n
}

// kind: "rand", "dup" (all rows equal), "zero" (all inputs zero).
func testVisual(seed uint64, n, d int, kind string) *Visual {
	r := rng(seed)
	h, w := gridOf(n)
	v := &Visual{Features: randMat(r, n, d), PreProj: randMat(r, n, d+2), Keys: randMat(r, n, 4),
		Text: randMat(r, 3, d), CLSAttn: softmaxRow(r, n, 3), GridH: h, GridW: w,
		CLSFeatures: randMat(r, 1, d).Data, CLSPreProj: randMat(r, 1, d+2).Data}
	switch kind {
	case "dup":
		for _, m := range []Matrix{v.Features, v.PreProj, v.Keys} {
			for i := 1; i < m.Rows; i++ {
				copy(m.Row(i), m.Row(0))
			}
		}
		for i := range v.CLSAttn {
			v.CLSAttn[i] = 1 / float32(n)
		}
	case "zero":
		for _, m := range []Matrix{v.Features, v.PreProj, v.Keys, v.Text} {
			clear(m.Data)
		}
		clear(v.CLSAttn)
		clear(v.CLSFeatures)
		clear(v.CLSPreProj)
	}
	return v
}

var preSpecs = []string{"none", "random", "random:seed=7", "stride", "stride:mode=1d", "pool", "pool:mode=1d",
	"divprune", "fastervlm", "fopru", "fopru:strategy=row", "visionzip", "visionzip:order=spatial",
	"visionzip:cls=off", "dart-pre", "dart-pre:exact=true", "dart-pre:pivot=keys,text_pivots=0", "cdpruner",
	"cdpruner:relevance=pos,theta=0.5", "cdpruner:relevance=none", "tome", "tome:mode=mean",
	"tome:metric=keys,order=spatial", "todre", "todre:mode=maxsum,dist=euclid", "adaptive",
	"adaptive:score=norm,mass=0.5,min=2",
	// issue 15
	"vflowopt", "vflowopt:exact=true,m=2,t=0", "vflowopt:attn=cls", "vflowopt:attn=features,exact=true",
	"flowcut", "flowcut:value=features", "mustdrop-merge", "mustdrop-merge:threshold=-1,order=spatial",
	"globalcom2", "globalcom2:score=cls", "catp", "catp:lambda=1", "catp:lambda=0",
	"adaptive:score=coverage", "adaptive:score=coverage,radius=0,min=0.5"}

func TestPreDecoderProperties(t *testing.T) {
	cases := 0
	for _, spec := range preSpecs {
		m, err := Parse(spec)
		if err != nil || m.Pre == nil {
			t.Fatalf("Parse(%q): %v", spec, err)
		}
		name := m.Info.Name
		selection := !slices.Contains([]string{"pool", "visionzip", "tome", "vflowopt", "mustdrop-merge"}, name)
		officialOrder := (name == "visionzip" || name == "tome" || name == "mustdrop-merge") &&
			!slices.Contains([]string{"visionzip:order=spatial", "tome:metric=keys,order=spatial", "mustdrop-merge:threshold=-1,order=spatial"}, spec)
		exact := !slices.Contains([]string{"none", "adaptive", "mustdrop-merge", "globalcom2"}, name) && spec != "dart-pre" &&
			spec != "dart-pre:pivot=keys,text_pivots=0" && !(name == "vflowopt" && !strings.Contains(spec, "exact=true"))
		atMost := slices.Contains([]string{"mustdrop-merge", "globalcom2"}, name) // count ≤ keep
		for _, n := range []int{1, 2, 3, 5, 12, 16, 37} {
			for _, d := range []int{1, 3, 8} {
				for _, kind := range []string{"rand", "dup", "zero"} {
					v := testVisual(uint64(n*100+d), n, d, kind)
					for _, keep := range slices.Compact(slices.Sorted(slices.Values([]int{1, 2, n / 2, n - 1, n}))) {
						if keep < 1 || keep > n {
							continue
						}
						cases++
						where := fmt.Sprintf("%s N=%d D=%d %s keep=%d", spec, n, d, kind, keep)
						res, err := m.Pre.Apply(v, keep)
						if err != nil {
							t.Fatalf("%s: %v", where, err)
						}
						checkResult(t, where, v, res, keep, exact, selection, officialOrder)
						if atMost && len(res.Source) > keep {
							t.Fatalf("%s: %d tokens over keep", where, len(res.Source))
						}
						again, _ := m.Pre.Apply(v, keep)
						if !slices.Equal(res.Source, again.Source) || !slices.Equal(res.Features.Data, again.Features.Data) ||
							!slices.Equal(res.Sizes, again.Sizes) {
							t.Fatalf("%s: not deterministic", where)
						}
						if keep == n && name != "adaptive" {
							if !slices.Equal(res.Source, seq(n)) || !slices.Equal(res.Features.Data, v.Features.Data[:n*d]) {
								t.Fatalf("%s: keep = N is not the identity: %v", where, res.Source)
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d pre-decoder cases", cases)
}

func checkResult(t *testing.T, where string, v *Visual, res Result, keep int, exact, selection, officialOrder bool) {
	t.Helper()
	n, d := v.Features.Rows, v.Features.Cols
	k := len(res.Source)
	if k < 1 || k > n {
		t.Fatalf("%s: %d tokens out of [1, %d]", where, k, n)
	}
	if exact && k != keep {
		t.Fatalf("%s: %d tokens, want exactly %d", where, k, keep)
	}
	if !exact && k > keep+4 && where[:5] != "none " { // DART overshoots by at most p_img
		t.Fatalf("%s: %d tokens above the documented bound", where, k)
	}
	seen := map[int]bool{}
	for _, s := range res.Source {
		if s < -1 || s >= n || seen[s] {
			t.Fatalf("%s: source %d out of range or repeated in %v", where, s, res.Source)
		}
		seen[s] = true
	}
	if !officialOrder && !slices.IsSorted(res.Source) {
		t.Fatalf("%s: sources not ascending: %v", where, res.Source)
	}
	if res.Features.Rows != k || res.Features.Cols != d || len(res.Features.Data) < k*d || !allFinite(res.Features.Data[:k*d]) {
		t.Fatalf("%s: features %d×%d (len %d), want %d×%d finite", where, res.Features.Rows, res.Features.Cols, len(res.Features.Data), k, d)
	}
	if res.Sizes != nil && len(res.Sizes) != k {
		t.Fatalf("%s: %d sizes for %d tokens", where, len(res.Sizes), k)
	}
	if res.PreProj.Rows != 0 && (res.PreProj.Rows != k || !allFinite(res.PreProj.Data)) {
		t.Fatalf("%s: pre-projector output %d rows", where, res.PreProj.Rows)
	}
	if selection {
		if g := Gather(v.Features, res.Source); !slices.Equal(g.Data, res.Features.Data[:k*d]) {
			t.Fatalf("%s: features are not the rows at Source", where)
		}
	}
	if res.Sizes != nil && !officialOrder && res.Sizes[0] >= 0 {
		total := 0
		for _, s := range res.Sizes {
			total += s
		}
		if total < k {
			t.Fatalf("%s: sizes %v sum below the count", where, res.Sizes)
		}
	}
}

// A deterministic random selection is also uniform-ish and seed dependent.
func TestRandomSeed(t *testing.T) {
	v := testVisual(1, 100, 2, "rand")
	a, _ := Random{Seed: 1}.Apply(v, 10)
	b, _ := Random{Seed: 2}.Apply(v, 10)
	if slices.Equal(a.Source, b.Source) {
		t.Error("seeds 1 and 2 chose the same tokens")
	}
	hits := make([]int, 100)
	for s := range uint64(2000) {
		r, _ := Random{Seed: s}.Apply(v, 10)
		for _, j := range r.Source {
			hits[j]++
		}
	}
	for j, h := range hits { // expected 200 each
		if h < 120 || h > 290 {
			t.Errorf("token %d chosen %d times in 2000 draws of 10/100", j, h)
		}
	}
}

func TestBaselineLayouts(t *testing.T) {
	v := testVisual(3, 576, 2, "rand")
	v.GridH, v.GridW = 24, 24
	s, _ := Stride{}.Apply(v, 64)
	var want []int
	for r := 0; r < 24; r += 3 {
		for c := 0; c < 24; c += 3 {
			want = append(want, r*24+c)
		}
	}
	if !slices.Equal(s.Source, want) {
		t.Errorf("stride 64 of 24×24 = %v", s.Source)
	}
	p, _ := Pool{}.Apply(v, 64)
	if !slices.Equal(p.Source, want) || p.Sizes[0] != 9 {
		t.Errorf("pool 64 of 24×24: sources %v sizes %v", p.Source[:4], p.Sizes[:4])
	}
	var m0, m1 float64
	for r := range 3 {
		for c := range 3 {
			m0 += float64(v.Features.Row(r*24 + c)[0])
			m1 += float64(v.Features.Row(r*24 + c)[1])
		}
	}
	if !near(float64(p.Features.Data[0]), m0/9, 1e-6) || !near(float64(p.Features.Data[1]), m1/9, 1e-6) {
		t.Errorf("pool bin 0 = %v, want %v %v", p.Features.Row(0), m0/9, m1/9)
	}
	o, _ := Stride{Mode: "1d"}.Apply(v, 5)
	if !slices.Equal(o.Source, []int{0, 115, 230, 345, 460}) {
		t.Errorf("1-D stride %v", o.Source)
	}
	f, _ := FoPru{Strategy: "row"}.Apply(&Visual{Features: mat([]float32{1}, []float32{1}, []float32{1}, []float32{1}, []float32{1}, []float32{1}),
		CLSAttn: []float32{0.1, 0.1, 0.3, 0.2, 0.05, 0.25}, GridH: 3, GridW: 2}, 3)
	if !slices.Equal(f.Source, []int{2, 3, 5}) { // row 1 (mean 0.25) whole, then the best of row 2
		t.Errorf("fopru row %v", f.Source)
	}
}

func TestAdaptiveMass(t *testing.T) {
	v := &Visual{Features: mat([]float32{1}, []float32{2}, []float32{3}, []float32{4}, []float32{5}),
		CLSAttn: []float32{0.05, 0.5, 0.3, 0.1, 0.05}}
	a := NewAdaptive(0.8, Budget{}, Budget{}, "cls")
	r, _ := a.Apply(v, 5)
	if !slices.Equal(r.Source, []int{1, 2}) {
		t.Errorf("mass 0.8 kept %v, want [1 2]", r.Source)
	}
	r, _ = a.Apply(v, 1) // keep caps the count
	if !slices.Equal(r.Source, []int{1}) {
		t.Errorf("capped at 1: %v", r.Source)
	}
	b := NewAdaptive(0.8, KeepCount(3), Budget{}, "cls")
	if r, _ := b.Apply(v, 5); !slices.Equal(r.Source, []int{1, 2, 3}) {
		t.Errorf("min 3: %v", r.Source)
	}
	if c, m := a.KeptStats(); c != 2 || m != 1.5 {
		t.Errorf("stats %d calls mean %v", c, m)
	}
	z := NewAdaptive(0.5, Budget{}, Budget{}, "cls")
	if r, _ := z.Apply(testVisual(1, 10, 2, "zero"), 10); len(r.Source) != 5 {
		t.Errorf("zero scores, mass 0.5 of 10: %d tokens", len(r.Source))
	}
}

func TestPreDecoderErrors(t *testing.T) {
	good := testVisual(1, 6, 3, "rand")
	nan := testVisual(1, 6, 3, "rand")
	nan.Features.Data[4] = float32(math.NaN())
	short := testVisual(1, 6, 3, "rand")
	short.Features.Data = short.Features.Data[:10]
	badAttn := testVisual(1, 6, 3, "rand")
	badAttn.CLSAttn = badAttn.CLSAttn[:5]
	noKeys := testVisual(1, 6, 3, "rand")
	noKeys.Keys = Matrix{}
	badGrid := testVisual(1, 6, 3, "rand")
	badGrid.GridH = 4
	cases := []struct {
		m    PreDecoder
		v    *Visual
		keep int
		want error
	}{
		{DivPrune{}, nil, 1, ErrBadInput},
		{DivPrune{}, &Visual{}, 1, ErrMissingInput},
		{DivPrune{}, good, 0, ErrBudget},
		{DivPrune{}, good, 7, ErrBudget},
		{DivPrune{}, nan, 2, ErrBadInput},
		{CDPruner{}, short, 2, ErrBadInput},
		{FasterVLM{}, badAttn, 2, ErrBadInput},
		{VisionZip{}, noKeys, 2, ErrMissingInput},
		{FoPru{Strategy: "row"}, badGrid, 2, ErrBadInput},
		{CDPruner{Theta: 1}, good, 2, ErrBadValue},
		{Identity{}, nil, 1, ErrBadInput},
		{&Adaptive{Mass: 0}, good, 2, ErrBadValue},
	}
	for i, c := range cases {
		_, err := c.m.Apply(c.v, c.keep)
		if !errors.Is(err, c.want) {
			t.Errorf("case %d (%s): error %v, want %v", i, c.m.Name(), err, c.want)
		}
		if err != nil && err.Error()[:9] != "pruning: " {
			t.Errorf("case %d: error %q lacks the pruning: prefix", i, err)
		}
	}
	if err := Check(VisionZip{}, NeedFeatures); !errors.Is(err, ErrMissingInput) || err.Error() !=
		"pruning: method visionzip needs CLS attention, encoder keys, which the model does not provide: missing input" {
		t.Errorf("Check: %v", err)
	}
}

func TestOptionalInputsIgnored(t *testing.T) {
	v := testVisual(2, 12, 3, "rand")
	v.PreProj = randMat(rng(1), 3, 5) // e.g. before a 2×2 patch merger: another length
	for _, m := range []PreDecoder{Pool{}, ToMe{}, VisionZip{}} {
		res, err := m.Apply(v, 6)
		if err != nil || res.PreProj.Rows != 0 {
			t.Errorf("%s: %v, pre-projector rows %d", m.Name(), err, res.PreProj.Rows)
		}
	}
	nan := testVisual(2, 12, 3, "rand")
	nan.Features.Data[0] = float32(math.NaN())
	for _, m := range []PreDecoder{Random{}, Stride{}, FasterVLM{}} { // rows are copied, not scored
		if _, err := m.Apply(nan, 6); err != nil {
			t.Errorf("%s: %v", m.Name(), err)
		}
	}
	for _, m := range []PreDecoder{DivPrune{}, ToMe{}, CDPruner{}, ToDRE{}, DARTPre{ImagePivots: 4}} {
		if _, err := m.Apply(nan, 6); !errors.Is(err, ErrBadInput) {
			t.Errorf("%s accepted NaN features: %v", m.Name(), err)
		}
	}
}

// Methods are safe for concurrent use (run with -race).
func TestConcurrentUse(t *testing.T) {
	v := testVisual(4, 64, 8, "rand")
	ad := NewAdaptive(0.5, Budget{}, Budget{}, "cls")
	want, _ := DivPrune{}.Apply(v, 16)
	done := make(chan error, 8)
	for range 8 {
		go func() {
			r, err := DivPrune{}.Apply(v, 16)
			if err == nil && !slices.Equal(r.Source, want.Source) {
				err = fmt.Errorf("concurrent DivPrune chose %v, want %v", r.Source, want.Source)
			}
			if err == nil {
				_, err = ad.Apply(v, 64)
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if c, _ := ad.KeptStats(); c != 8 {
		t.Errorf("%d adaptive calls recorded, want 8", c)
	}
}
