package pruning

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// DivPrune (Alvar et al., CVPR'25; vbdi/divprune, reference §3.3): greedy
// max–min diversity on the post-projector tokens.
//
// Dist = 1 − cos(X_i, X_j). Pick #1 = argmax_j of the second-smallest entry
// of column j of Dist (the column includes the zero self-distance, so this is
// the distance to the nearest neighbour); pick #i>1 = argmax_j min over the
// picked s of Dist[s, j]. Ties go to the lowest index (torch.argmax). The
// kept indices are sorted ascending; positions renumbered. The budget is the
// keep count (the reference's int(round(ratio·N)), default ratio 0.098 → 56
// of 576, is what Budget.Count computes for a ratio).
//
// The distance matrix is computed once (each pair once, float64 sums) and
// kept in float32 — the reference's precision — for N <= 4096 (64 MiB); the
// greedy steps keep a running minimum per token (O(N²D/2) + O(K·N); above
// 4096 tokens the rows are recomputed per pick, O(K·N·D)). A token already picked is
// never picked again; the reference could re-pick one only when more tokens
// are requested than distinct tokens exist.
type DivPrune struct{}

// Name implements PreDecoder.
func (DivPrune) Name() string { return "divprune" }

// Needs implements PreDecoder.
func (DivPrune) Needs() Need { return NeedFeatures }

// Apply implements PreDecoder.
func (m DivPrune) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(m, v, keep)
	if err != nil {
		return Result{}, err
	}
	if keep == n {
		return identityResult(v), nil
	}
	d := v.Features.Cols
	xn := normalizeRows(v.Features)
	var dist []float32
	if n <= maxCachedDist {
		dist = make([]float32, n*n)
	}
	nn := nnDistances(xn, n, d, dist)
	first := argmaxFree(nn, make([]bool, n))
	distRow := cosDistRow(xn, d)
	if dist != nil {
		distRow = func(p int, out []float64) {
			for j, x := range dist[p*n : (p+1)*n] {
				out[j] = float64(x)
			}
		}
	}
	sel := greedyDiverse(n, keep, first, false, distRow)
	slices.Sort(sel)
	return selectResult(v, sel), nil
}

// cosDistRow returns a function that fills out[j] = 1 − x̂_p·x̂_j.
func cosDistRow(xn []float32, d int) func(p int, out []float64) {
	return func(p int, out []float64) {
		a := xn[p*d : (p+1)*d]
		parallelFor(len(out), 256, func(lo, hi int) {
			dotRows(a, xn[lo*d:hi*d], d, out[lo:hi])
		})
		for j, c := range out {
			out[j] = 1 - c
		}
	}
}

// euclidDistRow returns a function that fills out[j] = ‖x_p − x_j‖.
func euclidDistRow(x []float32, n, d int) func(p int, out []float64) {
	sq := make([]float64, n)
	for i := range n {
		r := x[i*d : (i+1)*d]
		sq[i] = dot(r, r)
	}
	return func(p int, out []float64) {
		a := x[p*d : (p+1)*d]
		parallelFor(len(out), 256, func(lo, hi int) {
			dotRows(a, x[lo*d:hi*d], d, out[lo:hi])
		})
		for j, c := range out {
			out[j] = math.Sqrt(max(0, sq[p]+sq[j]-2*c))
		}
	}
}

// greedyDiverse picks k of n tokens starting from first: each further pick
// maximises the minimum (sum=false: k-center / max–min) or the sum
// (sum=true: max-sum diversification) of distances to the picked tokens;
// ties go to the lowest index. It returns the picks in selection order.
func greedyDiverse(n, k, first int, sum bool, distRow func(p int, out []float64)) []int {
	agg := make([]float64, n)
	if !sum {
		for j := range agg {
			agg[j] = math.Inf(1)
		}
	}
	taken := make([]bool, n)
	row := make([]float64, n)
	order := make([]int, 0, k)
	p := first
	for {
		order = append(order, p)
		taken[p] = true
		if len(order) == k {
			return order
		}
		distRow(p, row)
		for j, dj := range row {
			switch {
			case sum:
				agg[j] += dj
			case dj < agg[j]:
				agg[j] = dj
			}
		}
		p = argmaxFree(agg, taken)
	}
}

// maxCachedDist is the largest N whose N×N float32 distance matrix DivPrune
// keeps.
const maxCachedDist = 4096

