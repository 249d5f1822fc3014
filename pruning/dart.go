package pruning

import (
	"fmt"
	"slices"
)

// DART ("Stop Looking for Important Tokens in Multimodal Language Models:
// Duplication Matters More", EMNLP'25; read from the fork
// xqy1111111/DART of ZichenWen1/DART, reference §3.7).
//
// Rule, at the boundary after layer K−1 (default K=2): pivots are the p_img
// (4) visual tokens and the p_txt (4) text tokens after the image with the
// largest L1 norm of their layer-(K−1) key vectors (ties: lowest index).
// topk = B // (p_img+p_txt) with B = max_num_trunction (default 128). The
// candidates are the visual tokens minus the visual pivots; for each pivot
// in turn — visual pivots ascending, then text pivots ascending (the
// reference iterates a Python set; its order is not defined) — the topk
// candidates least cosine-similar to the pivot (ties: lowest index) on the
// final-RMSNormed hidden states are added and removed from the candidates.
// Kept = visual pivots ∪ added, ascending: p_img + (p_img+p_txt)·topk tokens,
// so B = 128 keeps 132 and B = 64 keeps 68 (the reference's overshoot).
// Original positions.
//
// Exact = true (not in the reference) spends the budget exactly: p_img is
// capped at B, topk = (B − p_img) // P and the first (B − p_img) mod P pivots
// take one more. B >= N keeps every visual token (so keep 1.0 is the
// identity; the reference's formula could keep fewer than B).
type DART struct {
	K           int    // prune after layer K−1
	ImagePivots int    // p_img
	TextPivots  int    // p_txt
	Pivot       string // "keys" (default: L1 norm of Boundary.Keys) or "hidden" (of Boundary.Hidden, an approximation)
	Exact       bool
	budget      Budget // zero: B = 128
}

// Name implements InDecoder.
func (DART) Name() string { return "dart" }

// Needs implements InDecoder.
func (m DART) Needs() Need {
	if m.Pivot == "hidden" {
		return NeedHidden
	}
	return NeedHidden | NeedDecoderKeys
}

// Layers implements InDecoder.
func (m DART) Layers() []int { return []int{m.K - 1} }

// Positions implements InDecoder.
func (DART) Positions() PositionPolicy { return KeepOriginal }

// WithBudget implements Budgeted: B becomes the budget's count of N.
func (m DART) WithBudget(b Budget) (InDecoder, error) {
	if _, err := b.Count(1); err != nil {
		return nil, err
	}
	m.budget = b
	return m, nil
}

func (m DART) b(total int) (int, error) {
	if m.budget.IsZero() {
		return 128, nil
	}
	return m.budget.Count(total)
}

// Schedule implements Scheduler (assuming at least p_txt text tokens).
func (m DART) Schedule(total int) ([]int, error) {
	B, err := m.b(total)
	if err != nil {
		return nil, err
	}
	if B >= total {
		return []int{total}, nil
	}
	pi := min(m.ImagePivots, total)
	per := dartPerPivot(B, &pi, m.TextPivots, m.Exact)
	k := pi
	for _, c := range per {
		k += c
	}
	return []int{min(k, total)}, nil
}

// dartPerPivot returns how many candidates each of the pImg+pTxt pivots
// takes for budget B; in exact mode pImg is capped at B.
func dartPerPivot(B int, pImg *int, pTxt int, exact bool) []int {
	if exact {
		*pImg = min(*pImg, B)
	}
	P := *pImg + pTxt
	per := make([]int, P)
	if P == 0 {
		return per
	}
	if !exact {
		for i := range per {
			per[i] = B / P
		}
		return per
	}
	left := max(0, B-*pImg)
	for i := range per {
		per[i] = left / P
		if i < left%P {
			per[i]++
		}
	}
	return per
}

// dartSelect runs the pivot loop. img holds the candidate rows (normalised
// for cosine), pivots the pivot vectors (normalised) with the first
// len(imgPivots) being the visual pivots at those positions of img.
func dartSelect(img []float32, n, d int, imgPivots []int, pivots [][]float32, per []int) []int {
	taken := make([]bool, n)
	kept := slices.Clone(imgPivots)
	for _, p := range imgPivots {
		taken[p] = true
	}
	sims := make([]float64, n)
	for pi, pv := range pivots {
		dotRows(pv, img, d, sims)
		var cand []int
		neg := make([]float64, 0, n)
		for j := range n {
			if !taken[j] {
				cand = append(cand, j)
				neg = append(neg, -sims[j])
			}
		}
		for _, c := range topK(neg, per[pi]) {
			taken[cand[c]] = true
			kept = append(kept, cand[c])
		}
	}
	slices.Sort(kept)
	return kept
}

