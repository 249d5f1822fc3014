package pruning

import (
	"fmt"
	"math"
	"slices"
)

// checkBoundary validates b for a method needing need and returns the
// current sequence length L.
func checkBoundary(name string, b *Boundary, need Need, total int) (int, error) {
	if b == nil {
		return 0, fmt.Errorf("pruning: %s: nil boundary: %w", name, ErrBadInput)
	}
	L := b.Attn.Cols
	if need&NeedHidden != 0 {
		if err := checkMatrix(name, "hidden states", b.Hidden, -1); err != nil {
			return 0, err
		}
		L = b.Hidden.Rows
	} else if b.Hidden.Rows > 0 {
		L = b.Hidden.Rows // the sequence length only; the values are not read
	}
	if need&NeedDecoderAttn != 0 {
		if err := checkMatrix(name, "attention row", b.Attn, -1); err != nil {
			return 0, err
		}
		if b.Attn.Rows < 1 || b.Attn.Cols != L {
			return 0, fmt.Errorf("pruning: %s: attention row is %d heads × %d keys, want ≥ 1 × %d: %w", name, b.Attn.Rows, b.Attn.Cols, L, ErrBadInput)
		}
	}
	if need&NeedDecoderKeys != 0 {
		if err := checkMatrix(name, "decoder keys", b.Keys, L); err != nil {
			return 0, err
		}
	}
	if need&NeedPreRoPEQK != 0 {
		if L == 0 {
			L = b.Q.Rows
		}
		if err := checkMatrix(name, "pre-RoPE queries", b.Q, L); err != nil {
			return 0, err
		}
		if err := checkMatrix(name, "pre-RoPE keys", b.K, L); err != nil {
			return 0, err
		}
	}
	if L < 1 {
		return 0, fmt.Errorf("pruning: %s: empty sequence: %w", name, ErrBadInput)
	}
	for i, j := range b.ImageIdx {
		if j < 0 || j >= L || (i > 0 && j <= b.ImageIdx[i-1]) {
			return 0, fmt.Errorf("pruning: %s: visual index %d (position %d) not ascending in [0, %d): %w", name, j, i, L, ErrBadInput)
		}
	}
	if b.LastToken < 0 || b.LastToken >= L {
		return 0, fmt.Errorf("pruning: %s: last token %d out of [0, %d): %w", name, b.LastToken, L, ErrBadInput)
	}
	if total < len(b.ImageIdx) {
		return 0, fmt.Errorf("pruning: %s: total %d is less than the %d visual tokens present: %w", name, total, len(b.ImageIdx), ErrBadInput)
	}
	return L, nil
}

// meanHeadScores returns s_j = mean_h A_h[ImageIdx[j]] of an attention row
// set (heads × L).
func meanHeadScores(a Matrix, idx []int) []float64 {
	s := make([]float64, len(idx))
	for h := range a.Rows {
		row := a.Row(h)
		for j, p := range idx {
			s[j] += float64(row[p])
		}
	}
	for j := range s {
		s[j] /= float64(a.Rows)
	}
	return s
}

func layerError(name string, layer int, want []int) error {
	return fmt.Errorf("pruning: %s: called at the boundary after layer %d, expected one of %v: %w", name, layer, want, ErrBadInput)
}

// FastV (Chen et al., ECCV'24; pkunlp-icler/FastV, reference §3.1): once, at
// the boundary after layer K−1 (layers 0..K−1 see every token), score each
// visual token by s_j = mean_h A_h^{(K−1)}[last, j] and keep the
// round(N·(1−R)) largest (Python round: half to even; ties: lowest index),
// N = total. Kept indices ascending; text tokens are never dropped; original
// position ids are kept (position_ids = keep_indexs) and decode steps use
// L + t in every layer. Defaults: the paper's K=2, R=0.5. With a budget
// (WithBudget) the kept count is the budget's count of N instead of R.
type FastV struct {
	K      int     // prune after layer K−1 (K >= 1)
	R      float64 // drop ratio in [0, 1)
	budget Budget
}

// Name implements InDecoder.
func (FastV) Name() string { return "fastv" }

