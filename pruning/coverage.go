package pruning

import (
	"math"
	"slices"
)

// coverageSelect runs DivPrune's greedy max–min selection on the cosine
// distances of the features and stops at the first k whose covering radius
// — the largest distance from any token to its nearest pick, i.e. the
// max–min distance the next pick would have — is at most radius, with k
// clamped to [lo, hi]. It returns the picks in selection order, so for a
// given k they are DivPrune's k tokens.
//
// This is the adaptive budget's "coverage" signal: an image whose tokens
// form few distinct groups (a plain background and one object) is covered
// by few picks, a busy image needs more.
func coverageSelect(x Matrix, radius float64, lo, hi int) []int {
	n, d := x.Rows, x.Cols
	hi = max(1, min(hi, n))
	lo = max(1, min(lo, hi))
	xn := normalizeRows(x)
	var dist []float32
	if n <= maxCachedDist {
		dist = make([]float32, n*n)
	}
	nn := nnDistances(xn, n, d, dist)
	taken := make([]bool, n)
	p := argmaxFree(nn, taken)
	agg := make([]float64, n)
	for j := range agg {
		agg[j] = math.Inf(1)
	}
	row := make([]float64, n)
	distRow := cosDistRow(xn, d)
	if dist != nil {
		distRow = func(p int, out []float64) {
			for j, v := range dist[p*n : (p+1)*n] {
				out[j] = float64(v)
			}
		}
	}
	order := make([]int, 0, hi)
	for {
		order = append(order, p)
		taken[p] = true
		if len(order) == hi {
			return order
		}
		distRow(p, row)
		for j, dj := range row {
			if dj < agg[j] {
				agg[j] = dj
			}
		}
		p = argmaxFree(agg, taken)
		if len(order) >= lo && !(agg[p] > radius) {
			return order
		}
	}
}

// applyCoverage is Adaptive with score "coverage": DivPrune's greedy picks
// until every token lies within Radius (cosine distance) of a pick, the
// count clamped to [Min.Count(N), min(Max.Count(N), keep)].
func (m *Adaptive) applyCoverage(v *Visual, keep int) (Result, error) {
	n := v.Features.Rows
	if !(m.Radius >= 0 && m.Radius <= 2) {
		return Result{}, errParam(m.Name(), "radius %v not in [0, 2]", m.Radius)
	}
	lo, hi := 1, keep
	if !m.Min.IsZero() {
		k, err := m.Min.Count(n)
		if err != nil {
			return Result{}, err
		}
		lo = k
	}
	if !m.Max.IsZero() {
		k, err := m.Max.Count(n)
		if err != nil {
			return Result{}, err
		}
		hi = min(hi, k)
	}
	sel := coverageSelect(v.Features, m.Radius, lo, hi)
	m.stats.add(len(sel))
	if len(sel) == n {
		return identityResult(v), nil
	}
	slices.Sort(sel)
	return selectResult(v, sel), nil
}

// coverageCount returns the coverage count of the rows of x (see
// coverageSelect) clamped to [lo.Count(n), hi.Count(n)] (zero budgets: 1
// and n).
func coverageCount(name string, x Matrix, radius float64, lo, hi Budget) (int, error) {
	n := x.Rows
	if !(radius >= 0 && radius <= 2) {
		return 0, errParam(name, "radius %v not in [0, 2]", radius)
	}
	a, b := 1, n
	var err error
	if !lo.IsZero() {
		if a, err = lo.Count(n); err != nil {
			return 0, err
		}
	}
	if !hi.IsZero() {
		if b, err = hi.Count(n); err != nil {
			return 0, err
		}
	}
	return len(coverageSelect(x, radius, a, b)), nil
}
