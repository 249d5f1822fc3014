package pruning

import (
	"math"
	"slices"
)

// HoliTom's outer-LLM stage (NeurIPS'25, arXiv 2505.21334;
// cokeshao/HoliTom holitom/llava_arch.py; ModelTC/llmc holitom.py):
// global redundancy-aware temporal segmentation plus spatio-temporal merging.
// ρ (RETAIN_RATIO, 0.1 in the reference) is the budget: ρ = keep/N.
//
//  1. sim[t][i] = cos(X[t][i], X[t+1][i]).
//  2. c[s,e] = (#positions with sim[t][i] > Tau for every t in [s, e−1]) ×
//     (e−s): tokens saved by collapsing the window's static positions.
//  3. dp[i] = max(dp[i−1], max over w = 2..min(i+1, MaxWindow) of
//     dp[i−w] + c[i−w+1, i]) (dp[−1] = 0); only a strictly larger value
//     replaces the best (ties: the shorter, finally the singleton). The
//     backtrack gives the windows; R = dp[F−1] tokens saved.
//  4. ρ' = min(ρ / ((F·n − R)/(F·n)), 1).
//  5. In a window of more than one frame, positions static over the whole
//     window become one token each (the mean over the window's frames);
//     the rest stay per frame (dynamic).
//  6. Dynamic tokens of each frame: ceil(n_dyn·ρ') kept; dominant =
//     round(that·(1−D)) by attention, contextual = the rest as DPC-kNN
//     cluster merges of the other dynamic tokens (D = 0, the default,
//     has none).
//  7. Static tokens of a window: round(n_static·ρ') (half to even) DPC-kNN
//     centres with k = min(KNN, that); every other static token joins its
//     nearest centre; a centre with members becomes β·centre +
//     (1−β)·mean(members) (β = 0.6: the reference prints NO_BETA's default
//     as 1 but reads it as 0, so the β-weighted form is what runs).
//  8. Order (one_token newline mode): per window, the static tokens (by
//     centre position), then each frame's dynamic tokens by position.
//
// Decided deviations: the attention is SigLIP's head- and query-mean
// attention in the reference; vlmrun uses Visual.CLSAttn when present, else
// the token's L2 norm. When round(n_static·ρ') is 0 the static tokens of
// the window are kept as one cluster (the reference's behaviour for 0
// clusters is not defined in the code read). DPC ties: lowest index (the
// reference's 1e-6 noise makes the k = 1 case random); Seed adds that noise
// from a seeded generator. Renumbered positions (as the reference). keep =
// N keeps every token; below the count the lowest-attention dynamic tokens
// and the smallest static clusters go first.
//
// The inner-LLM merge (after layer K−1: keep round(n·(1−r)) tokens by the
// last token's attention and fold the others into their most similar kept
// hidden state) is the in-decoder method HoliTomInner ("holitom-inner").
type HoliTom struct {
	Tau       float64 // 0.8
	Beta      float64 // 0.6
	D         float64 // 0
	KNN       int     // 7
	MaxWindow int     // 1024
	Seed      string
	Scope     string
}

// Name implements PreDecoder.
func (HoliTom) Name() string { return "holitom" }

// Needs implements PreDecoder.
func (HoliTom) Needs() Need { return NeedFeatures }

// Apply implements PreDecoder.
func (m HoliTom) Apply(v *Visual, keep int) (Result, error) {
	F, n, err := checkTemporal(m, v, keep, m.Scope)
	if err != nil {
		return Result{}, err
	}
	N := F * n
	if keep == N {
		return identityResult(v), nil
	}
	outs := m.plan(v, float64(keep)/float64(N), F, n)
	return toResult(v, capOutputs(outs, keep, F, m.Scope)), nil
}

