package decoder

import (
	"context"
	"math"
	"slices"
	"sort"
	"testing"

	"github.com/vlmrun/vlmrun/pruning"
)

// The temporal methods' in-decoder hooks (DyCoke's decode-time KV
// selection, HoliTom's inner-LLM merge) against references written here
// from the rules in ../shared/reference/pruning-methods-2.md §2.2 and §3
// (c′), driving the stage graphs directly (cut after every layer, unlike
// the runner's cuts at the method's layer only).

var twins = []string{"../models/smolvlm/testdata/smolvlm-twin-torch", "../models/scenes-tiny"}

// refTopK returns the k largest of s (ties: lowest index), ascending.
func refTopK(s []float64, k int) []int {
	idx := make([]int, len(s))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return s[idx[a]] > s[idx[b]] })
	out := slices.Clone(idx[:k])
	slices.Sort(out)
	return out
}

// headMean returns mean over heads of a [heads, 1, T] attention block at
// the columns cols.
func headMean(attn []float32, heads, T int, cols []int) []float64 {
	a := make([]float64, len(cols))
	for h := 0; h < heads; h++ {
		for j, c := range cols {
			a[j] += float64(attn[h*T+c])
		}
	}
	for j := range a {
		a[j] /= float64(heads)
	}
	return a
}

// dycokeReference generates n greedy ids with DyCoke's stage 2 done by
// hand: at each decode step, layer l−1's head-mean attention a of the new
// token over the visual rows; sim = cos(a, a_prev) (0 at the first step);
// if sim < thr the layers ≥ l attend to the top int(n·(1−p)) visual rows
// by a and every other row. It returns the ids and the selecting steps.
func dycokeReference(t *testing.T, lm *LM, x []float32, L int, imageIdx []int, l int, p, thr float64, n int) ([]int, int) {
	t.Helper()
	d := lm.d
	var cuts []int
	for c := 0; c < d.Layers-1; c++ {
		cuts = append(cuts, c)
	}
	set, _, err := lm.split.set(cuts)
	if err != nil {
		t.Fatal(err)
	}
	g := &gen{m: lm}
	caches := lm.newCaches(L + n)
	pos := make([]int64, L)
	for i := range pos {
		pos[i] = int64(i)
	}
	h := slices.Clone(x)
	var ids []int
	var prev []float64
	selected := 0
	for step := 0; len(ids) < n; step++ {
		s := len(pos)
		out := make([]float32, s*d.Hidden)
		logits := make([]float32, d.Vocab)
		var mask []int64
		for si, st := range set.stages {
			T := caches[st.first].Len + s
			var attn []float32
			if st.hasAttn {
				attn = make([]float32, d.Heads*T)
			}
			target := out
			if si == len(set.stages)-1 {
				target = logits
			}
			var m []int64
			if st.first >= l && mask != nil {
				m = mask
			}
			if err := g.runStage(st, caches, h, posIDs{dims: 1, p: pos}, []int64{int64(s - 1)}, m, target, attn); err != nil {
				t.Fatal(err)
			}
			if st.last == l-1 && step > 0 {
				a := headMean(attn, d.Heads, T, imageIdx)
				sim := 0.0
				if prev != nil {
					var ab, aa, bb float64
					for i := range a {
						ab, aa, bb = ab+a[i]*prev[i], aa+a[i]*a[i], bb+prev[i]*prev[i]
					}
					sim = ab / math.Sqrt(aa*bb)
				}
				prev = a
				if sim < thr {
					selected++
					mask = make([]int64, T)
					for i := range mask {
						mask[i] = 1
					}
					for _, r := range imageIdx {
						mask[r] = 0
					}
					for _, j := range refTopK(a, int(float64(len(a))*(1-p))) {
						mask[imageIdx[j]] = 1
					}
				}
			}
			h, out = out, h
		}
		id := argmax(logits)
		ids = append(ids, id)
		e, err := lm.Embed([]int{id})
		if err != nil {
			t.Fatal(err)
		}
		h = make([]float32, d.Hidden)
		copy(h, e)
		pos = []int64{int64(L + step)}
	}
	return ids, selected
}

