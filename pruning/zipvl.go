package pruning

import (
	"math"
	"slices"
)

// ZipVL (He et al., arXiv 2410.08584; paper only, no official code found;
// reference part 2 §7): an attention-distribution-driven share of important
// tokens per layer. The paper scores every token by the (normalised)
// attention it receives from a set of probe queries, sorts the scores in
// descending order and calls the smallest prefix p with Σ_{j≤p} a_(j) ≥
// τ·Σ a "important"; attention is then computed among those tokens only
// (prefill), and (v2) the other tokens are evicted from the KV cache. τ ≈
// 0.97 (0.96 / 0.975 studied; 0.975 keeps 52.8 % on LLaVA-1.5 GQA).
//
// Choices made here (the paper leaves them open or vlmrun's interfaces
// decide them):
//   - Where: at the boundaries after layers LayerList (default 1: FastV's
//     position, pruned from layer 2 on); each listed boundary re-applies
//     the rule to the tokens still present. The paper applies the ratio at
//     every layer; since vlmrun drops rows (the v2 eviction) rather than
//     masking per layer, dropping compounds across boundaries, so one
//     boundary is the default.
//   - What: only visual tokens are dropped (text tokens are never evicted
//     in vlmrun). p is computed over all L tokens, as in the paper; the
//     visual tokens among the top p are kept (at least one when any is
//     present).
//   - Probes: through RowRequester, the last Probes (64) tokens after the
//     image (the most recent tokens, the last prompt token included; the
//     paper also samples random queries, which would make the selection
//     non-deterministic); the last prompt token alone when the runner gives
//     no rows or probes=0. Score = mean over probes and heads.
//   - KV: the rows of dropped tokens are gone from later layers' caches
//     (eviction, v2); v1's mixed-precision KV quantisation is not done
//     (ONNX Runtime's cache is float).
//   - Positions: original (ZipVL masks attention; positions untouched).
//   - Ties: lowest index. KeptStats reports the mean kept count.
type ZipVL struct {
	LayerList []int
	Tau       float64
	Probes    int
	stats     *keptStats
}

// NewZipVL returns a ZipVL with statistics enabled.
func NewZipVL(layers []int, tau float64, probes int) *ZipVL {
	return &ZipVL{LayerList: layers, Tau: tau, Probes: probes, stats: &keptStats{}}
}

// Name implements InDecoder.
func (*ZipVL) Name() string { return "zipvl" }

// Needs implements InDecoder.
func (*ZipVL) Needs() Need { return NeedDecoderAttn }

// Layers implements InDecoder.
func (m *ZipVL) Layers() []int { return slices.Clone(m.LayerList) }

// Positions implements InDecoder.
func (*ZipVL) Positions() PositionPolicy { return KeepOriginal }

// KeptStats implements KeptCounter.
func (m *ZipVL) KeptStats() (int, float64) { return m.stats.get() }

// QueryRows implements RowRequester: the probes after the image.
func (m *ZipVL) QueryRows(b *Boundary) ([]int, error) {
	L, err := checkBoundary(m.Name(), b, 0, len(b.ImageIdx))
	if err != nil {
		return nil, err
	}
	if m.Probes <= 0 {
		return nil, nil
	}
	return textAfterImage(b, L, m.Probes), nil
}

// Select implements InDecoder.
func (m *ZipVL) Select(b *Boundary, total int) ([]int, error) {
	L, err := checkBoundary(m.Name(), b, m.Needs(), total)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(m.LayerList, b.Layer) {
		return nil, layerError(m.Name(), b.Layer, m.LayerList)
	}
	if !(m.Tau > 0 && m.Tau <= 1) {
		return nil, errParam(m.Name(), "tau %v not in (0, 1]", m.Tau)
	}
	n := len(b.ImageIdx)
	if n == 0 {
		return []int{}, nil
	}
	all := seq(L)
	score := meanHeadScores(b.Attn, all)
	if len(b.QueryAttn) > 0 {
		tmp := &Boundary{Queries: b.Queries, QueryAttn: b.QueryAttn, ImageIdx: all}
		rows, err := queryMeans(m.Name(), tmp, L)
		if err != nil {
			return nil, err
		}
		clear(score) // the probes include the last token
		for _, r := range rows {
			for j, x := range r {
				score[j] += x / float64(len(rows))
			}
		}
	}
	keep := zipvlKeep(score, b.ImageIdx, m.Tau)
	m.stats.add(len(keep))
	return keep, nil
}

// zipvlKeep returns the indices into img of the visual tokens among the
// smallest top-scored prefix of all tokens holding tau of the mass.
func zipvlKeep(score []float64, img []int, tau float64) []int {
	order := orderDesc(score)
	total := 0.0
	for _, x := range score {
		total += max(0, x)
	}
	p := len(order)
	if total > 0 && !math.IsInf(total, 0) {
		cum := 0.0
		for i, j := range order {
			cum += max(0, score[j])
			if cum >= tau*total {
				p = i + 1
				break
			}
		}
	}
	pos := make(map[int]int, len(img))
	for i, j := range img {
		pos[j] = i
	}
	var keep []int
	for _, j := range order[:p] {
		if i, ok := pos[j]; ok {
			keep = append(keep, i)
		}
	}
	if len(keep) == 0 {
		best := 0
		for i, j := range img {
			if score[j] > score[img[best]] {
				best = i
			}
		}
		keep = []int{best}
	}
	slices.Sort(keep)
	return keep
}
