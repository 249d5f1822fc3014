package pruning

import (
	"fmt"
	"math"
)

// DyCoke is DyCoke's token temporal merging stage (TTM; CVPR'25,
// KD-TAO/DyCoke llava/model/llava_arch.py dycole_ttm; ModelTC/llmc
// dycoke.py): a pruned frame keeps m = int((1−K)·n) tokens, the m least
// similar (cosine, same spatial index) to its reference frame; despite the
// name, the other tokens are dropped, not merged.
//
//  1. Pairs (0,1), (2,3), …: the first frame is kept whole, the second
//     keeps its m tokens least similar to the first.
//  2. For i = 0, 4, 8, … while i < F−4: frame i+2 (whole after step 1) is
//     replaced by its m tokens least similar to frame i.
//
// F = 32, n = 196, K = 0.7: frames 0, 4, …, 28 and 30 whole, the other 23
// keep 58: 3,098 of 6,272 tokens. Reference quirks and what vlmrun does:
//
//   - kept tokens are emitted in topk order (ascending similarity, ties:
//     lowest index first): kept as the default (Order "official"); Order
//     "spatial" sorts each frame's tokens by position;
//   - with an odd frame count the reference silently drops the last frame
//     (its pair loop stops at F−2): vlmrun keeps that frame whole by
//     default (Odd "keep" — dropping a frame unasked is a defect, not a
//     rule of the paper); Odd "drop" reproduces the reference;
//   - frame F−2 is never pruned by step 2 when F ≡ 0 (mod 4): kept;
//   - a single frame is kept whole.
//
// Budget: keep is an upper bound (the count follows from K and F): keep =
// N applies the rule alone; below that, pruned frames' most similar tokens
// go first (priority −sim), whole frames' tokens last (lowest index first).
// K = 0 with Order "spatial" keeps every token in order.
//
// Stage 2 (decode-time KV selection) is the in-decoder method DyCokeKV
// ("dycoke-kv").
type DyCoke struct {
	K     float64 // fraction of a pruned frame's tokens removed, in [0, 1)
	Order string  // "official" (default) or "spatial"
	Odd   string  // "keep" (default) or "drop" (the reference)
	Scope string  // "global" (default) or "frame"
}

// Name implements PreDecoder.
func (DyCoke) Name() string { return "dycoke" }

// Needs implements PreDecoder.
func (DyCoke) Needs() Need { return NeedFeatures }

// Apply implements PreDecoder.
func (m DyCoke) Apply(v *Visual, keep int) (Result, error) {
	F, n, err := checkTemporal(m, v, keep, m.Scope)
	if err != nil {
		return Result{}, err
	}
	if !(m.K >= 0 && m.K < 1) {
		return Result{}, fmt.Errorf("pruning: dycoke: k %v: want a fraction in [0, 1): %w", m.K, ErrBadValue)
	}
	plan := DyCokePlan(v.Features, F, n, m.K, m.Odd == "drop")
	var outs []tout
	for f, p := range plan {
		if p.Dropped {
			continue
		}
		idx := p.Kept
		if m.Order == "spatial" && p.Sim != nil {
			idx = topK(negate(p.Sim), len(p.Kept)) // same set, ascending
		}
		for _, i := range idx {
			prio := 2.0
			if p.Sim != nil {
				prio = -p.Sim[i]
			}
			outs = append(outs, tout{src: f*n + i, frame: f, size: 1, prio: prio})
		}
	}
	if len(outs) == 0 { // unreachable: frame 0 is always whole
		return Result{}, fmt.Errorf("pruning: dycoke: no token left: %w", ErrBudget)
	}
	return toResult(v, capOutputs(outs, keep, F, m.Scope)), nil
}

// DyCokeFrame is DyCoke's decision for one frame.
type DyCokeFrame struct {
	Dropped bool      // the odd last frame under the reference's quirk
	Kept    []int     // kept positions in the reference's emission order
	Sim     []float64 // similarity to the reference frame; nil for a whole frame
}

// DyCokePlan runs the two TTM steps on F frames of n tokens.
func DyCokePlan(x Matrix, F, n int, k float64, dropOdd bool) []DyCokeFrame {
	m := int((1 - k) * float64(n))
	m = max(0, min(m, n))
	plan := make([]DyCokeFrame, F)
	for f := range plan {
		plan[f].Kept = seq(n)
	}
	if F == 1 {
		return plan
	}
	prune := func(ref, f int) {
		s := make([]float64, n)
		for i := range s {
			s[i] = cosine(x.Row(ref*n+i), x.Row(f*n+i))
		}
		plan[f].Sim = s
		plan[f].Kept = orderDesc(negate(s))[:m] // torch.topk(largest=False) order
	}
	for a := 0; a+1 < F; a += 2 {
		prune(a, a+1)
	}
	if F%2 == 1 && dropOdd {
		plan[F-1].Dropped, plan[F-1].Kept = true, nil
	}
	for i := 0; i < F-4; i += 4 {
		prune(i, i+2)
	}
	return plan
}

