package pruning

import (
	"fmt"
	"slices"
	"testing"
)

// seqState simulates the runner's prompt across in-decoder boundaries:
// prefix text, visual tokens, then text (the last row is the last token).
type seqState struct {
	hidden, keys Matrix
	img          []int
}

func newSeq(seed uint64, prefix, n, text, d int, zero bool) *seqState {
	r := rng(seed)
	L := prefix + n + text
	s := &seqState{hidden: randMat(r, L, d), keys: randMat(r, L, 8), img: seqFrom(prefix, prefix+n)}
	if zero {
		clear(s.hidden.Data)
		clear(s.keys.Data)
	}
	return s
}

func attnRows(r func() float32, heads, L int, zero bool) Matrix {
	m := Matrix{Rows: heads, Cols: L}
	for range heads {
		row := softmaxRow(r, L, 4)
		if zero {
			clear(row)
		}
		m.Data = append(m.Data, row...)
	}
	return m
}

func (s *seqState) boundary(layer int, r func() float32, zero bool) *Boundary {
	L := s.hidden.Rows
	return &Boundary{Layer: layer, Hidden: s.hidden, Attn: attnRows(r, 3, L, zero), ImageIdx: slices.Clone(s.img),
		LastToken: L - 1, Keys: s.keys}
}

// apply drops the unkept visual rows and inserts merged rows after the
// last kept visual token.
func (s *seqState) apply(t *testing.T, keep []int, merged Matrix) {
	t.Helper()
	rows, err := KeptRows(s.hidden.Rows, s.img, keep)
	if err != nil {
		t.Fatal(err)
	}
	insertAt := 0 // position in rows after which merged rows go
	if len(keep) > 0 {
		insertAt = slices.Index(rows, s.img[keep[len(keep)-1]]) + 1
	} else if len(s.img) > 0 {
		insertAt = s.img[0]
	}
	var h, k Matrix
	h.Cols, k.Cols = s.hidden.Cols, s.keys.Cols
	var img []int
	isImg := map[int]bool{}
	for _, j := range keep {
		isImg[s.img[j]] = true
	}
	add := func(hr, kr []float32, visual bool) {
		if visual {
			img = append(img, h.Rows)
		}
		h.Data, k.Data = append(h.Data, hr...), append(k.Data, kr...)
		h.Rows++
		k.Rows++
	}
	for i, r := range rows {
		if i == insertAt {
			for m := range merged.Rows {
				add(merged.Row(m), make([]float32, k.Cols), true)
			}
		}
		add(s.hidden.Row(r), s.keys.Row(r), isImg[r])
	}
	s.hidden, s.keys, s.img = h, k, img
}

var inSpecs = []string{"fastv", "fastv:k=1,r=0.75", "pdrop", "pdrop:layers=1/2,ratios=0.6/0.3", "sparsevlm",
	"sparsevlm:recycle=false", "sparsevlm:layers=0/1,counts=5/2", "aim", "aim:start=0,step=0.3", "dart",
	"dart:pivot=hidden,exact=true", "dart:image_pivots=1,text_pivots=0", "adaptive-fastv", "adaptive-fastv:mass=0.5,min=2,max=0.5",
	"mustdrop", "mustdrop:layers=0/1,global_thr=0.5,individual_thr=0.5,key=0", "zipvl", "zipvl:layers=0/2,tau=0.5,probes=0",
	"adaptive-fastv:signal=coverage", "adaptive-fastv:signal=coverage,radius=0,max=0.5",
	"holitom-inner:k=2", "holitom-inner:k=1,r=0.9", "holitom-inner:k=3,r=0", "dycoke-kv", "dycoke-kv:l=1,p=0"}

func TestInDecoderProperties(t *testing.T) {
	cases := 0
	for _, spec := range inSpecs {
		for _, bud := range []Budget{{}, KeepRatio(0.25), KeepRatio(1), KeepCount(3)} {
			pm, err := Parse(spec)
			if err != nil || pm.In == nil {
				t.Fatalf("Parse(%q): %v", spec, err)
			}
			m := pm.In
			if bm, ok := m.(Budgeted); ok && !bud.IsZero() {
				if m, err = bm.WithBudget(bud); err != nil {
					t.Fatal(err)
				}
			} else if !bud.IsZero() {
				continue
			}
			for _, n := range []int{0, 1, 2, 7, 40} {
				for _, zero := range []bool{false, true} {
					cases++
					where := fmt.Sprintf("%s budget %v N=%d zero=%v", spec, bud, n, zero)
					runInDecoder(t, where, m, n, zero, bud)
				}
			}
		}
	}
	t.Logf("%d in-decoder cases", cases)
}

