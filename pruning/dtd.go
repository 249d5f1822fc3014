package pruning

import (
	"fmt"
	"math"
)

// DTD is TimeChat-Online's Differential Token Drop (arXiv 2504.17343,
// yaolinli/TimeChat-Online eval/qwen2_5_vl/modeling_qwen2_5_vl_DTD.py,
// feature mode): the first frame is kept whole; token i of every later
// frame is compared with token i of the immediately preceding frame's raw
// tokens (not with the last kept token at that position, so drift
// accumulates — the reference's rule), sim = cos(prev_i, cur_i):
//
//   - Mode "absolute" (the reference default, drop_absolute=None → True):
//     drop iff sim > Tau (strict). Content-adaptive: no per-frame budget.
//   - Mode "relative": each later frame drops its int(n·Tau) most similar
//     tokens (ties: the lowest index is dropped first).
//
// Defaults are the eval scripts' (DROP_METHOD=feature, DROP_THRESHOLD=0.5;
// the web demo uses 0.25, the training code 0.7). A lower feature threshold
// drops more.
//
// Budget: keep is an upper bound on top of the rule (the method is
// content-adaptive, like `adaptive`): keep = N applies the official rule
// alone; below that the least-changed survivors go first (priority −sim;
// first-frame tokens have the highest priority, and among them the lowest
// index wins). Scope "frame" bounds every frame by keep/F instead.
// Tau = 1 (absolute) keeps every token; cosines are clamped to [−1, 1].
//
// Input "pixel" is the reference's pixel mode: diff_i = mean over channels
// and the token's pixels of |prev − cur| in [0, 1] pixel units
// (Visual.FramePixels: the encoder's input, de-normalized by the std);
// absolute mode drops iff diff < Tau (a higher pixel threshold drops more),
// relative mode drops the int(n·Tau) smallest diffs. The reference compares
// Qwen2.5-VL temporal groups of 2 raw frames (quirk: the last raw frame of
// a group with the first of the previous group); so does vlmrun where the
// frames are such groups (FramePixels.Last: Qwen2-VL / Qwen2.5-VL video,
// one frame per temporal patch); where they are single images consecutive
// frames are compared. The reference scripts give no
// pixel threshold: vlmrun's default (Tau unset, NaN) is 0.1 for pixels,
// 0.5 for features.
//
// Decided deviations: the reference keeps the original M-RoPE ids of kept tokens, vlmrun's
// pre-decoder splice renumbers them (as for every pre-decoder method). A
// single image (Frames ≤ 1) is one first frame: kept whole (then capped).
type DTD struct {
	Tau   float64 // NaN: 0.5 (feature) or 0.1 (pixel)
	Mode  string  // "absolute" (default) or "relative"
	Input string  // "feature" (default) or "pixel"
	Scope string  // "global" (default) or "frame"
}

// Name implements PreDecoder.
func (DTD) Name() string { return "dtd" }

// Needs implements PreDecoder.
func (DTD) Needs() Need { return NeedFeatures }

// Apply implements PreDecoder.
func (m DTD) Apply(v *Visual, keep int) (Result, error) {
	F, n, err := checkTemporal(m, v, keep, m.Scope)
	if err != nil {
		return Result{}, err
	}
	tau := m.Tau
	if math.IsNaN(tau) {
		tau = 0.5
		if m.Input == "pixel" {
			tau = 0.1
		}
	}
	if m.Mode == "relative" && !(tau >= 0 && tau <= 1) {
		return Result{}, fmt.Errorf("pruning: dtd: relative tau %v: want a fraction in [0, 1]: %w", tau, ErrBadValue)
	}
	// sims: the reference's "similarity" per token of frames 1..F−1, higher =
	// more redundant: the cosine (feature) or minus the pixel difference
	var sims []float64
	thr := tau
	if m.Input == "pixel" {
		d, err := pixelDiffs("dtd", v.FramePixels, F, n)
		if err != nil {
			return Result{}, err
		}
		sims, thr = negate(d), -tau // diff < τ  ⇔  −diff > −τ
	} else {
		sims = DTDSimilarities(v.Features, F, n)
	}
	var outs []tout
	for f := range F {
		drop := make([]bool, n)
		if f > 0 {
			s := sims[(f-1)*n : f*n]
			if m.Mode == "relative" {
				for _, i := range orderDesc(s)[:int(float64(n)*tau)] {
					drop[i] = true
				}
			} else {
				for i, x := range s {
					drop[i] = x > thr
				}
			}
		}
		for i := range n {
			if drop[i] {
				continue
			}
			prio := math.Inf(1) // first frame: kept before any compared token
			if f > 0 {
				prio = -sims[(f-1)*n+i]
			}
			outs = append(outs, tout{src: f*n + i, frame: f, size: 1, prio: prio})
		}
	}
	return toResult(v, capOutputs(outs, keep, F, m.Scope)), nil
}

// DTDSimilarities returns, for frames 1..F−1 in order, the clamped cosine
// of each token with the same position of the previous frame ((F−1)·n
// values).
func DTDSimilarities(x Matrix, F, n int) []float64 {
	out := make([]float64, 0, max(0, F-1)*n)
	for f := 1; f < F; f++ {
		for i := range n {
			out = append(out, clampCos(cosine(x.Row((f-1)*n+i), x.Row(f*n+i))))
		}
	}
	return out
}