func negate(s []float64) []float64 {
	out := make([]float64, len(s))
	for i, x := range s {
		out[i] = -x
	}
	return out
}

// DyCokeKV is DyCoke's stage 2, the dynamic KV selection at decode steps
// (KD-TAO/DyCoke modeling_qwen2.py PrunableDynamicCache), as an in-decoder
// method with a decode-step hook (DecodeSelector): before layer L
// (dycoke_l = 3), from the new token's head-mean attention a over the image
// keys in layer L−1: sim = cos(a, a_prev) (0 without a previous step;
// a_prev ← a always); if sim < Threshold (0.9), layers ≥ L attend only to
// the prefix, the top int(img·(1−P)) image keys by a (P = dycoke_p,
// lmms-eval 0.8) and everything after the image; otherwise they attend to
// the full cache this step. The KV itself is never shrunk and the prefill
// is not pruned (Select keeps every token at the boundary after L−1).
//
// Decided: the reference's image span is one contiguous run (its trailing
// newline excluded); here the image keys are the prompt's visual tokens
// (every frame's, wherever text sits between frames) and every other row
// is always attended. The reference's a_prev survives between generate
// calls (quirk); here each request starts afresh (NewDecoding). P = 0
// selects every image key at every step: the unpruned run.
type DyCokeKV struct {
	L         int     // the selection is made before layer L (L ≥ 1)
	P         float64 // fraction of the image keys left out, in [0, 1)
	Threshold float64 // similarity at or above which the full cache is used
}

// Name implements InDecoder.
func (DyCokeKV) Name() string { return "dycoke-kv" }

// Needs implements InDecoder.
func (DyCokeKV) Needs() Need { return NeedDecoderAttn }

// Layers implements InDecoder: the prefill boundary is the decode one (it
// keeps everything).
func (m DyCokeKV) Layers() []int { return []int{m.L - 1} }

// Positions implements InDecoder (nothing is re-positioned).
func (DyCokeKV) Positions() PositionPolicy { return KeepOriginal }

// Select implements InDecoder: the prefill keeps every visual token.
func (m DyCokeKV) Select(b *Boundary, total int) ([]int, error) {
	if _, err := checkBoundary(m.Name(), b, 0, total); err != nil {
		return nil, err
	}
	if b.Layer != m.L-1 {
		return nil, layerError(m.Name(), b.Layer, m.Layers())
	}
	return seq(len(b.ImageIdx)), nil
}

// DecodeLayer implements DecodeSelector.
func (m DyCokeKV) DecodeLayer() int { return m.L - 1 }

// NewDecoding implements DecodeSelector.
func (m DyCokeKV) NewDecoding() DecodeStepper {
	return &DyCokeKVState{P: m.P, Threshold: m.Threshold}
}

// DyCokeKVState is one request's DyCoke selection state.
type DyCokeKVState struct {
	P, Threshold float64
	prev         []float64
}

// Step implements DecodeStepper: a is the head mean of attn at imageIdx.
func (d *DyCokeKVState) Step(attn Matrix, imageIdx []int) ([]int, error) {
	if err := checkMatrix("dycoke-kv", "attention row", attn, -1); err != nil {
		return nil, err
	}
	if attn.Rows < 1 {
		return nil, fmt.Errorf("pruning: dycoke-kv: attention row has no heads: %w", ErrBadInput)
	}
	for _, j := range imageIdx {
		if j < 0 || j >= attn.Cols {
			return nil, fmt.Errorf("pruning: dycoke-kv: visual row %d outside the %d attended rows: %w", j, attn.Cols, ErrBadInput)
		}
	}
	return d.Next(meanHeadScores(attn, imageIdx)), nil
}

// Next takes the image-key attention a of one decode step and returns the
// selected image keys (ascending), or nil when the full cache is used.
func (d *DyCokeKVState) Next(a []float64) []int {
	sim := 0.0
	if d.prev != nil && len(d.prev) == len(a) {
		var ab, aa, bb float64
		for i := range a {
			ab += a[i] * d.prev[i]
			aa += a[i] * a[i]
			bb += d.prev[i] * d.prev[i]
		}
		if aa > 0 && bb > 0 {
			sim = ab / math.Sqrt(aa*bb)
		}
	}
	d.prev = append(d.prev[:0], a...)
	if sim >= d.Threshold {
		return nil
	}
	return topK(a, int(float64(len(a))*(1-d.P)))
}
