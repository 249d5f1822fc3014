package pruning

import "slices"

// CATP (Contextually Adaptive Token Pruning, AAAI'26, arXiv 2508.07871;
// paper only, no code found; reference part 2 §9) targets multimodal
// in-context learning: interleaved demonstration images with their texts,
// then the query image. Its stage 1 selects, per image after the projector,
// tokens that are both diverse and aligned with the text paired with that
// image; stage 2 re-scores image tokens in shallow decoder layers from the
// layer-to-layer increase of the last query's attention.
//
// vlmrun captions one image per prompt, so the "paired text" is the
// prompt's text (Visual.Text) and stage 1 is what runs. The paper gives no
// formula here; the choices:
//   - alignment rel_j = cos(x_j, t̄), t̄ the mean prompt-text embedding,
//     mapped to [0, 1] as (1 + rel)/2;
//   - diversity div_j = min over selected s of (1 − cos(x_j, x_s))/2
//     (DivPrune's max-min cosine distance, in [0, 1]);
//   - greedy: the first token maximises rel; each next maximises
//     Lambda·rel + (1 − Lambda)·div (Lambda = 0.5); ties lowest index.
//     Exactly keep tokens, ascending, positions renumbered.
//
// Stage 2 is not implemented: it needs the last query's attention at two
// layers in one decision, and an in-decoder method sees one layer's row per
// boundary (Boundary.Attn). Zero vectors have cosine 0 with everything.
type CATP struct {
	Lambda float64
}

// Name implements PreDecoder.
func (CATP) Name() string { return "catp" }

// Needs implements PreDecoder.
func (CATP) Needs() Need { return NeedFeatures | NeedText }

// Apply implements PreDecoder.
func (m CATP) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(m, v, keep)
	if err != nil {
		return Result{}, err
	}
	if !(m.Lambda >= 0 && m.Lambda <= 1) {
		return Result{}, errParam(m.Name(), "lambda %v not in [0, 1]", m.Lambda)
	}
	if keep == n {
		return identityResult(v), nil
	}
	d := v.Features.Cols
	xn := normalizeRows(v.Features)
	tbar := make([]float32, d)
	acc := make([]float64, d)
	for i := range v.Text.Rows {
		for k, x := range v.Text.Row(i) {
			acc[k] += float64(x)
		}
	}
	for k := range acc {
		tbar[k] = float32(acc[k])
	}
	tn := make([]float32, d)
	normalizeInto(tn, tbar)
	rel := make([]float64, n)
	dotRows(tn, xn, d, rel)
	for j := range rel {
		rel[j] = (1 + rel[j]) / 2
	}
	taken := make([]bool, n)
	div := make([]float64, n)
	for j := range div {
		div[j] = 1
	}
	sel := []int{argmaxFree(rel, taken)}
	taken[sel[0]] = true
	cos := make([]float64, n)
	obj := make([]float64, n)
	for len(sel) < keep {
		last := sel[len(sel)-1]
		parallelFor(n, 512, func(lo, hi int) {
			dotRows(xn[last*d:(last+1)*d], xn[lo*d:hi*d], d, cos[lo:hi])
		})
		for j := range n {
			div[j] = min(div[j], (1-cos[j])/2)
			obj[j] = m.Lambda*rel[j] + (1-m.Lambda)*div[j]
		}
		j := argmaxFree(obj, taken)
		taken[j] = true
		sel = append(sel, j)
	}
	slices.Sort(sel)
	return selectResult(v, sel), nil
}