// Needs implements InDecoder.
func (FastV) Needs() Need { return NeedDecoderAttn }

// Layers implements InDecoder.
func (m FastV) Layers() []int { return []int{m.K - 1} }

// Positions implements InDecoder.
func (FastV) Positions() PositionPolicy { return KeepOriginal }

// WithBudget implements Budgeted.
func (m FastV) WithBudget(b Budget) (InDecoder, error) {
	if _, err := b.Count(1); err != nil {
		return nil, err
	}
	m.budget = b
	return m, nil
}

func (m FastV) count(total int) (int, error) {
	if !m.budget.IsZero() {
		return m.budget.Count(total)
	}
	return int(math.RoundToEven(float64(total) * (1 - m.R))), nil
}

// Schedule implements Scheduler.
func (m FastV) Schedule(total int) ([]int, error) {
	k, err := m.count(total)
	return []int{k}, err
}

// Select implements InDecoder.
func (m FastV) Select(b *Boundary, total int) ([]int, error) {
	if _, err := checkBoundary(m.Name(), b, m.Needs(), total); err != nil {
		return nil, err
	}
	if b.Layer != m.K-1 {
		return nil, layerError(m.Name(), b.Layer, m.Layers())
	}
	if len(b.ImageIdx) == 0 {
		return []int{}, nil
	}
	k, err := m.count(total)
	if err != nil {
		return nil, err
	}
	return topK(meanHeadScores(b.Attn, b.ImageIdx), k), nil
}

// PDrop is PyramidDrop (Xing et al., CVPR'25; Cooperx521/PyramidDrop,
// reference §3.2): at the boundary before each layer b of LayerList (after
// layer b−1) keep the int(N·Ratios[stage]) visual tokens (Python int():
// truncation; N = total, the original count) with the largest
// mean_h A_h[last, j], ties lowest index, indices ascending. Defaults
// [8,16,24] and [0.5,0.25,0.125]: 576 → 288 → 144 → 72. Positions are
// renumbered after every drop (each stage's decode position = its own cache
// length + t).
//
// The reference scores with layer b's input norm, Q/K projections and RoPE
// applied to the boundary hidden states (NextLayerAttention reports true);
// with layer b−1's attention row the method is an approximation.
// With a budget (WithBudget) of k tokens the schedule is geometric:
// stage s keeps round(N·(k/N)^((s+1)/S)) (half to even) and the last stage
// exactly k, which for k = 72 of 576 is the default schedule.
type PDrop struct {
	LayerList []int
	Ratios    []float64
	budget    Budget
	// scale: LayerList is the default, to be scaled to the decoder's
	// depth (FitDepth) as the paper splits the decoder into equal stages.
	scale bool
}

// Name implements InDecoder.
func (PDrop) Name() string { return "pdrop" }

// Needs implements InDecoder.
func (PDrop) Needs() Need { return NeedDecoderAttn }

// Layers implements InDecoder.
func (m PDrop) Layers() []int {
	out := make([]int, len(m.LayerList))
	for i, l := range m.LayerList {
		out[i] = l - 1
	}
	return out
}

// Positions implements InDecoder.
func (PDrop) Positions() PositionPolicy { return Renumber }

// AttnFromNextLayer implements NextLayerAttention.
func (PDrop) AttnFromNextLayer() bool { return true }

// WithBudget implements Budgeted.
func (m PDrop) WithBudget(b Budget) (InDecoder, error) {
	if _, err := b.Count(1); err != nil {
		return nil, err
	}
	m.budget = b
	return m, nil
}

// Schedule implements Scheduler: the kept count after each stage.
func (m PDrop) Schedule(total int) ([]int, error) {
	out := make([]int, len(m.LayerList))
	if m.budget.IsZero() {
		for s, r := range m.Ratios {
			out[s] = int(float64(total) * r)
		}
		return out, nil
	}
	k, err := m.budget.Count(total)
	if err != nil {
		return nil, err
	}
	S := len(out)
	for s := range out {
		out[s] = int(math.RoundToEven(float64(total) * math.Pow(float64(k)/float64(total), float64(s+1)/float64(S))))
	}
	out[S-1] = k
	return out, nil
}

