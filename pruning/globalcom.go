package pruning

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// GlobalCom2 is GlobalCom² (Liu et al., AAAI'26; xuyang-liu16/GlobalCom2,
// llava_arch.py, reference part 2 §6): thumbnail-guided compression of a
// tiled ("AnyRes") image, the global thumbnail deciding how many tokens each
// tile keeps. ρ (retention_ratio) = keep/N here (0.25 in the reference).
//
//  1. Thumbnail: keep int(T·ρ) of its T tokens (computed exactly as
//     ⌊keep·T/N⌋) with the largest CLS logit.
//  2. Tile budgets: the thumbnail's s×s logit map is cut into R×C blocks
//     (block ⌊s/R⌋×⌊s/C⌋, the last row/column of blocks absorbing the
//     remainder); S_c = the block's logit sum; p = softmax((S − max S)/10);
//     scale_c = min(ρ·(1 + p_c − mean p), 1) (no lower clip).
//  3. Tile tokens: score = L2-normalised own CLS logits + L2-normalised
//     thumbnail logits bilinearly resized (align_corners=False) to the full
//     (R·s)×(C·s) grid and cut per tile; keep int(T·scale_c) by score.
//
// The count is ⌊keep·T/N⌋ + Σ_c int(T·scale_c) ≤ keep (at least 1: the best
// thumbnail token when everything rounds to 0); keep = N keeps everything.
// Ties: lowest index. Positions renumbered.
//
// Layout. The tokens are Visual.Views views of N/Views tokens each (an s×s
// grid); the global view is the last (SmolVLM; global=first for LLaVA-NeXT's
// base-first order); the tile grid is Visual.TileRows×TileCols, else the
// layout parameter ("4x4"), else the square root of the tile count (an
// error when it is not a square). A single view (Views ≤ 1) is the
// thumbnail alone: the keep tokens with the largest score.
//
// Decisions (documented deviations):
//   - The reference reads pre-softmax CLS logits of the last ViT layer
//     (head mean). With score=cls the logits are recovered from the CLS
//     attention row as log p, centred per view (softmax's additive constant
//     is lost; exact for a single head). The SigLIP encoders of SmolVLM and
//     LLaVA-OneVision have no CLS token: score=mean uses x_j·x̄/√D with x̄
//     the view's mean projected token, a parameter-free stand-in for the
//     CLS query. score=auto: cls when the model gives CLS attention.
//   - Kept thumbnail tokens are emitted in spatial order (the reference
//     emits them in descending score); LLaVA-NeXT's unpadding and newline
//     tokens do not exist in vlmrun's tiled families (SmolVLM tiles are not
//     padded and have no newlines).
//   - With tile pruning (--tile-prune) the skipped tiles' tokens are absent
//     and the runner does not pass TileRows/TileCols to pruning yet, so the
//     layout is inferred from the remaining views: give layout= or expect an
//     error (the inference refuses a non-square count; a square count of
//     remaining tiles is taken as a full grid).
type GlobalCom2 struct {
	Score  string // "auto", "cls", "mean"
	Global string // "last" or "first"
	Layout string // "auto" or "RxC"
}

// Name implements PreDecoder.
func (GlobalCom2) Name() string { return "globalcom2" }

// Needs implements PreDecoder.
func (m GlobalCom2) Needs() Need {
	if m.Score == "cls" {
		return NeedFeatures | NeedCLSAttn
	}
	return NeedFeatures
}

func (GlobalCom2) layout(v *Visual, views int, spec string) (r, c int, err error) {
	tiles := views - 1
	if v.TileRows > 0 && v.TileCols > 0 && v.TileRows*v.TileCols == tiles {
		return v.TileRows, v.TileCols, nil
	}
	if spec != "" && spec != "auto" {
		a, b, ok := strings.Cut(strings.ToLower(spec), "x")
		r, e1 := strconv.Atoi(a)
		c, e2 := strconv.Atoi(b)
		if !ok || e1 != nil || e2 != nil || r < 1 || c < 1 || r*c != tiles {
			return 0, 0, fmt.Errorf("pruning: globalcom2: layout %q does not give the %d tiles present: %w", spec, tiles, ErrBadInput)
		}
		return r, c, nil
	}
	s := int(math.Round(math.Sqrt(float64(tiles))))
	if s*s != tiles {
		return 0, 0, fmt.Errorf("pruning: globalcom2: %d tiles are not a square grid; give layout=RxC: %w", tiles, ErrBadInput)
	}
	return s, s, nil
}

// validLayout reports whether s is "auto", "" or "RxC" with R, C >= 1.
func validLayout(s string) bool {
	if s == "" || s == "auto" {
		return true
	}
	a, b, ok := strings.Cut(strings.ToLower(s), "x")
	r, e1 := strconv.Atoi(a)
	c, e2 := strconv.Atoi(b)
	return ok && e1 == nil && e2 == nil && r >= 1 && c >= 1 && r <= 1<<10 && c <= 1<<10
}