// l1Top returns the positions of the p rows of m (among rows) with the
// largest L1 norm, ascending.
func l1Top(m Matrix, rows []int, p int) []int {
	s := make([]float64, len(rows))
	for i, r := range rows {
		for _, x := range m.Row(r) {
			if x < 0 {
				s[i] -= float64(x)
			} else {
				s[i] += float64(x)
			}
		}
	}
	return topK(s, p)
}

// Select implements InDecoder.
func (m DART) Select(b *Boundary, total int) ([]int, error) {
	L, err := checkBoundary(m.Name(), b, m.Needs(), total)
	if err != nil {
		return nil, err
	}
	if b.Layer != m.K-1 {
		return nil, layerError(m.Name(), b.Layer, m.Layers())
	}
	n := len(b.ImageIdx)
	if n == 0 {
		return []int{}, nil
	}
	B, err := m.b(total)
	if err != nil {
		return nil, err
	}
	if B >= n {
		return seq(n), nil
	}
	d := b.Hidden.Cols
	w := b.NormWeight
	if w != nil {
		if err := checkVector(m.Name(), "norm weight", w, d); err != nil {
			return nil, err
		}
	}
	var text []int
	for r := b.ImageIdx[n-1] + 1; r < L; r++ {
		text = append(text, r)
	}
	pivSrc := b.Keys
	if m.Pivot == "hidden" {
		pivSrc = b.Hidden
	}
	pImg := min(m.ImagePivots, n)
	per := dartPerPivot(B, &pImg, min(m.TextPivots, len(text)), m.Exact)
	imgPiv := l1Top(pivSrc, b.ImageIdx, pImg)
	txtPiv := l1Top(pivSrc, text, min(m.TextPivots, len(text)))
	normed := func(r int) []float32 {
		out := make([]float32, d)
		src := b.Hidden.Row(r)
		if w == nil {
			normalizeInto(out, src)
			return out
		}
		for k, x := range src {
			out[k] = x * w[k]
		}
		normalizeInto(out, out)
		return out
	}
	img := make([]float32, 0, n*d)
	for _, r := range b.ImageIdx {
		img = append(img, normed(r)...)
	}
	var pivots [][]float32
	for _, p := range imgPiv {
		pivots = append(pivots, img[p*d:(p+1)*d])
	}
	for _, t := range txtPiv {
		pivots = append(pivots, normed(text[t]))
	}
	return dartSelect(img, n, d, imgPiv, pivots, per), nil
}

// DARTPre is DART run before the decoder (the reference's capability table
// lists it as an approximation with X only): the same pivot loop on the
// post-projector tokens. Visual pivots: largest L1 norm of Visual.Keys (Pivot
// "keys") or of the features (Pivot "features", default); text pivots:
// largest L1 norm of the prompt text embeddings (Visual.Text; TextPivots=0
// needs none); cosine similarity on the features. B = keep, so the count is
// p_img + (p_img+p_txt)·(keep // (p_img+p_txt)) — at most keep + p_img, the
// reference's overshoot, capped at N — unless Exact (exactly keep).
// Renumbered positions, ascending.
type DARTPre struct {
	ImagePivots, TextPivots int
	Pivot                   string // "features" (default) or "keys"
	Exact                   bool
}

// Name implements PreDecoder.
func (DARTPre) Name() string { return "dart-pre" }

// Needs implements PreDecoder.
func (m DARTPre) Needs() Need {
	n := NeedFeatures
	if m.Pivot == "keys" {
		n |= NeedKeys
	}
	if m.TextPivots > 0 {
		n |= NeedText
	}
	return n
}

// Apply implements PreDecoder.
func (m DARTPre) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(m, v, keep)
	if err != nil {
		return Result{}, err
	}
	if keep == n {
		return identityResult(v), nil
	}
	if m.ImagePivots < 0 || m.TextPivots < 0 {
		return Result{}, fmt.Errorf("pruning: %s: negative pivot count: %w", m.Name(), ErrBadValue)
	}
	d := v.Features.Cols
	pImg := min(m.ImagePivots, n)
	pTxt := min(m.TextPivots, v.Text.Rows)
	per := dartPerPivot(keep, &pImg, pTxt, m.Exact)
	pivSrc := v.Features
	if m.Pivot == "keys" {
		pivSrc = v.Keys
	}
	imgPiv := l1Top(pivSrc, seq(n), pImg)
	img := normalizeRows(v.Features)
	var pivots [][]float32
	for _, p := range imgPiv {
		pivots = append(pivots, img[p*d:(p+1)*d])
	}
	if pTxt > 0 {
		for _, t := range l1Top(v.Text, seq(v.Text.Rows), pTxt) {
			pv := make([]float32, d)
			normalizeInto(pv, v.Text.Row(t))
			pivots = append(pivots, pv)
		}
	}
	return selectResult(v, dartSelect(img, n, d, imgPiv, pivots, per)), nil
}
