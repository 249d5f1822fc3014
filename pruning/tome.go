package pruning

import (
	"math"
	"slices"
)

// ToMe bipartite soft matching (Bolya et al., ICLR'23; facebookresearch/ToMe
// tome/merge.py, reference §3.9), applied to the encoder output as AIM and
// HoliTom do.
//
// One round removing r tokens (r <= ⌊t/2⌋): normalise the metric; A = even
// positions 0,2,4,…, B = odd positions; score[a,b] = cos; each a takes its
// best b (ties: first b); A is sorted by best score descending (ties: lower
// position); the first r of A are merged into their best b (several may hit
// the same b), the rest stay. Output order = [unmerged A in that descending
// order ; all B in original order]. Rounds repeat with r = min(t − keep, ⌊t/2⌋)
// until keep tokens remain, each on the previous round's output order (AIM:
// r = N/2 then N/4 for 25 %), so the count is exactly keep.
//
// Mode "wavg" (ToMe merge_wavg, default): x = Σ size_i·x_i / Σ size_i, sizes
// add. Mode "mean" (AIM token_merge, scatter mean including the destination,
// no size tracking): x = mean of the destination and its sources as they are
// in this round. Metric "features" (AIM: the tokens themselves, default) or
// "keys" (ToMe-ViT: Visual.Keys, merged with the same rule for later rounds).
// Source is the destination's original index; Sizes the number of inputs
// merged; Order "spatial" sorts the tokens by Source after every round
// (which changes the next round's even/odd split). Pre-projector features are
// merged alike when given with N rows. Positions renumbered.
type ToMe struct {
	Mode   string // "wavg" (default) or "mean"
	Metric string // "features" (default) or "keys"
	Order  string // "official" (default) or "spatial"
}

// Name implements PreDecoder.
func (ToMe) Name() string { return "tome" }

// Needs implements PreDecoder.
func (m ToMe) Needs() Need {
	if m.Metric == "keys" {
		return NeedFeatures | NeedKeys
	}
	return NeedFeatures
}

// tomeTokens is the state between rounds.
type tomeTokens struct {
	x, z, k Matrix // features, pre-projector (optional), key metric (optional)
	src     []int
	size    []int
}

// Apply implements PreDecoder.
func (m ToMe) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(m, v, keep)
	if err != nil {
		return Result{}, err
	}
	if keep == n {
		return identityResult(v), nil
	}
	t := tomeTokens{x: v.Features, src: seq(n), size: make([]int, n)}
	for i := range t.size {
		t.size[i] = 1
	}
	if preProjUsable(v) {
		t.z = v.PreProj
	}
	if m.Metric == "keys" {
		t.k = v.Keys
	}
	for len(t.src) > keep {
		cur := len(t.src)
		t = tomeRound(t, min(cur-keep, cur/2), m.Mode == "mean")
		if m.Order == "spatial" {
			t = t.sorted()
		}
	}
	res := Result{Source: t.src, Sizes: t.size, Features: t.x, Positions: Renumber}
	if t.z.Rows > 0 {
		res.PreProj = t.z
	}
	return res, nil
}

// tomeRound performs one bipartite merge removing r tokens.
func tomeRound(t tomeTokens, r int, plainMean bool) tomeTokens {
	cur := len(t.src)
	metric := t.x
	if t.k.Rows > 0 {
		metric = t.k
	}
	d := metric.Cols
	na, nb := (cur+1)/2, cur/2
	an := make([]float32, na*d)
	bn := make([]float32, nb*d)
	for i := range cur {
		if i%2 == 0 {
			normalizeInto(an[(i/2)*d:(i/2+1)*d], metric.Row(i))
		} else {
			normalizeInto(bn[(i/2)*d:(i/2+1)*d], metric.Row(i))
		}
	}
	best := make([]float64, na)
	bestB := make([]int, na)
	parallelFor(na, 16, func(lo, hi int) {
		row := make([]float64, nb)
		for a := lo; a < hi; a++ {
			dotRows(an[a*d:(a+1)*d], bn, d, row)
			bi, bs := 0, math.Inf(-1)
			for b, s := range row {
				if s > bs {
					bi, bs = b, s
				}
			}
			best[a], bestB[a] = bs, bi
		}
	})
	edge := orderDesc(best)
	srcOf := make([][]int, nb) // sources (A positions) merged into each b
	for _, a := range edge[:r] {
		srcOf[bestB[a]] = append(srcOf[bestB[a]], a)
	}
	// Output rows, as indices of the current tokens plus merge groups.
	groups := make([][]int, 0, cur-r)
	for _, a := range edge[r:] {
		groups = append(groups, []int{2 * a})
	}
	for b := range nb {
		g := []int{2*b + 1}
		for _, a := range srcOf[b] {
			g = append(g, 2*a)
		}
		groups = append(groups, g)
	}
	out := tomeTokens{src: make([]int, len(groups)), size: make([]int, len(groups))}
	for i, g := range groups {
		out.src[i] = t.src[g[0]]
		for _, j := range g {
			out.size[i] += t.size[j]
		}
	}
	out.x = mergeGroups(t.x, groups, t.size, plainMean)
	if t.z.Rows > 0 {
		out.z = mergeGroups(t.z, groups, t.size, plainMean)
	}
	if t.k.Rows > 0 {
		out.k = mergeGroups(t.k, groups, t.size, plainMean)
	}
	return out
}

// mergeGroups returns one row per group: the size-weighted mean of its rows
// (plainMean=false, ToMe) or their plain mean (AIM).
func mergeGroups(m Matrix, groups [][]int, size []int, plainMean bool) Matrix {
	out := Matrix{Rows: len(groups), Cols: m.Cols, Data: make([]float32, len(groups)*m.Cols)}
	acc := make([]float64, m.Cols)
	for gi, g := range groups {
		dst := out.Row(gi)
		if len(g) == 1 {
			copy(dst, m.Row(g[0]))
			continue
		}
		clear(acc)
		wsum := 0.0
		for _, j := range g {
			w := 1.0
			if !plainMean {
				w = float64(size[j])
			}
			wsum += w
			for k, x := range m.Row(j) {
				acc[k] += w * float64(x)
			}
		}
		for k := range dst {
			dst[k] = float32(acc[k] / wsum)
		}
	}
	return out
}

// sorted returns t with its tokens ordered by ascending source.
func (t tomeTokens) sorted() tomeTokens {
	perm := seq(len(t.src))
	slices.SortFunc(perm, func(a, b int) int { return t.src[a] - t.src[b] })
	out := tomeTokens{src: make([]int, len(perm)), size: make([]int, len(perm))}
	for i, p := range perm {
		out.src[i], out.size[i] = t.src[p], t.size[p]
	}
	out.x = Gather(t.x, perm)
	if t.z.Rows > 0 {
		out.z = Gather(t.z, perm)
	}
	if t.k.Rows > 0 {
		out.k = Gather(t.k, perm)
	}
	return out
}
