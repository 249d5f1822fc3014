package pruning

import (
	"fmt"
	"math"
	"slices"
)

// VisionZip (Yang et al., CVPR'25; dvlab-research/VisionZip, reference §3.4):
// dominant + contextual tokens from the encoder's feature layer.
//
// Dominant: the dominant−1 patches with the largest CLS attention
// Σ_h A_h[CLS, j] (Visual.CLSAttn; ties: lowest index) plus the CLS token
// itself, in original order with CLS first. Contextual: the M remaining
// patches in original order; targets are every step-th of them from 0,
// step = max(1, M // contextual), the first contextual of them; every other
// remaining patch joins the target with the largest cosine of the
// normalised key metric (Visual.Keys; ties: first target); contextual token
// = target + mean(members) — the reference adds the cluster mean to the
// target, and an empty cluster leaves the target unchanged. Output =
// [dominant ; contextual] (Order "official"), or sorted by Source (Order
// "spatial"); positions renumbered.
//
// Budget: Dominant and Contextual when both are set (then the output has
// Dominant+Contextual tokens whatever keep is); one of them set: the other is
// keep minus it (at least 0); otherwise contextual = round(keep·10/64) (the paper's 54+10,
// 108+20, 162+30 for 64/128/192) and dominant = keep − contextual. When fewer
// than contextual patches remain, all of them become targets (the reference
// would fail) and fewer tokens are returned.
//
// Deviations, all documented in Result: the CLS token is only included when
// the model provides it (Visual.CLSFeatures; CLS "auto", the default; "on"
// requires it, "off" never uses it — without CLS, dominant counts patches
// only). Features are merged after the projector; the reference merges
// before it, which Result.PreProj reproduces when Visual.PreProj has N rows
// (and, with CLS, CLSPreProj fits); otherwise Result.PreProj stays empty.
type VisionZip struct {
	Dominant   int    // dominant tokens including CLS; 0 = from keep
	Contextual int    // contextual tokens; 0 = from keep (or none if Dominant is set)
	CLS        string // "auto" (default), "on" or "off"
	Order      string // "official" (default) or "spatial"
}

// Name implements PreDecoder.
func (VisionZip) Name() string { return "visionzip" }

// Needs implements PreDecoder.
func (m VisionZip) Needs() Need {
	n := NeedFeatures | NeedCLSAttn | NeedKeys
	if m.CLS == "on" {
		n |= NeedCLSToken
	}
	return n
}

// split returns the dominant (incl. CLS when used) and contextual counts.
func (m VisionZip) split(keep int) (dom, ctx int, err error) {
	dom, ctx = m.Dominant, m.Contextual
	switch {
	case dom < 0 || ctx < 0:
		return 0, 0, errParam(m.Name(), "negative dominant %d or contextual %d", dom, ctx)
	case dom == 0 && ctx == 0:
		ctx = int(math.RoundToEven(float64(keep) * 10 / 64))
		dom = keep - ctx
	case dom == 0:
		dom = keep - ctx
	case ctx == 0:
		ctx = max(0, keep-dom)
	}
	if dom < 1 {
		return 0, 0, fmt.Errorf("pruning: visionzip: %d contextual tokens leave no dominant token of %d: %w", ctx, keep, ErrBudget)
	}
	return dom, ctx, nil
}

// Apply implements PreDecoder.
func (m VisionZip) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(m, v, keep)
	if err != nil {
		return Result{}, err
	}
	if keep == n && m.Dominant == 0 && m.Contextual == 0 {
		return identityResult(v), nil
	}
	dom, ctx, err := m.split(keep)
	if err != nil {
		return Result{}, err
	}
	useCLS := m.CLS != "off" && len(v.CLSFeatures) > 0
	if useCLS {
		if err := checkVector(m.Name(), "CLS features", v.CLSFeatures, v.Features.Cols); err != nil {
			return Result{}, err
		}
	}
	withZ := preProjUsable(v) && (!useCLS || checkVector("", "", v.CLSPreProj, v.PreProj.Cols) == nil)
	patches := dom
	if useCLS {
		patches--
	}
	patches = min(patches, n)
	dominant := topK(to64(v.CLSAttn), patches)
	isDom := make([]bool, n)
	for _, j := range dominant {
		isDom[j] = true
	}
	var rest []int
	for j := range n {
		if !isDom[j] {
			rest = append(rest, j)
		}
	}
	var targets []int
	var groups [][]int
	if ctx > 0 && len(rest) > 0 {
		step := max(1, len(rest)/ctx)
		isTarget := make([]bool, len(rest))
		for p := 0; p < len(rest) && len(targets) < ctx; p += step {
			targets = append(targets, rest[p])
			isTarget[p] = true
		}
		groups = make([][]int, len(targets))
		tk := make([][]float32, len(targets))
		for t, j := range targets {
			tk[t] = make([]float32, v.Keys.Cols)
			normalizeInto(tk[t], v.Keys.Row(j))
		}
		kn := make([]float32, v.Keys.Cols)
		for p, j := range rest {
			if isTarget[p] {
				continue
			}
			normalizeInto(kn, v.Keys.Row(j))
			best, bestSim := 0, math.Inf(-1)
			for t := range targets {
				if s := dot(kn, tk[t]); s > bestSim {
					best, bestSim = t, s
				}
			}
			groups[best] = append(groups[best], j)
		}
	}

	res := Result{Positions: Renumber}
	if useCLS {
		res.Source = append(res.Source, -1)
		res.Sizes = append(res.Sizes, 1)
	}
	for _, j := range dominant {
		res.Source = append(res.Source, j)
		res.Sizes = append(res.Sizes, 1)
	}
	for t, j := range targets {
		res.Source = append(res.Source, j)
		res.Sizes = append(res.Sizes, 1+len(groups[t]))
	}
	build := func(x Matrix, cls []float32) Matrix {
		out := Matrix{Rows: len(res.Source), Cols: x.Cols, Data: make([]float32, 0, len(res.Source)*x.Cols)}
		if useCLS {
			out.Data = append(out.Data, cls...)
		}
		for _, j := range dominant {
			out.Data = append(out.Data, x.Row(j)...)
		}
		tg := Gather(x, targets)
		ctxRows := meanRows(x, groups, &tg)
		return Matrix{Rows: out.Rows, Cols: out.Cols, Data: append(out.Data, ctxRows.Data...)}
	}
	res.Features = build(v.Features, v.CLSFeatures)
	if withZ {
		res.PreProj = build(v.PreProj, v.CLSPreProj)
	}
	if m.Order == "spatial" {
		sortResult(&res)
	}
	return res, nil
}

// sortResult reorders a result's tokens by ascending Source.
func sortResult(r *Result) {
	perm := seq(len(r.Source))
	slices.SortStableFunc(perm, func(a, b int) int { return r.Source[a] - r.Source[b] })
	src := make([]int, len(perm))
	var sizes []int
	if r.Sizes != nil {
		sizes = make([]int, len(perm))
	}
	for i, p := range perm {
		src[i] = r.Source[p]
		if sizes != nil {
			sizes[i] = r.Sizes[p]
		}
	}
	r.Features = Gather(r.Features, perm)
	if r.PreProj.Rows > 0 {
		r.PreProj = Gather(r.PreProj, perm)
	}
	r.Source, r.Sizes = src, sizes
}