// DyCoke's decode-time selection in the runner generates the ids of the
// hand-driven reference, over many decode steps, selecting at some steps;
// p = 0 (every image key selected) reproduces the unpruned run; the KV is
// never shrunk.
func TestDyCokeKVEqualsReference(t *testing.T) {
	for _, dir := range twins {
		lm := openLMAt(t, dir, "")
		const L, nImg, n = 48, 36, 10
		x, pos, imageIdx := randomPrompt(t, lm, 5, L, 2, nImg)
		in := Input{Embeds: x, Positions: pos, NextPos: L, ImageIdx: imageIdx, TotalVisual: nImg}
		base, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: n, Form: FormLayers}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			l      int
			p, thr float64
		}{{3, 0.8, 0.9}, {2, 0.5, 1}, {1, 0.8, 0.99}, {2, 0, 1}, {2, 0.8, -1}, {1, 0.8, 0.5}, {3, 0.8, 0.3}} {
			m := pruning.DyCokeKV{L: c.l, P: c.p, Threshold: c.thr}
			out, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: n, Prune: m}, nil)
			if err != nil {
				t.Fatal(err)
			}
			want, sel := dycokeReference(t, lm, x, L, imageIdx, c.l, c.p, c.thr, n)
			if !slices.Equal(out.IDs, want) || out.SelectedSteps != sel {
				t.Errorf("%s %+v: ids %v (%d selecting steps), reference %v (%d)", dir, c, out.IDs, out.SelectedSteps, want, sel)
			}
			for l, r := range out.LayerRows {
				if r != L {
					t.Errorf("%s %+v: layer %d cached %d rows, want all %d", dir, c, l, r, L)
				}
			}
			if c.thr == 1 && sel == 0 {
				t.Errorf("%s %+v: threshold 1 selected at no step", dir, c)
			}
			if c.thr == -1 && (sel != 0 || !slices.Equal(out.IDs, base.IDs)) {
				t.Errorf("%s %+v: threshold -1 (never select): %d selecting steps, ids %v, unpruned %v", dir, c, sel, out.IDs, base.IDs)
			}
			if c.p == 0 && !slices.Equal(out.IDs, base.IDs) {
				t.Errorf("%s %+v: p=0 ids %v, unpruned %v", dir, c, out.IDs, base.IDs)
			}
			t.Logf("%s l=%d p=%g threshold=%g: %d of %d decode steps selected, ids %v (unpruned %v)",
				dir, c.l, c.p, c.thr, out.SelectedSteps, n-1, out.IDs, base.IDs)
		}
	}
}

// capture forwards an in-decoder Merger and keeps a copy of the boundary
// it was given.
type capture struct {
	pruning.InDecoder
	b *pruning.Boundary
}

func (c *capture) SelectMerge(b *pruning.Boundary, total int) ([]int, pruning.Matrix, error) {
	cp := *b
	cp.Hidden.Data = slices.Clone(b.Hidden.Data)
	cp.Attn.Data = slices.Clone(b.Attn.Data)
	cp.ImageIdx = slices.Clone(b.ImageIdx)
	c.b = &cp
	return c.InDecoder.(pruning.Merger).SelectMerge(b, total)
}

// holitomReference computes HoliTom's inner merge from a boundary: keep the
// round(n·(1−r)) largest head-mean attentions, fold each other row (in
// ascending order) into its most cosine-similar kept row by (h_t + h_j)/2,
// similarities taken on the unmerged rows. It returns the dropped sequence
// rows and the kept rows' new hidden states by sequence row.
func holitomReference(b *pruning.Boundary, r float64) ([]int, map[int][]float64) {
	D := b.Hidden.Cols
	row := func(i int) []float64 {
		out := make([]float64, D)
		for k := range out {
			out[k] = float64(b.Hidden.Data[i*D+k])
		}
		return out
	}
	a := make([]float64, len(b.ImageIdx))
	for h := 0; h < b.Attn.Rows; h++ {
		for j, c := range b.ImageIdx {
			a[j] += float64(b.Attn.Data[h*b.Attn.Cols+c]) / float64(b.Attn.Rows)
		}
	}
	n := len(a)
	keep := refTopK(a, max(1, int(math.RoundToEven(float64(n)*(1-r)))))
	cos := func(u, v []float64) float64 {
		var uv, uu, vv float64
		for k := range u {
			uv, uu, vv = uv+u[k]*v[k], uu+u[k]*u[k], vv+v[k]*v[k]
		}
		return uv / math.Sqrt(uu*vv)
	}
	merged := map[int][]float64{}
	for _, j := range keep {
		merged[b.ImageIdx[j]] = row(b.ImageIdx[j])
	}
	var dropped []int
	for j := 0; j < n; j++ {
		if slices.Contains(keep, j) {
			continue
		}
		src := b.ImageIdx[j]
		dropped = append(dropped, src)
		best, bs := -1, math.Inf(-1)
		for _, k := range keep {
			if c := cos(row(src), row(b.ImageIdx[k])); c > bs {
				best, bs = b.ImageIdx[k], c
			}
		}
		for k, v := range row(src) {
			merged[best][k] = (merged[best][k] + v) / 2
		}
	}
	return dropped, merged
}

