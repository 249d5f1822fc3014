package pruning

import (
	"fmt"
	"math"
	"slices"
)

// Shared machinery of the temporal (video) methods: dtd, dycoke, fastvid,
// prunevid and holitom. See ../shared/reference/pruning-methods-2.md.
//
// Frames: Visual.Frames frames of n = N/Frames tokens each, frame-major.
// Budgets: every temporal method returns at most keep tokens. With
// Scope "global" (the default) the keep tokens may fall anywhere; with
// Scope "frame" frame f keeps at most keep/F tokens (the remainder
// keep mod F goes one each to the earliest frames); a merged token that
// spans several frames counts for the first of them. When the method's own
// rule leaves more, the lowest-priority outputs are dropped (each method
// documents its priority); the order of the survivors is unchanged.
//
// keep = N: fastvid and holitom (whose budget is their retain ratio) return
// every token unchanged; dtd, dycoke and prunevid (content-adaptive) apply
// their rule, and keep everything with dtd:tau=1, dycoke:k=0,order=spatial
// and prunevid:tau=1,ratio=1,order=spatial.

// frameLayout returns the frame count F and the tokens per frame n.
func frameLayout(name string, v *Visual) (f, n int, err error) {
	f = max(1, v.Frames)
	N := v.Features.Rows
	if N%f != 0 || N < f {
		return 0, 0, fmt.Errorf("pruning: %s: %d tokens do not split into %d equal frames: %w", name, N, f, ErrBadInput)
	}
	return f, N / f, nil
}

// tout is one output token of a temporal method.
type tout struct {
	src   int       // representative input token (its position)
	frame int       // the frame it counts for in a frame budget
	feat  []float32 // nil: the input row src unchanged
	size  int       // input tokens it stands for
	prio  float64   // higher survives a budget cut
	// PruneVid's grouping (Result.Groups): the window index and whether the
	// token stands for a static position of the whole window.
	window int
	static bool
}

// quota returns frame f's share of keep tokens over F frames.
func quota(keep, F, f int) int {
	q := keep / F
	if f < keep%F {
		q++
	}
	return q
}

// capOutputs applies the budget (see above) and returns the surviving
// outputs in their original order.
func capOutputs(outs []tout, keep, F int, scope string) []tout {
	order := seq(len(outs))
	pr := make([]float64, len(outs))
	for i, o := range outs {
		pr[i] = o.prio
	}
	slices.SortStableFunc(order, cmpDesc(pr))
	alive := make([]bool, len(outs))
	used := make([]int, F)
	total := 0
	for _, i := range order {
		if total == keep {
			break
		}
		if scope == "frame" {
			f := outs[i].frame
			if used[f] >= quota(keep, F, f) {
				continue
			}
			used[f]++
		}
		alive[i] = true
		total++
	}
	kept := outs[:0:0]
	for i, o := range outs {
		if alive[i] {
			kept = append(kept, o)
		}
	}
	return kept
}

// toResult turns outputs into a Result (Sizes nil when every output is an
// unchanged single input token).
func toResult(v *Visual, outs []tout) Result {
	d := v.Features.Cols
	res := Result{Source: make([]int, len(outs)), Positions: Renumber,
		Features: Matrix{Rows: len(outs), Cols: d, Data: make([]float32, len(outs)*d)}}
	merged := false
	for i, o := range outs {
		res.Source[i] = o.src
		if o.feat != nil {
			copy(res.Features.Data[i*d:], o.feat)
		} else {
			copy(res.Features.Data[i*d:], v.Features.Row(o.src))
		}
		merged = merged || o.size != 1 || o.feat != nil
	}
	if merged {
		res.Sizes = make([]int, len(outs))
		for i, o := range outs {
			res.Sizes[i] = o.size
		}
	}
	return res
}

// checkTemporal validates v and keep and returns F and n.
func checkTemporal(m interface {
	Name() string
	Needs() Need
}, v *Visual, keep int, scope string) (F, n int, err error) {
	if _, err = checkVisual(m, v, keep); err != nil {
		return 0, 0, err
	}
	if F, n, err = frameLayout(m.Name(), v); err != nil {
		return 0, 0, err
	}
	if scope != "" && scope != "global" && scope != "frame" {
		return 0, 0, fmt.Errorf("pruning: %s: scope %q: want global or frame: %w", m.Name(), scope, ErrBadValue)
	}
	if len(v.CLSAttn) > 0 {
		if err = checkVector(m.Name(), "CLS attention", v.CLSAttn, v.Features.Rows); err != nil {
			return 0, 0, err
		}
	}
	return F, n, nil
}