// plan returns HoliTom's outputs for retain ratio rho, before the budget
// cut (the reference's count can exceed rho·N: ceil per frame, at least
// one static cluster).
func (m HoliTom) plan(v *Visual, rho float64, F, n int) []tout {
	N := F * n
	x := v.Features
	att := tokenScore(v)
	nz := seededNoise(m.Seed)
	sim := make([][]float64, max(0, F-1))
	for t := range sim {
		sim[t] = make([]float64, n)
		for i := range n {
			sim[t][i] = cosine(x.Row(t*n+i), x.Row((t+1)*n+i))
		}
	}
	windows, saved := HoliTomSegments(sim, n, m.Tau, m.MaxWindow)
	rhoP := min(rho/(float64(N-saved)/float64(N)), 1)
	var outs []tout
	for _, w := range windows {
		s, e := w[0], w[1]
		static := make([]bool, n)
		var stat []int
		if e > s {
			for i := range n {
				static[i] = true
				for t := s; t < e; t++ {
					static[i] = static[i] && sim[t][i] > m.Tau
				}
				if static[i] {
					stat = append(stat, i)
				}
			}
		}
		if len(stat) > 0 {
			sm := Matrix{Rows: len(stat), Cols: x.Cols}
			for _, i := range stat {
				idx := make([]int, 0, e-s+1)
				for f := s; f <= e; f++ {
					idx = append(idx, f*n+i)
				}
				sm.Data = append(sm.Data, meanOf(x, idx)...)
			}
			nc := max(1, int(math.RoundToEven(float64(len(stat))*rhoP)))
			cent, groups := m.merge(sm, nc, nz)
			for c, j := range cent {
				outs = append(outs, tout{src: s*n + stat[j], frame: s, feat: groups[c].feat,
					size: groups[c].size * (e - s + 1), prio: 1 + float64(groups[c].size)})
			}
		}
		for f := s; f <= e; f++ {
			var dyn []int
			for i := range n {
				if !static[i] {
					dyn = append(dyn, f*n+i)
				}
			}
			if len(dyn) == 0 {
				continue
			}
			total := int(math.Ceil(float64(len(dyn)) * rhoP))
			dom := int(math.RoundToEven(float64(total) * (1 - m.D)))
			sc := make([]float64, len(dyn))
			for j, t := range dyn {
				sc[j] = att[t]
			}
			order := orderDesc(sc)
			sel := slices.Clone(order[:dom])
			slices.Sort(sel)
			var fo []tout
			for _, j := range sel {
				fo = append(fo, tout{src: dyn[j], frame: f, size: 1, prio: sc[j]})
			}
			if ctx := total - dom; ctx > 0 && len(order) > dom {
				rest := slices.Clone(order[dom:])
				slices.Sort(rest)
				cent, groups := m.merge(rowsOf(x, idxOf(dyn, rest)), ctx, nz)
				for c, j := range cent {
					fo = append(fo, tout{src: dyn[rest[j]], frame: f, feat: groups[c].feat, size: groups[c].size, prio: 0})
				}
				slices.SortStableFunc(fo, func(a, b tout) int { return a.src - b.src })
			}
			outs = append(outs, fo...)
		}
	}
	return outs
}

func idxOf(base, pick []int) []int {
	out := make([]int, len(pick))
	for i, p := range pick {
		out[i] = base[p]
	}
	return out
}

type merged struct {
	feat []float32
	size int
}

// merge clusters x into nc DPC-kNN centres (k = min(KNN, nc)) and returns
// the centres (rows of x, sorted by index) with their β-merged features.
func (m HoliTom) merge(x Matrix, nc int, nz noise) ([]int, []merged) {
	d := newDPC(x, min(m.KNN, max(1, nc)), nz)
	cent, assign := d.centres(nc)
	rank := seq(len(cent))
	slices.SortFunc(rank, func(a, b int) int { return cent[a] - cent[b] })
	out := make([]merged, len(cent))
	sorted := make([]int, len(cent))
	for r, c := range rank {
		sorted[r] = cent[c]
		var mem []int
		for i, a := range assign {
			if a == c && i != cent[c] {
				mem = append(mem, i)
			}
		}
		f := slices.Clone(x.Row(cent[c]))
		if len(mem) > 0 {
			mean := meanOf(x, mem)
			for k := range f {
				f[k] = float32(m.Beta*float64(f[k]) + (1-m.Beta)*float64(mean[k]))
			}
		}
		out[r] = merged{feat: f, size: len(mem) + 1}
	}
	return sorted, out
}

// HoliTomSegments runs steps 2–3 on the consecutive similarities sim
// (F−1 rows of n) and returns the windows [start, end] (inclusive) and R.
func HoliTomSegments(sim [][]float64, n int, tau float64, maxWindow int) ([][2]int, int) {
	F := len(sim) + 1
	// c[s][e]: static positions over [s, e] × (e − s)
	c := make([][]int, F)
	for s := range F {
		c[s] = make([]int, F)
		still := make([]bool, n)
		for i := range still {
			still[i] = true
		}
		for e := s + 1; e < F && e-s+1 <= maxWindow; e++ {
			cnt := 0
			for i := range n {
				still[i] = still[i] && sim[e-1][i] > tau
				if still[i] {
					cnt++
				}
			}
			c[s][e] = cnt * (e - s)
		}
	}
	dp := make([]int, F)
	prev := make([]int, F)
	at := func(i int) int {
		if i < 0 {
			return 0
		}
		return dp[i]
	}
	for i := range F {
		dp[i], prev[i] = at(i-1), i
		for w := 2; w <= min(i+1, maxWindow); w++ {
			if v := at(i-w) + c[i-w+1][i]; v > dp[i] {
				dp[i], prev[i] = v, i-w+1
			}
		}
	}
	var wins [][2]int
	for i := F - 1; i >= 0; i = prev[i] - 1 {
		wins = append(wins, [2]int{prev[i], i})
	}
	slices.Reverse(wins)
	return wins, dp[F-1]
}

