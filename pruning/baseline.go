package pruning

import (
	"fmt"
	"math"
	"slices"
)

// Baselines (reference §2): random, stride / uniform grid and average
// pooling. They are the sanity floor for every other method. All act before
// the decoder on the post-projector tokens, keep exactly keep tokens and use
// renumbered positions.

// Random keeps keep tokens drawn uniformly without replacement, sorted
// ascending. The generator is a self-contained splitmix64 stream seeded with
// Seed (partial Fisher–Yates with unbiased bounded draws), so a seed gives
// the same selection on every platform and Go version.
type Random struct {
	Seed uint64
}

// Name implements PreDecoder.
func (Random) Name() string { return "random" }

// Needs implements PreDecoder.
func (Random) Needs() Need { return NeedFeatures }

func (Random) featureValuesUnread() bool { return true }

// Apply implements PreDecoder.
func (r Random) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(r, v, keep)
	if err != nil {
		return Result{}, err
	}
	if keep == n {
		return identityResult(v), nil
	}
	g := splitmix{state: r.Seed}
	perm := seq(n)
	for i := range keep {
		j := i + int(g.below(uint64(n-i)))
		perm[i], perm[j] = perm[j], perm[i]
	}
	sel := perm[:keep]
	slices.Sort(sel)
	return selectResult(v, sel), nil
}

// splitmix is the splitmix64 generator (Steele, Lea, Flood 2014).
type splitmix struct{ state uint64 }

func (g *splitmix) next() uint64 {
	g.state += 0x9e3779b97f4a7c15
	z := g.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// below returns a uniform value in [0, n) (n >= 1) by rejection sampling.
func (g *splitmix) below(n uint64) uint64 {
	limit := math.MaxUint64 - math.MaxUint64%n
	for {
		if x := g.next(); x < limit {
			return x % n
		}
	}
}

// Stride keeps a regular lattice of the token grid, the Python slice
// x[::s, ::s] generalised to any budget: the budget is factored as a×b
// (a <= GridH, b <= GridW, aspect closest to the grid's, ties: fewer rows)
// and rows floor(i·GridH/a), columns floor(j·GridW/b) are kept (24×24, 64 →
// 8×8 = stride 3 starting at 0). When the grid is unknown, Mode is "1d", or
// no factorisation fits, it keeps idx_i = floor(i·N/keep) (reference §2).
// Exactly keep tokens, ascending.
type Stride struct {
	Mode string // "grid" (default) or "1d"
}

// Name implements PreDecoder.
func (Stride) Name() string { return "stride" }

// Needs implements PreDecoder.
func (Stride) Needs() Need { return NeedFeatures }

func (Stride) featureValuesUnread() bool { return true }

// Apply implements PreDecoder.
func (s Stride) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(s, v, keep)
	if err != nil {
		return Result{}, err
	}
	if keep == n {
		return identityResult(v), nil
	}
	sel := make([]int, 0, keep)
	if h, w, a, b, ok := latticeFor(s.Mode, v, keep); ok {
		for i := range a {
			for j := range b {
				sel = append(sel, (i*h/a)*w+j*w/b)
			}
		}
	} else {
		for i := range keep {
			sel = append(sel, i*n/keep)
		}
	}
	return selectResult(v, sel), nil
}

// latticeFor returns the a×b factorisation of keep used on v's grid, if the
// mode allows one.
func latticeFor(mode string, v *Visual, keep int) (h, w, a, b int, ok bool) {
	if mode == "1d" {
		return 0, 0, 0, 0, false
	}
	h, w, err := grid("", v)
	if err != nil {
		return 0, 0, 0, 0, false
	}
	best := math.Inf(1)
	want := math.Log(float64(h) / float64(w))
	for x := 1; x <= min(h, keep); x++ {
		if keep%x != 0 || keep/x > w {
			continue
		}
		if d := math.Abs(math.Log(float64(x)/float64(keep/x)) - want); d < best-1e-12 {
			best, a, b = d, x, keep/x
		}
	}
	return h, w, a, b, a > 0
}

// Pool average-pools the token grid to keep output tokens, as PyTorch's
// adaptive_avg_pool2d: the budget is factored as a×b like Stride, and output
// (i, j) averages rows [floor(i·H/a), ceil((i+1)·H/a)) × columns
// [floor(j·W/b), ceil((j+1)·W/b)) (bins overlap by one row/column when the
// grid is not divisible; 24×24 → 8×8 is plain 3×3 pooling). Without a grid,
// with Mode "1d" or when no factorisation fits, it pools raster order:
// output i averages tokens [floor(i·N/keep), ceil((i+1)·N/keep)). Source is
// each bin's first (top-left) token, the Stride lattice; Sizes the bin
// sizes. Pre-projector features are pooled the same way when provided
// with N rows.
// Exactly keep tokens, ascending, renumbered positions.
type Pool struct {
	Mode string // "grid" (default) or "1d"
}

// Name implements PreDecoder.
func (Pool) Name() string { return "pool" }

// Needs implements PreDecoder.
func (Pool) Needs() Need { return NeedFeatures }

func (Pool) featureValuesUnread() bool { return true }

// Apply implements PreDecoder.
func (p Pool) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(p, v, keep)
	if err != nil {
		return Result{}, err
	}
	if keep == n {
		return identityResult(v), nil
	}
	var bins [][]int
	if h, w, a, b, ok := latticeFor(p.Mode, v, keep); ok {
		for i := range a {
			r0, r1 := i*h/a, ceilDiv((i+1)*h, a)
			for j := range b {
				c0, c1 := j*w/b, ceilDiv((j+1)*w, b)
				bin := make([]int, 0, (r1-r0)*(c1-c0))
				for r := r0; r < r1; r++ {
					for c := c0; c < c1; c++ {
						bin = append(bin, r*w+c)
					}
				}
				bins = append(bins, bin)
			}
		}
	} else {
		for i := range keep {
			lo, hi := i*n/keep, ceilDiv((i+1)*n, keep)
			bins = append(bins, seqFrom(lo, hi))
		}
	}
	res := Result{Positions: Renumber, Source: make([]int, len(bins)), Sizes: make([]int, len(bins))}
	for i, bin := range bins {
		res.Source[i], res.Sizes[i] = bin[0], len(bin)
	}
	res.Features = meanRows(v.Features, bins, nil)
	if preProjUsable(v) {
		res.PreProj = meanRows(v.PreProj, bins, nil)
	}
	return res, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func seqFrom(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// meanRows returns, for each group, the mean of its rows of m (float64
// accumulation). With base != nil, group i's result is base row i plus the
// group mean (VisionZip's "target + cluster mean"); an empty group then
// gives the base row unchanged.
func meanRows(m Matrix, groups [][]int, base *Matrix) Matrix {
	out := Matrix{Rows: len(groups), Cols: m.Cols, Data: make([]float32, len(groups)*m.Cols)}
	acc := make([]float64, m.Cols)
	for g, rows := range groups {
		clear(acc)
		for _, r := range rows {
			for k, x := range m.Row(r) {
				acc[k] += float64(x)
			}
		}
		dst := out.Row(g)
		inv := 0.0
		if len(rows) > 0 {
			inv = 1 / float64(len(rows))
		}
		for k := range dst {
			val := acc[k] * inv
			if base != nil {
				val += float64(base.Row(g)[k])
			}
			dst[k] = float32(val)
		}
	}
	return out
}

func errParam(method, format string, args ...any) error {
	return fmt.Errorf("pruning: %s: %s: %w", method, fmt.Sprintf(format, args...), ErrBadValue)
}