// Select implements InDecoder.
func (m PDrop) Select(b *Boundary, total int) ([]int, error) {
	if _, err := checkBoundary(m.Name(), b, m.Needs(), total); err != nil {
		return nil, err
	}
	stage := slices.Index(m.LayerList, b.Layer+1)
	if stage < 0 {
		return nil, layerError(m.Name(), b.Layer, m.Layers())
	}
	sched, err := m.Schedule(total)
	if err != nil {
		return nil, err
	}
	return topK(meanHeadScores(b.Attn, b.ImageIdx), sched[stage]), nil
}

// AIMPrune is AIM's progressive in-decoder pruning (Zhong et al., ICCV'25;
// LaVi-Lab/AIM, reference §3.8). Retention after layer l >= Start is
// retain[l] = max(floor, 1 − (l−Start+1)·Step) (defaults 14 and 0.125 for
// the 28-layer Qwen2: 0.875 after layer 14 … 0.125 after 20, 0 after 21);
// the boundary after layer l keeps int(retain[l]·N) (N = total, the
// original visual count; truncation assumed) of the visual tokens still
// present, by importance; dropped tokens never come back. Original positions
// (the reference masks attention). With a budget of k tokens, floor = k/N
// and the schedule stops at the first layer reaching it, keeping at least k.
//
// Approximation (documented): the reference's importance is a 5-step
// PageRank over the full attention matrix M = softmax(logits/τ) (τ = 0.1),
// root-mean-square over heads. Only the last prompt token's attention row is
// available, so the importance here is that row's temperature-sharpened
// distribution — softmax(logits/τ) = p^(1/τ) / Σ p^(1/τ), computed from the
// probabilities p in log space over all L keys — RMS over heads, i.e. one
// PageRank step started from the last token instead of from uniform.
type AIMPrune struct {
	Start  int
	Step   float64
	Tau    float64
	budget Budget
}

// Name implements InDecoder.
func (AIMPrune) Name() string { return "aim" }

// Needs implements InDecoder.
func (AIMPrune) Needs() Need { return NeedDecoderAttn }

// Positions implements InDecoder.
func (AIMPrune) Positions() PositionPolicy { return KeepOriginal }

// WithBudget implements Budgeted.
func (m AIMPrune) WithBudget(b Budget) (InDecoder, error) {
	if _, err := b.Count(1); err != nil {
		return nil, err
	}
	m.budget = b
	return m, nil
}

// floorRatio returns the retention floor and its token count for total.
func (m AIMPrune) floorRatio(total int) (float64, int, error) {
	if m.budget.IsZero() || total < 1 {
		return 0, 0, nil
	}
	k, err := m.budget.Count(total)
	return float64(k) / float64(total), k, err
}

// Layers implements InDecoder. With a count budget the stopping layer
// depends on N; Layers then assumes the floor is reached no later than with
// a zero floor, so it lists Start … the layer where retain reaches 0.
func (m AIMPrune) Layers() []int {
	f := 0.0
	if m.budget.IsRatio() {
		f = m.budget.Ratio()
	}
	var out []int
	for l := m.Start; ; l++ {
		out = append(out, l)
		if 1-float64(l-m.Start+1)*m.Step <= f || len(out) > 4096 {
			return out
		}
	}
}

// Schedule implements Scheduler.
func (m AIMPrune) Schedule(total int) ([]int, error) {
	f, fk, err := m.floorRatio(total)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, l := range m.Layers() {
		r := max(f, 1-float64(l-m.Start+1)*m.Step)
		out = append(out, max(fk, int(r*float64(total))))
	}
	return out, nil
}

// Select implements InDecoder.
func (m AIMPrune) Select(b *Boundary, total int) ([]int, error) {
	if _, err := checkBoundary(m.Name(), b, m.Needs(), total); err != nil {
		return nil, err
	}
	layers := m.Layers()
	st := slices.Index(layers, b.Layer)
	if st < 0 {
		return nil, layerError(m.Name(), b.Layer, layers)
	}
	sched, err := m.Schedule(total)
	if err != nil {
		return nil, err
	}
	return topK(aimScores(b.Attn, b.ImageIdx, m.Tau), sched[st]), nil
}