// HoliTomInnerMerge is HoliTom's inner-LLM merge on the image rows h
// (n × D) with the last prompt token's head-mean attention attn (n):
// keep the top round(n·(1−r)) (half to even, at least one) by attention;
// then, visiting the others in ascending index, fold each into its most
// cosine-similar kept row (similarities computed once, on the rows before
// any merge): h_t ← (h_t + h_j)/2 — a running pairwise average, as the
// reference. It returns the kept indices (ascending) and their rows.
func HoliTomInnerMerge(h Matrix, attn []float64, r float64) ([]int, Matrix) {
	n := h.Rows
	return holiTomMergeK(h, attn, max(1, min(n, int(math.RoundToEven(float64(n)*(1-r))))))
}

// holiTomMergeK is HoliTomInnerMerge keeping k rows.
func holiTomMergeK(h Matrix, attn []float64, k int) ([]int, Matrix) {
	n := h.Rows
	kept := topK(attn, k)
	isKept := make([]bool, n)
	for _, j := range kept {
		isKept[j] = true
	}
	out := Gather(h, kept)
	best := make([]int, n)
	for j := range n {
		if isKept[j] {
			continue
		}
		b, bs := 0, math.Inf(-1)
		for ki, t := range kept {
			if c := cosine(h.Row(j), h.Row(t)); c > bs {
				b, bs = ki, c
			}
		}
		best[j] = b
	}
	for j := range n {
		if isKept[j] || len(kept) == 0 {
			continue
		}
		row := out.Row(best[j])
		for d, v := range h.Row(j) {
			row[d] = float32((float64(row[d]) + float64(v)) / 2)
		}
	}
	return kept, out
}

// HoliTomInner is HoliTom's inner-LLM merge as an in-decoder method
// (cokeshao/HoliTom holitom/modeling_qwen2.py; enabled there by HOLITOM_k
// and HOLITOM_r, scripts k = 18, r = 0.5): at the boundary after layer K−1
// of the prefill, keep the round(n·(1−R)) visual tokens (half to even, at
// least one; n = the visual tokens present) with the largest head-mean
// attention of the last prompt token in layer K−1, and fold every other
// into its most similar kept hidden state (HoliTomInnerMerge): layers ≥ K
// see only the kept rows, with the merged hidden states; layers < K keep
// the full KV. Original position ids (position_ids = keep_indexs). With a
// budget (WithBudget) the kept count is the budget's count of the original
// total N instead of R (capped at n). R = 0 keeps and changes nothing.
//
// Decided: the reference's n counts the video's trailing newline token,
// which vlmrun's families do not insert; n is the visual tokens alone.
type HoliTomInner struct {
	K      int     // merge after layer K−1 (K ≥ 1)
	R      float64 // fraction of the visual tokens merged away, in [0, 1)
	budget Budget
}

// Name implements InDecoder.
func (HoliTomInner) Name() string { return "holitom-inner" }

// Needs implements InDecoder.
func (HoliTomInner) Needs() Need { return NeedDecoderAttn | NeedHidden }

// Layers implements InDecoder.
func (m HoliTomInner) Layers() []int { return []int{m.K - 1} }

// Positions implements InDecoder.
func (HoliTomInner) Positions() PositionPolicy { return KeepOriginal }

// WithBudget implements Budgeted.
func (m HoliTomInner) WithBudget(b Budget) (InDecoder, error) {
	if _, err := b.Count(1); err != nil {
		return nil, err
	}
	m.budget = b
	return m, nil
}

// count is the number kept of n present (total originally).
func (m HoliTomInner) count(n, total int) (int, error) {
	if !m.budget.IsZero() {
		k, err := m.budget.Count(total)
		return min(k, n), err
	}
	return max(1, min(n, int(math.RoundToEven(float64(n)*(1-m.R))))), nil
}

// Select implements InDecoder: the kept tokens, without the merge.
func (m HoliTomInner) Select(b *Boundary, total int) ([]int, error) {
	keep, _, err := m.selectMerge(b, total, false)
	return keep, err
}

// SelectMerge implements Merger.
func (m HoliTomInner) SelectMerge(b *Boundary, total int) ([]int, Matrix, error) {
	return m.selectMerge(b, total, true)
}

func (m HoliTomInner) selectMerge(b *Boundary, total int, merge bool) ([]int, Matrix, error) {
	if _, err := checkBoundary(m.Name(), b, m.Needs(), total); err != nil {
		return nil, Matrix{}, err
	}
	if b.Layer != m.K-1 {
		return nil, Matrix{}, layerError(m.Name(), b.Layer, m.Layers())
	}
	n := len(b.ImageIdx)
	if n == 0 {
		return []int{}, Matrix{Cols: b.Hidden.Cols}, nil
	}
	k, err := m.count(n, total)
	if err != nil {
		return nil, Matrix{}, err
	}
	s := meanHeadScores(b.Attn, b.ImageIdx)
	if !merge {
		return topK(s, k), Matrix{}, nil
	}
	keep, rows := holiTomMergeK(Gather(b.Hidden, b.ImageIdx), s, k)
	return keep, rows, nil
}
