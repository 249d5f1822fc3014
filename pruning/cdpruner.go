package pruning

import (
	"math"
	"slices"
)

// dppEps is the rank clamp of CDPruner's greedy DPP: once the largest
// remaining gain d² is <= dppEps the kernel's rank is exhausted.
const dppEps = 1e-10

// CDPruner (Zhang et al., NeurIPS'25; Theia-4869/CDPruner, reference §3.10):
// conditional DPP MAP selection before the decoder.
//
// S = cos(X_i, X_j) on the post-projector tokens. Relevance (Relevance
// "neg", the official sign): rel_i = mean_m −cos(x_i, t_m) over the prompt
// text embeddings, then rel = (rel − min + 1e-6)/(max − min); "pos" drops the
// minus sign (the author reports the inversion only for CLIP), "none" uses
// rel = 1 (plain DPP, no text needed). With Theta > 0, rel ← exp(α·rel),
// α = θ/(2(1−θ)) (present but commented out in the reference). Kernel
// L = diag(rel)·S·diag(rel). Greedy MAP (Chen et al.'s fast DPP): d²_i = L_ii;
// repeat: j = argmax d² (ties: lowest index); e = (L[j,:] − Σ_t c_t[j]·c_t) /
// sqrt(d²_j); d² −= e²; d²_j = −∞. Kept indices ascending, renumbered
// positions.
//
// Approximations and guards: the reference takes text relevance from the
// CLIP text tower; here the text embeddings are the prompt's LLM token
// embeddings (Visual.Text, as OpenVINO GenAI's port), unvalidated. Rank
// clamp: when max d² <= 1e-10 (keep exceeds the kernel's rank: tiny D,
// duplicate or zero tokens) the DPP stops instead of taking the square root
// of a non-positive number, and the remaining budget is filled with the
// unpicked tokens of largest L_ii (ties: lowest index), so exactly keep
// tokens are kept. When max = min the min–max scaling would divide by zero;
// every rel is then 1.
type CDPruner struct {
	Relevance string  // "neg" (default), "pos" or "none"
	Theta     float64 // 0 (default) = no exp(α·rel) reweighting; else in (0, 1)
}

// Name implements PreDecoder.
func (CDPruner) Name() string { return "cdpruner" }

// Needs implements PreDecoder.
func (m CDPruner) Needs() Need {
	if m.Relevance == "none" {
		return NeedFeatures
	}
	return NeedFeatures | NeedText
}

// Apply implements PreDecoder.
func (m CDPruner) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(m, v, keep)
	if err != nil {
		return Result{}, err
	}
	if keep == n {
		return identityResult(v), nil
	}
	if m.Theta < 0 || m.Theta >= 1 {
		return Result{}, errParam(m.Name(), "theta %v not in [0, 1)", m.Theta)
	}
	d := v.Features.Cols
	xn := normalizeRows(v.Features)
	rel := make([]float64, n)
	if m.Relevance == "none" {
		for i := range rel {
			rel[i] = 1
		}
	} else {
		rel = cdRelevance(xn, n, d, normalizeRows(v.Text), v.Text.Rows, m.Relevance != "pos")
	}
	if m.Theta > 0 {
		alpha := m.Theta / (2 * (1 - m.Theta))
		for i := range rel {
			rel[i] = math.Exp(alpha * rel[i])
		}
	}
	sel := dppGreedy(xn, n, d, rel, keep)
	slices.Sort(sel)
	return selectResult(v, sel), nil
}

// cdRelevance returns the min–max scaled mean (negated when neg) cosine of
// each normalised token with the normalised text rows.
func cdRelevance(xn []float32, n, d int, tn []float32, t int, neg bool) []float64 {
	rel := make([]float64, n)
	row := make([]float64, t)
	for i := range n {
		dotRows(xn[i*d:(i+1)*d], tn, d, row)
		s := 0.0
		for _, c := range row {
			s += c
		}
		s /= float64(t)
		if neg {
			s = -s
		}
		rel[i] = s
	}
	lo, hi := slices.Min(rel), slices.Max(rel)
	for i := range rel {
		if hi-lo < normEps {
			rel[i] = 1
		} else {
			rel[i] = (rel[i] - lo + 1e-6) / (hi - lo)
		}
	}
	return rel
}

// dppGreedy returns k tokens in selection order by the greedy MAP of
// L = diag(rel)·(X̂X̂ᵀ)·diag(rel), computing only the rows of L it needs
// (O(k·N·D + k²·N)), with the rank clamp described on CDPruner.
func dppGreedy(xn []float32, n, d int, rel []float64, k int) []int {
	d2 := make([]float64, n)
	for i := range n {
		r := xn[i*d : (i+1)*d]
		d2[i] = rel[i] * rel[i] * dot(r, r)
	}
	diag := slices.Clone(d2)
	taken := make([]bool, n)
	order := make([]int, 0, k)
	cs := make([][]float64, 0, k)
	for len(order) < k {
		j := argmaxFree(d2, taken)
		if d2[j] <= dppEps {
			break
		}
		e := make([]float64, n)
		a := xn[j*d : (j+1)*d]
		// Each e[i] depends only on row i, so the rows are split among
		// workers; per element the operations and their order are the
		// sequential loop's.
		parallelFor(n, 256, func(lo, hi int) {
			dotRows(a, xn[lo*d:hi*d], d, e[lo:hi])
			for i := lo; i < hi; i++ {
				e[i] *= rel[j] * rel[i]
			}
			for _, c := range cs {
				if f := c[j]; f != 0 {
					subScaled(e[lo:hi], c[lo:hi], f)
				}
			}
		})
		inv := 1 / math.Sqrt(d2[j])
		for i := range e {
			e[i] *= inv
			d2[i] -= e[i] * e[i]
		}
		cs = append(cs, e)
		taken[j] = true
		order = append(order, j)
	}
	for len(order) < k { // rank exhausted: fill by L_ii
		j := argmaxFree(diag, taken)
		taken[j] = true
		order = append(order, j)
	}
	return order
}
