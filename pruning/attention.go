package pruning

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

// FasterVLM ("[CLS] Attention is All You Need for Training-Free Visual Token
// Pruning", arXiv 2412.01818; Theia-4869/FasterVLM, reference §3.5): keep the
// keep patches with the largest CLS attention s_j = mean_h A_h[CLS, 1+j] of
// the encoder's feature layer (the penultimate CLIP layer; Visual.CLSAttn —
// a sum over heads ranks the same). Ties: lowest index. Kept indices
// ascending (the reference's index mask), positions renumbered.
type FasterVLM struct{}

// Name implements PreDecoder.
func (FasterVLM) Name() string { return "fastervlm" }

// Needs implements PreDecoder.
func (FasterVLM) Needs() Need { return NeedFeatures | NeedCLSAttn }

func (FasterVLM) featureValuesUnread() bool { return true }

// Apply implements PreDecoder.
func (m FasterVLM) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(m, v, keep)
	if err != nil {
		return Result{}, err
	}
	if keep == n {
		return identityResult(v), nil
	}
	return selectResult(v, topK(to64(v.CLSAttn), keep)), nil
}

// FoPru (Focal Pruning, arXiv 2411.14164, reference §3.13; paper-only, no
// code found): token significance from the vision encoder's attention, here
// the CLS attention row (Visual.CLSAttn; the exact significance formula is
// unverified). Strategy "rank" keeps the global top keep (as FasterVLM).
// Strategy "row" keeps whole rows of the GridH×GridW grid in order of their
// mean significance (ties: upper row) while a full row fits the budget, then
// fills the remaining budget with the most significant tokens of the next
// row, so exactly keep tokens are kept. Selected tokens are reordered to
// their original positions (ascending); positions renumbered.
type FoPru struct {
	Strategy string // "rank" (default) or "row"
}

// Name implements PreDecoder.
func (FoPru) Name() string { return "fopru" }

// Needs implements PreDecoder.
func (FoPru) Needs() Need { return NeedFeatures | NeedCLSAttn }

func (FoPru) featureValuesUnread() bool { return true }

// Apply implements PreDecoder.
func (m FoPru) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(m, v, keep)
	if err != nil {
		return Result{}, err
	}
	if keep == n {
		return identityResult(v), nil
	}
	s := to64(v.CLSAttn)
	if m.Strategy != "row" {
		return selectResult(v, topK(s, keep)), nil
	}
	h, w, err := grid(m.Name(), v)
	if err != nil {
		return Result{}, err
	}
	rowScore := make([]float64, h)
	for r := range h {
		for c := range w {
			rowScore[r] += s[r*w+c]
		}
		rowScore[r] /= float64(w)
	}
	sel := make([]int, 0, keep)
	for _, r := range orderDesc(rowScore) {
		left := keep - len(sel)
		if left == 0 {
			break
		}
		if left >= w {
			sel = append(sel, seqFrom(r*w, (r+1)*w)...)
			continue
		}
		for _, c := range topK(s[r*w:(r+1)*w], left) {
			sel = append(sel, r*w+c)
		}
	}
	slices.Sort(sel)
	return selectResult(v, sel), nil
}

// Adaptive is a per-image budget in the spirit of ATP-LLaVA (reference
// §3.16) without its trained modules: keep the smallest set of tokens whose
// score mass reaches Mass of the total, then clamp the count to
// [Min.Count(N), min(Max.Count(N), keep)]. Scores: Score "cls" (default) uses
// the CLS attention row (as FasterVLM), "norm" the L2 norm of each feature
// vector (a weak proxy that any model provides). Score "coverage" ignores
// Mass: it takes DivPrune's greedy max–min picks until every token lies
// within Radius (cosine distance) of a pick (coverage.go) — the count
// follows how many distinct things the image holds. Negative scores count as 0;
// when all scores are 0 the mass is taken as uniform. Tokens are taken in
// descending score (ties: lowest index); kept indices ascending, positions
// renumbered. keep is an upper bound only, so keep == N is not the identity.
// KeptStats reports the number of calls and the mean kept count, to compare
// with fixed ratios at equal cost.
type Adaptive struct {
	Mass     float64 // score mass to reach, in (0, 1]
	Min, Max Budget  // count bounds; zero Min = 1 token, zero Max = keep
	Score    string  // "cls" (default), "norm" or "coverage"
	// Radius is the covering radius (cosine distance) of score "coverage".
	Radius float64
	stats  *keptStats
}