// tokenScore is the per-token attention of the frame-sequence methods that
// rank by encoder attention (FastVID's MAP-probe attention, HoliTom's
// SigLIP mean attention): Visual.CLSAttn when the model provides it,
// otherwise the token's L2 norm (vlmrun's encoders do not export either
// attention; the norm is a documented proxy).
func tokenScore(v *Visual) []float64 {
	if len(v.CLSAttn) == v.Features.Rows {
		return to64(v.CLSAttn)
	}
	s := make([]float64, v.Features.Rows)
	for i := range s {
		s[i] = norm2(v.Features.Row(i))
	}
	return s
}

// noise is the optional tie-breaking noise of DPC-kNN: the reference adds
// U(0,1)·1e-6 (torch.rand) to every density. nil: no noise, ties go to the
// lowest index (the default, deterministic without a seed).
type noise func() float64

func seededNoise(seed string) noise {
	if seed == "" {
		return nil
	}
	var s uint64
	for _, c := range seed {
		s = s*1099511628211 + uint64(c)
	}
	g := splitmix{state: s}
	return func() float64 { return float64(g.next()>>11) / (1 << 53) * 1e-6 }
}

// dpc holds the DPC-kNN quantities of a set of rows (TCFormer's
// cluster_dpc_knn, shared by SparseVLM, FastVID, PruneVid and HoliTom):
// d_ij = ‖x_i−x_j‖/√C; density_i = exp(−mean of d² over the k nearest rows,
// self included) (+ noise); δ_i = the distance to the nearest denser row
// (the largest distance overall for the densest; equal densities: the lower
// index counts as denser); score = δ·density.
type dpc struct {
	n     int
	dist  []float64
	score []float64
}

func newDPC(x Matrix, k int, nz noise) dpc {
	n, c := x.Rows, x.Cols
	k = max(1, min(k, n))
	dist := make([]float64, n*n)
	scale := 1 / math.Sqrt(float64(c))
	// ‖x_i − x_j‖² = ‖x_i‖² + ‖x_j‖² − 2 x_i·x_j (dot products in float64,
	// vectorised); rounding below 0 is clamped to 0
	sq := make([]float64, n)
	for i := range n {
		sq[i] = dot(x.Row(i), x.Row(i))
	}
	parallelFor(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := dist[i*n+i+1 : (i+1)*n]
			dotRows(x.Row(i), x.Data[(i+1)*c:], c, row)
			for k, g := range row {
				row[k] = math.Sqrt(max(0, sq[i]+sq[i+1+k]-2*g)) * scale
			}
		}
	})
	dmax := 0.0
	for i := range n {
		for j := i + 1; j < n; j++ {
			dist[j*n+i] = dist[i*n+j]
			dmax = max(dmax, dist[i*n+j])
		}
	}
	density := make([]float64, n)
	row := make([]float64, n)
	for i := range n {
		copy(row, dist[i*n:(i+1)*n])
		slices.Sort(row)
		s := 0.0
		for _, dd := range row[:k] {
			s += dd * dd
		}
		density[i] = math.Exp(-s / float64(k))
		if nz != nil {
			density[i] += nz()
		}
	}
	score := make([]float64, n)
	for i := range n {
		delta := dmax
		for j := range n {
			denser := density[j] > density[i] || (density[j] == density[i] && j < i)
			if denser && dist[i*n+j] < delta {
				delta = dist[i*n+j]
			}
		}
		score[i] = delta * density[i]
	}
	return dpc{n: n, dist: dist, score: score}
}

// centres returns the top m rows by score (ties: lowest index), in rank
// order, and every row's cluster (index into the centres): its nearest
// centre (ties: the higher-ranked), a centre its own.
func (d dpc) centres(m int) (cent, assign []int) {
	m = max(1, min(m, d.n))
	cent = orderDesc(d.score)[:m]
	assign = make([]int, d.n)
	for i := range d.n {
		best := 0
		for ci, cj := range cent {
			if d.dist[cj*d.n+i] < d.dist[cent[best]*d.n+i] {
				best = ci
			}
		}
		assign[i] = best
	}
	for ci, cj := range cent {
		assign[cj] = ci
	}
	return cent, assign
}

