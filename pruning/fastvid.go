package pruning

import (
	"math"
	"slices"
)

// FastVID (NeurIPS'25; LunarShen/FastVID, LLaVA-OneVision path,
// modeling_qwen2.py FastVID block; ModelTC/llmc fastvid.py):
//
//  1. Segmentation: s_t = cos(g_t, g_{t+1}) of the frames' global features;
//     cuts = the C−1 smallest s_t (ties: lowest t) ∪ {t : s_t < Tau};
//     a segment ends after each cut frame.
//  2. Budget per frame: ret = int(n·ρ) (ρ = keep/N; 196·0.10 = 19);
//     salient = ret − int(ret·D) (12), context = ret − salient (7).
//     Salient = the top-salient tokens of the frame by attention.
//  3. Anchor frames: for a segment of s frames, per = (context·s) div
//     ceil(s/P) anchor tokens on the frames at offsets s−1, s−1−P, … from
//     the segment start (the last frame is always one); a frame's anchors
//     are its top-per non-salient tokens by DPC-kNN score (k = KNN).
//  4. Merge (DTM): every non-salient token of the segment is assigned to the
//     most cosine-similar anchor of each anchor frame (an anchor to
//     itself); anchor ← w·anchor + (1−w)·mean(assigned), w = max(1/(n+1),
//     Beta) (n ≥ 1, so w = Beta = 0.6).
//  5. Output: salient tokens and anchors sorted by position.
//
// Decided deviations: the reference takes the frame global feature and the
// attention from SigLIP's attention-pooling (MAP) head, which vlmrun's
// encoders do not export: the frame global feature is the mean of its
// tokens, the attention is Visual.CLSAttn when present, else the token's
// L2 norm. The reference keeps original position ids; the splice
// renumbers. DPC-kNN ties go to the lowest index; Seed adds the
// reference's U(0,1)·1e-6 density noise from a seeded generator instead.
// Integer division can leave fewer than keep tokens (s = 5: 2 anchor
// frames × 17 = 34 of 35 context tokens). keep < F gives each frame one
// salient token, then the budget cut (priority: salient by attention, then
// anchors). keep = N keeps every token.
type FastVID struct {
	C     int     // segments wanted (c−1 cut candidates), 8
	Tau   float64 // similarity below which frames are cut, 0.9
	D     float64 // context share of the per-frame budget, 0.4
	P     int     // anchor-frame period, 4
	Beta  float64 // minimum anchor weight, 0.6
	KNN   int     // DPC-kNN neighbours, 4
	Seed  string  // "" = no density noise
	Scope string
}

// Name implements PreDecoder.
func (FastVID) Name() string { return "fastvid" }

// Needs implements PreDecoder.
func (FastVID) Needs() Need { return NeedFeatures }

// Apply implements PreDecoder.
func (m FastVID) Apply(v *Visual, keep int) (Result, error) {
	F, n, err := checkTemporal(m, v, keep, m.Scope)
	if err != nil {
		return Result{}, err
	}
	N := F * n
	if keep == N {
		return identityResult(v), nil
	}
	x := v.Features
	att := tokenScore(v)
	ret := max(1, keep/F)
	salient := ret - int(float64(ret)*m.D)
	context := ret - salient
	segs := FastVIDSegments(frameMeans(x, F, n), m.C, m.Tau)
	nz := seededNoise(m.Seed)

	isSal := make([]bool, N)
	var outs []tout
	for f := range F {
		s := att[f*n : (f+1)*n]
		for _, i := range topK(s, salient) {
			isSal[f*n+i] = true
		}
	}
	anchorFeat := map[int][]float32{}
	anchorSize := map[int]int{}
	start := 0
	for _, s := range segs {
		per := FastVIDAnchors(s, context, m.P)
		var nonSal []int // all non-salient tokens of the segment
		for f := start; f < start+s; f++ {
			for i := range n {
				if !isSal[f*n+i] {
					nonSal = append(nonSal, f*n+i)
				}
			}
		}
		for off, cnt := range per {
			if cnt == 0 {
				continue
			}
			f := start + off
			var cand []int
			for i := range n {
				if !isSal[f*n+i] {
					cand = append(cand, f*n+i)
				}
			}
			if len(cand) == 0 {
				continue
			}
			d := newDPC(rowsOf(x, cand), m.KNN, nz)
			anchors := topK(d.score, cnt)
			for j := range anchors {
				anchors[j] = cand[anchors[j]]
			}
			// assignment of every non-salient token of the segment
			groups := make([][]int, len(anchors))
			an := normalizeRows(rowsOf(x, anchors))
			for _, t := range nonSal {
				if a := slices.Index(anchors, t); a >= 0 {
					groups[a] = append(groups[a], t)
					continue
				}
				row := x.Row(t)
				best, bs := 0, math.Inf(-1)
				for a := range anchors {
					c := dot(an[a*x.Cols:(a+1)*x.Cols], row)
					if c > bs {
						best, bs = a, c
					}
				}
				groups[best] = append(groups[best], t)
			}
			for a, t := range anchors {
				w := max(1/float64(len(groups[a])+1), m.Beta)
				mean := meanOf(x, groups[a])
				out := make([]float32, x.Cols)
				for k, av := range x.Row(t) {
					out[k] = float32(w*float64(av) + (1-w)*float64(mean[k]))
				}
				anchorFeat[t], anchorSize[t] = out, len(groups[a])
			}
		}
		start += s
	}
	for t := range N {
		f := t / n
		switch {
		case isSal[t]:
			outs = append(outs, tout{src: t, frame: f, size: 1, prio: 2 + att[t]})
		case anchorFeat[t] != nil:
			outs = append(outs, tout{src: t, frame: f, feat: anchorFeat[t], size: anchorSize[t], prio: 1})
		}
	}
	return toResult(v, capOutputs(outs, keep, F, m.Scope)), nil
}

// frameMeans returns the F frame means (F × D).
func frameMeans(x Matrix, F, n int) Matrix {
	out := Matrix{Rows: F, Cols: x.Cols}
	for f := range F {
		out.Data = append(out.Data, meanOf(x, seqFrom(f*n, (f+1)*n))...)
	}
	return out
}

// FastVIDSegments returns the segment lengths of F frames with global
// features g (F × D).
func FastVIDSegments(g Matrix, c int, tau float64) []int {
	F := g.Rows
	if F <= 1 {
		return []int{F}
	}
	s := make([]float64, F-1)
	for t := range s {
		s[t] = cosine(g.Row(t), g.Row(t+1))
	}
	return FastVIDCuts(s, c, tau)
}

// FastVIDCuts turns the consecutive similarities s (F−1 values) into
// segment lengths.
func FastVIDCuts(s []float64, c int, tau float64) []int {
	F := len(s) + 1
	cut := make([]bool, len(s))
	for _, t := range topK(negate(s), c-1) {
		cut[t] = true
	}
	for t, x := range s {
		cut[t] = cut[t] || x < tau
	}
	var segs []int
	last := 0
	for t := range s {
		if cut[t] {
			segs = append(segs, t+1-last)
			last = t + 1
		}
	}
	return append(segs, F-last)
}

// FastVIDAnchors returns the anchor tokens of each frame of a segment of s
// frames with context tokens per frame and anchor period p.
func FastVIDAnchors(s, context, p int) []int {
	out := make([]int, s)
	if s == 1 {
		out[0] = context
		return out
	}
	frames := (s + p - 1) / p
	per := context * s / frames
	for off := s - 1; off >= 0; off -= p {
		out[off] = per
	}
	return out
}