func runInDecoder(t *testing.T, where string, m InDecoder, n int, zero bool, bud Budget) {
	t.Helper()
	s := newSeq(uint64(n+7), 3, n, 4, 6, zero)
	r := rng(uint64(n))
	var sched []int
	if sc, ok := m.(Scheduler); ok {
		var err error
		if sched, err = sc.Schedule(max(n, 1)); err != nil {
			t.Fatalf("%s: schedule: %v", where, err)
		}
		if len(sched) != len(m.Layers()) {
			t.Fatalf("%s: %d scheduled counts for layers %v", where, len(sched), m.Layers())
		}
	}
	for stage, layer := range m.Layers() {
		b := s.boundary(layer, r, zero)
		if rr, ok := m.(RowRequester); ok {
			rows, err := rr.QueryRows(b)
			if err != nil {
				t.Fatalf("%s: QueryRows: %v", where, err)
			}
			for _, q := range rows {
				if q < 0 || q >= s.hidden.Rows || slices.Contains(b.ImageIdx, q) {
					t.Fatalf("%s: rater %d is not a text row", where, q)
				}
				b.Queries = append(b.Queries, q)
				b.QueryAttn = append(b.QueryAttn, attnRows(r, 3, s.hidden.Rows, zero))
			}
		}
		var keep []int
		var merged Matrix
		var err error
		var rows Matrix
		if rc, ok := m.(Recycler); ok {
			keep, merged, err = rc.SelectRecycle(b, max(n, 1))
		} else if mg, ok := m.(Merger); ok {
			keep, rows, err = mg.SelectMerge(b, max(n, 1))
			if sel, _ := m.Select(b, max(n, 1)); err == nil && !slices.Equal(sel, keep) {
				t.Fatalf("%s: SelectMerge kept %v, Select %v", where, keep, sel)
			}
			if err == nil && (rows.Rows != len(keep) || (len(keep) > 0 && rows.Cols != s.hidden.Cols) || !allFinite(rows.Data)) {
				t.Fatalf("%s: %d merged rows %d×%d for %d kept", where, rows.Rows, rows.Rows, rows.Cols, len(keep))
			}
		} else {
			keep, err = m.Select(b, max(n, 1))
		}
		if err != nil {
			t.Fatalf("%s layer %d: %v", where, layer, err)
		}
		again, _ := m.Select(b, max(n, 1))
		if rc, ok := m.(Recycler); ok {
			again, _, _ = rc.SelectRecycle(b, max(n, 1))
		}
		if !slices.Equal(keep, again) {
			t.Fatalf("%s: not deterministic", where)
		}
		prev := len(s.img)
		for i, k := range keep {
			if k < 0 || k >= prev || (i > 0 && k <= keep[i-1]) {
				t.Fatalf("%s layer %d: kept %v not ascending in [0, %d)", where, layer, keep, prev)
			}
		}
		if merged.Rows > 0 && (merged.Cols != s.hidden.Cols || !allFinite(merged.Data)) {
			t.Fatalf("%s: merged rows %d×%d", where, merged.Rows, merged.Cols)
		}
		s.apply(t, keep, merged)
		now := len(s.img)
		if bud == KeepRatio(1) && m.Name() != "adaptive-fastv" && now != prev {
			t.Fatalf("%s layer %d: budget 1.0 changed %d visual tokens to %d", where, layer, prev, now)
		}
		if sched != nil && n > 0 {
			want := min(sched[stage], prev)
			if m.Name() == "sparsevlm" {
				want = sched[stage]
			}
			if now != want {
				t.Fatalf("%s layer %d: %d visual tokens, schedule %v says %d", where, layer, now, sched, want)
			}
		}
		if (m.Name() == "adaptive-fastv" || m.Name() == "zipvl" || m.Name() == "mustdrop") && prev > 0 && (now < 1 || now > prev) {
			t.Fatalf("%s: adaptive kept %d of %d", where, now, prev)
		}
	}
}