// NewAdaptive returns an Adaptive with its kept-count statistics enabled.
func NewAdaptive(mass float64, lo, hi Budget, score string) *Adaptive {
	return &Adaptive{Mass: mass, Min: lo, Max: hi, Score: score, stats: &keptStats{}}
}

// Name implements PreDecoder.
func (*Adaptive) Name() string { return "adaptive" }

// Needs implements PreDecoder.
func (m *Adaptive) Needs() Need {
	if m.Score == "norm" || m.Score == "coverage" {
		return NeedFeatures
	}
	return NeedFeatures | NeedCLSAttn
}

// KeptStats implements KeptCounter.
func (m *Adaptive) KeptStats() (int, float64) { return m.stats.get() }

func (m *Adaptive) featureValuesUnread() bool { return m.Score != "norm" && m.Score != "coverage" }

// Apply implements PreDecoder.
func (m *Adaptive) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(m, v, keep)
	if err != nil {
		return Result{}, err
	}
	if m.Score == "coverage" {
		return m.applyCoverage(v, keep)
	}
	s := make([]float64, n)
	for j := range n {
		if m.Score == "norm" {
			s[j] = norm2(v.Features.Row(j))
		} else {
			s[j] = float64(v.CLSAttn[j])
		}
	}
	k, err := massCount(m.Name(), s, m.Mass, m.Min, m.Max, keep)
	if err != nil {
		return Result{}, err
	}
	m.stats.add(k)
	if k == n {
		return identityResult(v), nil
	}
	return selectResult(v, topK(s, k)), nil
}

// massCount returns the size of the smallest top-scored set whose mass
// reaches mass·total, clamped to [lo.Count(n), min(hi.Count(n), keep)].
func massCount(name string, s []float64, mass float64, lo, hi Budget, keep int) (int, error) {
	n := len(s)
	if !(mass > 0 && mass <= 1) {
		return 0, errParam(name, "mass %v not in (0, 1]", mass)
	}
	minK, maxK := 1, keep
	var err error
	if !lo.IsZero() {
		if minK, err = lo.Count(n); err != nil {
			return 0, err
		}
	}
	if !hi.IsZero() {
		h, err := hi.Count(n)
		if err != nil {
			return 0, err
		}
		maxK = min(maxK, h)
	}
	minK = min(minK, maxK)
	w := make([]float64, n)
	for j, x := range s {
		w[j] = max(0, x) // NaN → 0 as max(0, NaN) is NaN: guarded below
		if x != x {
			w[j] = 0
		}
	}
	order := orderDesc(w)
	total := 0.0
	for _, j := range order {
		total += w[j]
	}
	k := n
	if total <= 0 || math.IsInf(total, 0) {
		k = int(math.Ceil(mass*float64(n) - 1e-9))
	} else {
		cum := 0.0
		for i, j := range order {
			cum += w[j]
			if cum >= mass*total {
				k = i + 1
				break
			}
		}
	}
	return max(minK, min(k, maxK)), nil
}

// keptStats accumulates kept counts; safe for concurrent use; a nil
// *keptStats ignores adds.
type keptStats struct {
	mu    sync.Mutex
	calls int
	sum   float64
}

func (s *keptStats) add(k int) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.calls++
	s.sum += float64(k)
	s.mu.Unlock()
}

func (s *keptStats) get() (int, float64) {
	if s == nil {
		return 0, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == 0 {
		return 0, 0
	}
	return s.calls, s.sum / float64(s.calls)
}

// String describes the statistics (used by tests and logs).
func (s *keptStats) String() string {
	c, m := s.get()
	return fmt.Sprintf("%d calls, mean kept %.2f", c, m)
}