// rowsOf gathers rows idx of x (a view for the clustering helpers).
func rowsOf(x Matrix, idx []int) Matrix { return Gather(x, idx) }

// meanOf returns the mean of the rows idx of x (float64 accumulation).
func meanOf(x Matrix, idx []int) []float32 {
	acc := make([]float64, x.Cols)
	for _, i := range idx {
		for k, v := range x.Row(i) {
			acc[k] += float64(v)
		}
	}
	out := make([]float32, x.Cols)
	for k := range out {
		out[k] = float32(acc[k] / float64(len(idx)))
	}
	return out
}

// clampCos clamps a cosine to [−1, 1] (float rounding can exceed 1, which
// would make a "sim > 1" threshold drop identical tokens).
func clampCos(c float64) float64 { return max(-1, min(1, c)) }

// seed reads the optional "seed" parameter: empty, or an unsigned integer.
func (a *args) seed() string {
	if a.vals["seed"] == "" {
		return ""
	}
	a.uint64v("seed")
	return a.vals["seed"]
}

// FramePixels are the vision encoder's input pixels of each frame, with what
// is needed to compare them per visual token.
type FramePixels struct {
	// Data[f] is frame f's normalized pixel tensor, C × H × W (what the
	// vision encoder read).
	Data    [][]float32
	C, H, W int
	// Scale[c] turns a difference of normalized values of channel c into a
	// difference of [0, 1] pixel values (the normalization's std).
	Scale []float32
	// GridH × GridW is a frame's token grid: token (r, c) covers pixel rows
	// [r·H/GridH, (r+1)·H/GridH) and columns [c·W/GridW, (c+1)·W/GridW).
	GridH, GridW int
	// Last, when not nil, says each frame is a group of raw frames (a
	// Qwen2-VL temporal patch): Data[f] is group f's first raw frame and
	// Last[f] its last, and frame f is compared by its last raw frame
	// against the previous group's first (DTD's reference compares
	// pixel_values_videos so: raw frames temporal_patch_size+1 apart).
	Last [][]float32
}

// pixelDiffs returns, for frames 1..F−1, each token's mean absolute [0, 1]
// pixel difference to the same token of the previous frame, over channels
// and the token's pixels ((F−1)·n values); for grouped frames
// (FramePixels.Last) the last raw frame of group f against the first of
// group f−1.
func pixelDiffs(name string, fp *FramePixels, F, n int) ([]float64, error) {
	if fp == nil {
		return nil, fmt.Errorf("pruning: %s: pixel mode needs the frames' pixels, which the runner does not provide: %w", name, ErrMissingInput)
	}
	C, H, W, gh, gw := fp.C, fp.H, fp.W, fp.GridH, fp.GridW
	if len(fp.Data) != F || C < 1 || len(fp.Scale) != C || gh < 1 || gw < 1 || gh*gw != n || gh > H || gw > W {
		return nil, fmt.Errorf("pruning: %s: frame pixels (%d frames, %d×%d×%d, token grid %d×%d) do not match %d frames of %d tokens: %w",
			name, len(fp.Data), C, H, W, gh, gw, F, n, ErrBadInput)
	}
	if fp.Last != nil && len(fp.Last) != F {
		return nil, fmt.Errorf("pruning: %s: %d last raw frames for %d frames: %w", name, len(fp.Last), F, ErrBadInput)
	}
	for _, d := range append(slices.Clip(fp.Data), fp.Last...) {
		if len(d) != C*H*W || !allFinite(d) {
			return nil, fmt.Errorf("pruning: %s: a frame's pixels are not %d finite values: %w", name, C*H*W, ErrBadInput)
		}
	}
	out := make([]float64, 0, (F-1)*n)
	for f := 1; f < F; f++ {
		a, b := fp.Data[f-1], fp.Data[f]
		if fp.Last != nil {
			b = fp.Last[f]
		}
		for r := range gh {
			y0, y1 := r*H/gh, (r+1)*H/gh
			for c := range gw {
				x0, x1 := c*W/gw, (c+1)*W/gw
				s := 0.0
				for ch := range C {
					sc := float64(fp.Scale[ch])
					for y := y0; y < y1; y++ {
						o := ch*H*W + y*W
						for x := x0; x < x1; x++ {
							s += math.Abs(float64(a[o+x])-float64(b[o+x])) * sc
						}
					}
				}
				out = append(out, s/float64(C*(y1-y0)*(x1-x0)))
			}
		}
	}
	return out, nil
}