// aimScores returns RMS_h of softmax(log p_h / τ) at the visual positions.
func aimScores(a Matrix, idx []int, tau float64) []float64 {
	s := make([]float64, len(idx))
	z := make([]float64, a.Cols)
	for h := range a.Rows {
		row := a.Row(h)
		mx := math.Inf(-1)
		for k, p := range row {
			z[k] = math.Inf(-1)
			if p > 0 {
				z[k] = math.Log(float64(p)) / tau
				mx = max(mx, z[k])
			}
		}
		if math.IsInf(mx, -1) {
			continue // an all-zero row carries no importance
		}
		sum := 0.0
		for k := range z {
			sum += math.Exp(z[k] - mx)
		}
		for j, p := range idx {
			q := math.Exp(z[p]-mx) / sum
			s[j] += q * q
		}
	}
	for j := range s {
		s[j] = math.Sqrt(s[j] / float64(a.Rows))
	}
	return s
}

// AdaptiveFastV is the adaptive per-image budget (see Adaptive) inside the
// decoder: at FastV's boundary (after layer K−1) keep the smallest set of
// visual tokens whose mean-over-heads last-token attention mass reaches Mass
// of the mass on all visual tokens, clamped to [Min, Max] counts of N.
// Original positions, as FastV. KeptStats reports the mean kept count.
//
// Signal "coverage" sets the count instead from the boundary's hidden
// states of the visual tokens: the number of DivPrune greedy picks after
// which every visual token lies within Radius (cosine distance) of a pick
// (as Adaptive's score=coverage), clamped to [Min, Max]; the tokens kept are
// still the count with the largest attention (FastV's choice).
type AdaptiveFastV struct {
	K        int
	Mass     float64
	Min, Max Budget
	Signal   string  // "mass" (default) or "coverage"
	Radius   float64 // coverage radius
	stats    *keptStats
}

// NewAdaptiveFastV returns an AdaptiveFastV with statistics enabled.
func NewAdaptiveFastV(k int, mass float64, lo, hi Budget) *AdaptiveFastV {
	return &AdaptiveFastV{K: k, Mass: mass, Min: lo, Max: hi, stats: &keptStats{}}
}

// Name implements InDecoder.
func (*AdaptiveFastV) Name() string { return "adaptive-fastv" }

// Needs implements InDecoder.
func (m *AdaptiveFastV) Needs() Need {
	if m.Signal == "coverage" {
		return NeedDecoderAttn | NeedHidden
	}
	return NeedDecoderAttn
}

// Layers implements InDecoder.
func (m *AdaptiveFastV) Layers() []int { return []int{m.K - 1} }

// Positions implements InDecoder.
func (*AdaptiveFastV) Positions() PositionPolicy { return KeepOriginal }

// KeptStats implements KeptCounter.
func (m *AdaptiveFastV) KeptStats() (int, float64) { return m.stats.get() }

// Select implements InDecoder.
func (m *AdaptiveFastV) Select(b *Boundary, total int) ([]int, error) {
	if _, err := checkBoundary(m.Name(), b, m.Needs(), total); err != nil {
		return nil, err
	}
	if b.Layer != m.K-1 {
		return nil, layerError(m.Name(), b.Layer, m.Layers())
	}
	if len(b.ImageIdx) == 0 {
		return []int{}, nil
	}
	s := meanHeadScores(b.Attn, b.ImageIdx)
	var k int
	var err error
	if m.Signal == "coverage" {
		k, err = coverageCount(m.Name(), Gather(b.Hidden, b.ImageIdx), m.Radius, m.Min, m.Max)
	} else {
		k, err = massCount(m.Name(), s, m.Mass, m.Min, m.Max, len(s))
	}
	if err != nil {
		return nil, err
	}
	m.stats.add(k)
	return topK(s, k), nil
}