// nnDistances returns, for each column j of Dist = 1 − X̂X̂ᵀ, its
// second-smallest entry (the diagonal included), computing each pair once in
// 32×32 tiles spread over GOMAXPROCS workers. Each worker tracks its own two
// smallest values per column; the merge is exact, so the result does not
// depend on scheduling. When dist is not nil (n×n) it receives the matrix.
func nnDistances(xn []float32, n, d int, dist []float32) []float64 {
	const tile = 32
	nt := ceilDiv(n, tile)
	type pair struct{ a, b int }
	tiles := make([]pair, 0, nt*(nt+1)/2)
	for a := range nt {
		for b := a; b < nt; b++ {
			tiles = append(tiles, pair{a, b})
		}
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), len(tiles)))
	m1 := make([][]float64, workers)
	m2 := make([][]float64, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		m1[w], m2[w] = infs(n), infs(n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			a1, a2 := m1[w], m2[w]
			put := func(j int, x float64) {
				if x < a1[j] {
					a2[j], a1[j] = a1[j], x
				} else if x < a2[j] {
					a2[j] = x
				}
			}
			buf := make([]float64, tile)
			for t := int(next.Add(1)) - 1; t < len(tiles); t = int(next.Add(1)) - 1 {
				ti := tiles[t]
				i0, i1 := ti.a*tile, min(n, (ti.a+1)*tile)
				j0, j1 := ti.b*tile, min(n, (ti.b+1)*tile)
				for i := i0; i < i1; i++ {
					lo := j0
					if ti.a == ti.b {
						lo = i
					}
					out := buf[:j1-lo]
					dotRows(xn[i*d:(i+1)*d], xn[lo*d:j1*d], d, out)
					for k, c := range out {
						j := lo + k
						dd := 1 - c
						put(i, dd)
						if j != i {
							put(j, dd)
						}
						if dist != nil {
							dist[i*n+j], dist[j*n+i] = float32(dd), float32(dd)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	g1, g2 := m1[0], m2[0]
	for w := 1; w < workers; w++ {
		for j := range n {
			for _, x := range [2]float64{m1[w][j], m2[w][j]} {
				if x < g1[j] {
					g2[j], g1[j] = g1[j], x
				} else if x < g2[j] {
					g2[j] = x
				}
			}
		}
	}
	return g2
}

func infs(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.Inf(1)
	}
	return s
}

// ToDRE stage 1 (arXiv 2505.18757, reference §3.14; paper-only, no code
// read): diversity selection after the encoder. Mode "kcenter" (v1, default)
// is greedy k-center / farthest-point sampling (DivPrune's loop);
// Mode "maxsum" (v2) is greedy max-sum diversification (each pick maximises
// the sum of distances to the picked tokens). The paper leaves the first
// point open; here it is the token farthest from the mean token (ties:
// lowest index). Dist is "cosine" (1 − cos, default) or "euclid" (L2).
// Exactly keep tokens, ascending, renumbered positions. Stage 2 (dropping
// visual tokens inside the decoder) is not implemented.
type ToDRE struct {
	Mode string // "kcenter" (default) or "maxsum"
	Dist string // "cosine" (default) or "euclid"
}

// Name implements PreDecoder.
func (ToDRE) Name() string { return "todre" }

// Needs implements PreDecoder.
func (ToDRE) Needs() Need { return NeedFeatures }

// Apply implements PreDecoder.
func (m ToDRE) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(m, v, keep)
	if err != nil {
		return Result{}, err
	}
	if keep == n {
		return identityResult(v), nil
	}
	d := v.Features.Cols
	mean := make([]float32, d)
	acc := make([]float64, d)
	for i := range n {
		for k, x := range v.Features.Row(i) {
			acc[k] += float64(x)
		}
	}
	for k := range mean {
		mean[k] = float32(acc[k] / float64(n))
	}
	var distRow func(p int, out []float64)
	far := make([]float64, n)
	if m.Dist == "euclid" {
		x := v.Features.Data[:n*d]
		distRow = euclidDistRow(x, n, d)
		for j := range n {
			far[j] = sqDist(v.Features.Row(j), mean)
		}
	} else {
		distRow = cosDistRow(normalizeRows(v.Features), d)
		for j := range n {
			far[j] = 1 - cosine(v.Features.Row(j), mean)
		}
	}
	first := argmaxFree(far, make([]bool, n))
	sel := greedyDiverse(n, keep, first, m.Mode == "maxsum", distRow)
	slices.Sort(sel)
	return selectResult(v, sel), nil
}

func sqDist(a, b []float32) float64 {
	s := 0.0
	for k, x := range a {
		t := float64(x) - float64(b[k])
		s += t * t
	}
	return s
}