func TestDARTPivots(t *testing.T) {
	// Sequence: a b c d (visual) then one text row. Key L1 norms make a the
	// only visual pivot; B = 2 adds the two tokens least similar to a: d, c.
	b := &Boundary{
		Layer:     1,
		Hidden:    mat([]float32{1, 0}, []float32{0.99, 0.1}, []float32{0, 1}, []float32{-1, 0}, []float32{-0.6, 0.8}),
		Keys:      mat([]float32{9, 9}, []float32{1, 0}, []float32{1, 0}, []float32{1, 0}, []float32{1, 1}),
		ImageIdx:  []int{0, 1, 2, 3},
		LastToken: 4,
	}
	m, _ := DART{K: 2, ImagePivots: 1, TextPivots: 0}.WithBudget(KeepCount(2))
	keep, err := m.Select(b, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keep, []int{0, 2, 3}) {
		t.Errorf("kept %v, want [0 2 3]", keep)
	}
	// A final-norm weight that flattens the second dimension makes c (0, 1)
	// a zero vector (cos 0) and b (0.99, 0) a duplicate of a.
	b.NormWeight = []float32{1, 0}
	if keep, _ = m.Select(b, 4); !slices.Equal(keep, []int{0, 2, 3}) {
		t.Errorf("with norm weight: kept %v", keep)
	}
	// With a text pivot each pivot adds one: a adds d, then the text row
	// (−0.6, 0.8) adds b (cos −0.52) rather than c (cos 0.8).
	m2, _ := DART{K: 2, ImagePivots: 1, TextPivots: 1}.WithBudget(KeepCount(2))
	b.NormWeight = nil
	if keep, _ = m2.Select(b, 4); !slices.Equal(keep, []int{0, 1, 3}) {
		t.Errorf("with a text pivot: kept %v, want [0 1 3]", keep)
	}
}

func TestSparseVLMRaters(t *testing.T) {
	s := newSeq(5, 2, 10, 5, 4, false)
	r := rng(9)
	b := s.boundary(2, r, false)
	m := SparseVLM{LayerList: []int{2}, Counts: []int{3}}
	rows, err := m.QueryRows(b)
	if err != nil || len(rows) == 0 {
		t.Fatalf("raters %v, %v", rows, err)
	}
	// Rater rows that put all mass on visual tokens 4, 6 and 9 decide.
	att := Matrix{Rows: 1, Cols: s.hidden.Rows, Data: make([]float32, s.hidden.Rows)}
	for _, j := range []int{4, 6, 9} {
		att.Data[b.ImageIdx[j]] = 1.0 / 3
	}
	for _, q := range rows {
		b.Queries = append(b.Queries, q)
		b.QueryAttn = append(b.QueryAttn, att)
	}
	keep, merged, err := m.SelectRecycle(b, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keep, []int{4, 6, 9}) || merged.Rows != 0 {
		t.Errorf("kept %v (merged %d rows), want [4 6 9] and no recycling", keep, merged.Rows)
	}
	m.Recycle = true
	_, merged, _ = m.SelectRecycle(b, 10)
	// 7 pruned → int(2.1)+1 = 3 recycled → 1 cluster.
	if merged.Rows != 1 {
		t.Errorf("%d recycled clusters, want 1", merged.Rows)
	}
}

func TestDPCKnn(t *testing.T) {
	// Two tight groups far apart: two clusters, each the mean of its group.
	x := mat([]float32{0, 0}, []float32{0.1, 0}, []float32{0, 0.1}, []float32{10, 10}, []float32{10.1, 10}, []float32{10, 10.1})
	out := dpcKnnMerge(x, 2)
	got := [][]float32{out.Row(0), out.Row(1)}
	slices.SortFunc(got, func(a, b []float32) int { return int(a[0] - b[0]) })
	wantRows(t, "clusters", Matrix{Rows: 2, Cols: 2, Data: append(slices.Clone(got[0]), got[1]...)},
		[][]float32{{0.1 / 3, 0.1 / 3}, {30.1 / 3, 30.1 / 3}}, 1e-4)
}

func TestAIMScores(t *testing.T) {
	// Sharpening with τ: p^(1/τ) normalised; RMS over heads.
	a := mat([]float32{0.5, 0.25, 0.25}, []float32{0.25, 0.5, 0.25})
	s := aimScores(a, []int{0, 1, 2}, 1)
	for j, w := range []float64{0.3952847, 0.3952847, 0.25} {
		if !near(s[j], w, 1e-6) {
			t.Errorf("τ=1 score %d = %v, want %v", j, s[j], w)
		}
	}
	s = aimScores(a, []int{0, 1, 2}, 0.1)
	if !(s[0] > 0.7 && s[2] < 1e-2) {
		t.Errorf("τ=0.1 scores %v not sharpened", s)
	}
}