// HoliTom's inner merge in the runner gives the logits of the full
// sequence run with, after the boundary, the dropped rows masked out and
// the kept rows' hidden states replaced by the reference merge (original
// positions: dropping equals masking, TestInDecoderDropEqualsMasking);
// r = 0 reproduces the unpruned ids.
func TestHoliTomInnerEqualsReference(t *testing.T) {
	for _, dir := range twins {
		lm := openLMAt(t, dir, "")
		d := lm.d
		const L, nImg = 50, 37
		x, pos, imageIdx := randomPrompt(t, lm, 9, L, 3, nImg)
		in := Input{Embeds: x, Positions: pos, NextPos: L, ImageIdx: imageIdx, TotalVisual: nImg}
		for _, c := range []struct {
			k int
			r float64
		}{{2, 0.5}, {1, 0.8}, {3, 0.25}} {
			cp := &capture{InDecoder: pruning.HoliTomInner{K: c.k, R: c.r}}
			out, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: 1, Prune: cp}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if cp.b == nil {
				t.Fatalf("%s %+v: the runner did not call SelectMerge", dir, c)
			}
			dropped, merged := holitomReference(cp.b, c.r)
			ref := stagedReference(t, lm, x, pos, c.k-1, dropped, merged)
			maxDiff := 0.0
			for i := range ref {
				maxDiff = math.Max(maxDiff, math.Abs(float64(ref[i]-out.FirstLogits[i])))
			}
			if maxDiff > 1e-4 {
				t.Errorf("%s %+v: max |logit diff| %.3g > 1e-4", dir, c, maxDiff)
			}
			if want := L - len(dropped); out.LayerRows[d.Layers-1] != want || out.LayerRows[0] != L {
				t.Errorf("%s %+v: KV rows %v, want %d before and %d after the boundary", dir, c, out.LayerRows, L, want)
			}
			t.Logf("%s k=%d r=%g: %d of %d visual rows merged away, KV rows %v, max |logit diff| %.2g",
				dir, c.k, c.r, len(dropped), nImg, out.LayerRows, maxDiff)
		}
		base, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: 8, Form: FormLayers}, nil)
		if err != nil {
			t.Fatal(err)
		}
		same, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: 8, Prune: pruning.HoliTomInner{K: 2, R: 0}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(same.IDs, base.IDs) {
			t.Errorf("%s: r=0 ids %v, unpruned %v", dir, same.IDs, base.IDs)
		}
	}
}

// stagedReference runs the full sequence through every layer (cut after
// each); after layer boundary the rows dropped are masked out of attention
// and the rows in replace get the given hidden states. It returns the last
// position's logits.
func stagedReference(t *testing.T, lm *LM, x []float32, pos []int64, boundary int, dropped []int, replace map[int][]float64) []float32 {
	t.Helper()
	d := lm.d
	s := len(pos)
	var cuts []int
	for l := 0; l < d.Layers-1; l++ {
		cuts = append(cuts, l)
	}
	set, _, err := lm.split.set(cuts)
	if err != nil {
		t.Fatal(err)
	}
	g := &gen{m: lm}
	caches := lm.newCaches(s)
	h := slices.Clone(x)
	out := make([]float32, len(x))
	logits := make([]float32, d.Vocab)
	mask := slices.Clone(g.mask(s))
	for _, r := range dropped {
		mask[r] = 0
	}
	for si, st := range set.stages {
		var m []int64
		if st.first > boundary {
			m = mask
		}
		var attn []float32
		if st.hasAttn {
			attn = make([]float32, d.Heads*s)
		}
		target := out
		if si == len(set.stages)-1 {
			target = logits
		}
		if err := g.runStage(st, caches, h, posIDs{dims: 1, p: pos}, []int64{int64(s - 1)}, m, target, attn); err != nil {
			t.Fatal(err)
		}
		if st.last == boundary {
			for r, v := range replace {
				for k := range v {
					out[r*d.Hidden+k] = float32(v[k])
				}
			}
		}
		h, out = out, h
	}
	return logits
}