// viewLogits returns the score ("CLS logit") of every token, per view.
func (m GlobalCom2) viewLogits(v *Visual, views, t int) []float64 {
	n, d := v.Features.Rows, v.Features.Cols
	out := make([]float64, n)
	useCLS := m.Score == "cls" || (m.Score != "mean" && len(v.CLSAttn) == n)
	for vi := range views {
		lo, hi := vi*t, (vi+1)*t
		if useCLS {
			mean := 0.0
			for j := lo; j < hi; j++ {
				out[j] = math.Log(max(float64(v.CLSAttn[j]), 1e-30))
				mean += out[j] / float64(t)
			}
			for j := lo; j < hi; j++ {
				out[j] -= mean
			}
			continue
		}
		c := make([]float64, d)
		for j := lo; j < hi; j++ {
			for k, x := range v.Features.Row(j) {
				c[k] += float64(x) / float64(t)
			}
		}
		cf := make([]float32, d)
		for k := range c {
			cf[k] = float32(c[k])
		}
		dotRows(cf, v.Features.Data[lo*d:hi*d], d, out[lo:hi])
		for j := lo; j < hi; j++ {
			out[j] /= math.Sqrt(float64(d))
		}
	}
	return out
}

// Apply implements PreDecoder.
func (m GlobalCom2) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(m, v, keep)
	if err != nil {
		return Result{}, err
	}
	if m.Score == "cls" {
		if err := checkVector(m.Name(), "CLS attention", v.CLSAttn, n); err != nil {
			return Result{}, err
		}
	}
	if keep == n {
		return identityResult(v), nil
	}
	views := max(1, v.Views)
	if n%views != 0 {
		return Result{}, fmt.Errorf("pruning: globalcom2: %d tokens are not %d equal views: %w", n, views, ErrBadInput)
	}
	t := n / views
	logit := m.viewLogits(v, views, t)
	if views == 1 {
		return selectResult(v, topK(logit, keep)), nil
	}
	R, C, err := m.layout(v, views, m.Layout)
	if err != nil {
		return Result{}, err
	}
	s := int(math.Round(math.Sqrt(float64(t))))
	if s*s != t || s < R || s < C {
		return Result{}, fmt.Errorf("pruning: globalcom2: %d tokens per view are not a square grid of at least %d×%d: %w", t, R, C, ErrBadInput)
	}
	g := views - 1 // global view index
	first := 0     // first tile's view index
	if m.Global == "first" {
		g, first = 0, 1
	}
	rho := float64(keep) / float64(n)
	thumb := logit[g*t : (g+1)*t]
	var sel []int
	for _, j := range topK(thumb, keep*t/n) {
		sel = append(sel, g*t+j)
	}
	scales := globalComScales(thumb, s, R, C, rho)
	up := bilinear(thumb, s, s, R*s, C*s)
	for ti := range R * C {
		tr, tc := ti/C, ti%C
		own := logit[(first+ti)*t : (first+ti+1)*t]
		glob := make([]float64, t)
		for y := range s {
			for x := range s {
				glob[y*s+x] = up[(tr*s+y)*(C*s)+tc*s+x]
			}
		}
		score := addNormalized(own, glob)
		for _, j := range topK(score, int(float64(t)*scales[ti])) {
			sel = append(sel, (first+ti)*t+j)
		}
	}
	if len(sel) == 0 {
		sel = topK(thumb, 1)
		sel[0] += g * t
	}
	slices.Sort(sel)
	return selectResult(v, sel), nil
}

// globalComScales returns the per-tile retention scales of GlobalCom² from
// the thumbnail's s×s logit map.
func globalComScales(thumb []float64, s, R, C int, rho float64) []float64 {
	bh, bw := s/R, s/C
	S := make([]float64, R*C)
	for y := range s {
		br := min(y/bh, R-1)
		for x := range s {
			S[br*C+min(x/bw, C-1)] += thumb[y*s+x]
		}
	}
	mx := math.Inf(-1)
	for _, x := range S {
		mx = max(mx, x)
	}
	p := make([]float64, len(S))
	sum := 0.0
	for i, x := range S {
		p[i] = math.Exp((x - mx) / 10)
		sum += p[i]
	}
	mean := 1 / float64(len(S))
	out := make([]float64, len(S))
	for i := range p {
		out[i] = min(rho*(1+p[i]/sum-mean), 1)
	}
	return out
}

// bilinear resizes an h×w map to oh×ow as torch's interpolate(mode=
// "bilinear", align_corners=False) does.
func bilinear(in []float64, h, w, oh, ow int) []float64 {
	src := func(o, inN, outN int) (int, int, float64) {
		x := max((float64(o)+0.5)*float64(inN)/float64(outN)-0.5, 0)
		i0 := min(int(x), inN-1)
		i1 := min(i0+1, inN-1)
		return i0, i1, x - float64(i0)
	}
	out := make([]float64, oh*ow)
	for y := range oh {
		y0, y1, fy := src(y, h, oh)
		for x := range ow {
			x0, x1, fx := src(x, w, ow)
			top := in[y0*w+x0]*(1-fx) + in[y0*w+x1]*fx
			bot := in[y1*w+x0]*(1-fx) + in[y1*w+x1]*fx
			out[y*ow+x] = top*(1-fy) + bot*fy
		}
	}
	return out
}

// addNormalized returns a/‖a‖ + b/‖b‖ (a zero vector stays zero).
func addNormalized(a, b []float64) []float64 {
	na, nb := 0.0, 0.0
	for i := range a {
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	na, nb = math.Sqrt(na), math.Sqrt(nb)
	out := make([]float64, len(a))
	for i := range a {
		if na >= normEps {
			out[i] += a[i] / na
		}
		if nb >= normEps {
			out[i] += b[i] / nb
		}
	}
	return out
}
