package pruning

import "math"

// FlowCut (Tong et al., NeurIPS'25; TungChintao/FlowCut, reference §3.11):
// information-flow-based selection.
//
// Reference rule (inside the vision encoder, every other layer up to the
// feature layer): score_j = (a_cls_j/Σa_cls + a_sem_j/Σa_sem)·‖v_j‖₁, with
// a_cls the CLS attention row (head mean), a_sem = softmax_j(v_cls·v_j)
// (head mean) and v the value vectors; a cumulative score c ← 0.5·c +
// 0.5·score is kept across layers and the top max(n − r, target) tokens by
// c survive each pruning layer, r = (n − target)/√rpl·(1 − H_norm²) (H_norm:
// entropy of the CLS attention / log n); at the feature layer (rpl = 0)
// the count is cut to the target. Kept order ascending, positions
// renumbered. Default target 128 (64/128/192 used).
//
// vlmrun runs the exported encoder unchanged, so only the feature layer's
// signals exist: this is the last step of the reference schedule (rpl = 0,
// c = 0.5·score, so the top keep tokens by score), an approximation of the
// progressive schedule, documented as such. Decisions:
//   - values: the encoder's output before the projector (Visual.PreProj)
//     stands in for the value vectors, or the projected features when the
//     model gives none (value=features);
//   - v_cls: Visual.CLSPreProj (CLSFeatures with value=features) when the
//     model provides it, else the mean of the value rows (a CLS-free
//     summary); a_sem uses the attention scale 1/√D over one head;
//   - a_cls: the CLS attention row (Visual.CLSAttn); a sum of 0 counts as
//     uniform;
//   - ties: lowest index. Exactly keep tokens.
type FlowCut struct {
	Value string // "auto" (pre-projector if present), "preproj", "features"
}

// Name implements PreDecoder.
func (FlowCut) Name() string { return "flowcut" }

// Needs implements PreDecoder.
func (m FlowCut) Needs() Need {
	if m.Value == "preproj" {
		return NeedFeatures | NeedCLSAttn | NeedPreProj
	}
	return NeedFeatures | NeedCLSAttn
}

// Apply implements PreDecoder.
func (m FlowCut) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(m, v, keep)
	if err != nil {
		return Result{}, err
	}
	if keep == n {
		return identityResult(v), nil
	}
	vals, cls := v.Features, v.CLSFeatures
	if m.Value == "preproj" || (m.Value != "features" && v.PreProj.Rows == n) {
		if err := checkMatrix(m.Name(), "pre-projector features", v.PreProj, n); err != nil {
			return Result{}, err
		}
		vals, cls = v.PreProj, v.CLSPreProj
	}
	return selectResult(v, topK(flowCutScores(to64(v.CLSAttn), vals, cls), keep)), nil
}

// flowCutScores returns (a_cls/Σa_cls + a_sem/Σa_sem)·‖v‖₁.
func flowCutScores(acls []float64, vals Matrix, cls []float32) []float64 {
	n, d := vals.Rows, vals.Cols
	if len(cls) != d || !allFinite(cls) {
		c := make([]float64, d)
		for i := range n {
			for k, x := range vals.Row(i) {
				c[k] += float64(x) / float64(n)
			}
		}
		cls = make([]float32, d)
		for k := range c {
			cls[k] = float32(c[k])
		}
	}
	sem := make([]float64, n)
	dotRows(cls, vals.Data, d, sem)
	mx := math.Inf(-1)
	for j := range sem {
		sem[j] /= math.Sqrt(float64(d))
		mx = max(mx, sem[j])
	}
	ssum := 0.0
	for j := range sem {
		sem[j] = math.Exp(sem[j] - mx)
		ssum += sem[j]
	}
	csum := 0.0
	for _, a := range acls {
		csum += a
	}
	out := make([]float64, n)
	for j := range n {
		a := 1 / float64(n)
		if csum > 0 {
			a = acls[j] / csum
		}
		l1 := 0.0
		for _, x := range vals.Row(j) {
			l1 += math.Abs(float64(x))
		}
		out[j] = (a + sem[j]/ssum) * l1
	}
	return out
}
