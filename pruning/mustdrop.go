package pruning

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// MustDrop (Liu et al., arXiv 2411.10803; liuting20/MustDrop, reference
// part 2 §5) has three stages; vlmrun offers the two that fit its
// interfaces as two methods and documents the third:
//
//   - mustdrop-merge (pre-decoder, stage 1): the local spatial merge and
//     the [CLS]-based key set;
//   - mustdrop (in-decoder, stage 2): the text-guided dual-attention
//     filter at the prefill;
//   - stage 3, the "output-aware" KV policy, is not a per-step policy in
//     the official code: after the prefill it gathers the KV of layers
//     2..31 to the final kept set. vlmrun's staged decoder keeps each
//     layer's KV rows as that layer saw them (decoder/, not changed here),
//     so the earlier layers of a multi-boundary run keep more rows than the
//     reference; the kept tokens and the positions are the reference's.
//
// A request takes one --prune method, so the two stages run separately:
// mustdrop-merge is stage 1, mustdrop is stage 2.

// MustDropMerge is MustDrop's stage 1. Stage 1a (reference: after encoder
// layer 0, hard-coded 3×3 windows, threshold 0.8): the token grid is cut
// into non-overlapping 3×3 windows (⌊H/3⌋×⌊W/3⌋; tokens of a partial window
// at the right or bottom edge are never merged); a window's score is the
// mean pairwise cosine similarity of its 9 tokens (self pairs excluded);
// every window scoring ≥ Threshold is merged into its bottom-right token
// (plain mean of 9, size 9). Output order as the reference's sequence:
// merged tokens in descending window score (ties: earlier window), then the
// unmerged tokens ascending (order=spatial sorts by source). Positions
// renumbered.
//
// Stage 1b keeps the key set (top ⌈0.08·n⌉ by CLS attention) for stage 2;
// since stage 2 runs as a separate method here, the key set's role is
// taken by the budget: when more than keep tokens remain after merging, the
// keep tokens with the largest CLS attention survive (a merged token's
// attention is the sum over its 9 members; ties: lower source), in the
// order above. When fewer remain, fewer are returned (count ≤ keep).
//
// Decisions: the reference merges the hidden states of encoder layer 0;
// vlmrun sees only the encoder's output, so windows are scored and merged
// on the projected features (Visual.Features). Without a token grid the
// method refuses (ErrBadInput).
type MustDropMerge struct {
	Threshold float64 // window score threshold (0.8)
	Order     string  // "official" or "spatial"
}

// Name implements PreDecoder.
func (MustDropMerge) Name() string { return "mustdrop-merge" }

// Needs implements PreDecoder.
func (MustDropMerge) Needs() Need { return NeedFeatures | NeedCLSAttn }

// Apply implements PreDecoder.
func (m MustDropMerge) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(m, v, keep)
	if err != nil {
		return Result{}, err
	}
	if keep == n {
		return identityResult(v), nil
	}
	h, w, err := grid(m.Name(), v)
	if err != nil {
		return Result{}, err
	}
	xn := normalizeRows(v.Features)
	d := v.Features.Cols
	type window struct {
		members []int
		score   float64
		idx     int
	}
	var wins []window
	for wr := 0; wr+3 <= h; wr += 3 {
		for wc := 0; wc+3 <= w; wc += 3 {
			var mem []int
			for r := wr; r < wr+3; r++ {
				for c := wc; c < wc+3; c++ {
					mem = append(mem, r*w+c)
				}
			}
			s := 0.0
			for a := range mem {
				for b := range mem {
					if a != b {
						s += dot(xn[mem[a]*d:(mem[a]+1)*d], xn[mem[b]*d:(mem[b]+1)*d])
					}
				}
			}
			wins = append(wins, window{mem, s / 72, len(wins)})
		}
	}
	slices.SortStableFunc(wins, func(a, b window) int { return cmp.Compare(b.score, a.score) })
	merged := make([]bool, n)
	var src, sizes []int
	var feats []float32
	acls := map[int]float64{}
	for _, wd := range wins {
		if !(wd.score >= m.Threshold) {
			break
		}
		rep := wd.members[8]
		row := make([]float64, d)
		a := 0.0
		for _, j := range wd.members {
			merged[j] = true
			a += float64(v.CLSAttn[j])
			for k, x := range v.Features.Row(j) {
				row[k] += float64(x) / 9
			}
		}
		for _, x := range row {
			feats = append(feats, float32(x))
		}
		src, sizes = append(src, rep), append(sizes, 9)
		acls[rep] = a
	}
	for j := range n {
		if !merged[j] {
			src, sizes = append(src, j), append(sizes, 1)
			feats = append(feats, v.Features.Row(j)...)
			acls[j] = float64(v.CLSAttn[j])
		}
	}
	res := Result{Source: src, Sizes: sizes, Features: Matrix{Rows: len(src), Cols: d, Data: feats}, Positions: Renumber}
	if len(src) > keep {
		s := make([]float64, len(src))
		for i, j := range src {
			s[i] = acls[j]
		}
		ord := seq(len(src))
		slices.SortStableFunc(ord, func(a, b int) int {
			if c := cmp.Compare(s[b], s[a]); c != 0 {
				return c
			}
			return src[a] - src[b]
		})
		sel := ord[:keep]
		slices.Sort(sel) // keep the output order
		res.Features = Gather(res.Features, sel)
		ns, nz := make([]int, keep), make([]int, keep)
		for i, p := range sel {
			ns[i], nz[i] = src[p], sizes[p]
		}
		res.Source, res.Sizes = ns, nz
	}
	if m.Order == "spatial" {
		sortResult(&res)
	}
	return res, nil
}

// mustDropTable holds the README thresholds per LLaVA budget of 576.
var mustDropTable = []struct {
	budget             int
	global, individual float64
}{{64, 0.011, 0.01}, {128, 0.0012, 0.001}, {192, 0.001, 0.001}}

// MustDrop is MustDrop's stage 2 (reference: layers 2, 6, 10, 14 of
// LLaVA-1.5-7B, after each layer runs): A = head-mean attention of that
// layer, rows = every token after the image (the question and template,
// the last prompt token included; RowRequester), columns = the visual
// tokens present; g_j = Σ_rows A[:, j], m_j = max_rows A[:, j]. Token j is
// dropped iff g_j < Global·Σ_j g_j and m_j < Individual; key-set tokens are
// always kept. Positions renumbered. The count follows the thresholds, not
// a budget (README: 192 → 0.001/0.001, 128 → 0.0012/0.001, 64 → 0.011/0.01).
//
// Decisions:
//   - the key set (reference: top ⌈0.08·N⌉ by the encoder's layer-23 CLS
//     attention) is not visible inside the decoder; here it is the top
//     ⌈Key·n⌉ visual tokens by g (Key = 0.08; 0: no key set, then at least
//     the token with the largest g is kept);
//   - with a --keep budget k (WithBudget) the thresholds are the README row
//     nearest to k·576/N (ties: the smaller) and at most k tokens survive
//     each boundary (largest g first); k ≥ N keeps everything, so keep 1.0
//     is the identity. Without a budget only the thresholds decide;
//   - when the runner provides no rows (no RowRequester support), the last
//     prompt token's row is the only row;
//   - ties: lowest index.
type MustDrop struct {
	LayerList          []int
	Global, Individual float64
	Key                float64
	budget             Budget
}

// Name implements InDecoder.
func (MustDrop) Name() string { return "mustdrop" }

// Needs implements InDecoder.
func (MustDrop) Needs() Need { return NeedDecoderAttn }

// Layers implements InDecoder.
func (m MustDrop) Layers() []int { return slices.Clone(m.LayerList) }

// Positions implements InDecoder.
func (MustDrop) Positions() PositionPolicy { return Renumber }

// WithBudget implements Budgeted.
func (m MustDrop) WithBudget(b Budget) (InDecoder, error) {
	if _, err := b.Count(1); err != nil {
		return nil, err
	}
	m.budget = b
	return m, nil
}

// QueryRows implements RowRequester: the tokens after the image.
func (m MustDrop) QueryRows(b *Boundary) ([]int, error) {
	L, err := checkBoundary(m.Name(), b, 0, len(b.ImageIdx))
	if err != nil {
		return nil, err
	}
	return textAfterImage(b, L, 0), nil
}

// textAfterImage returns the sequence indices after the last visual token
// (the last at most max of them when max > 0), or the last token.
func textAfterImage(b *Boundary, L, max int) []int {
	start := 0
	if n := len(b.ImageIdx); n > 0 {
		start = b.ImageIdx[n-1] + 1
	}
	if start >= L {
		return []int{b.LastToken}
	}
	if max > 0 && L-start > max {
		start = L - max
	}
	return seqFrom(start, L)
}

// queryMeans returns the head-mean attention of each query row over the
// visual tokens (the Attn row when b has none).
func queryMeans(name string, b *Boundary, L int) ([][]float64, error) {
	if len(b.QueryAttn) == 0 {
		return [][]float64{meanHeadScores(b.Attn, b.ImageIdx)}, nil
	}
	if len(b.QueryAttn) != len(b.Queries) {
		return nil, fmt.Errorf("pruning: %s: %d query attention rows for %d queries: %w", name, len(b.QueryAttn), len(b.Queries), ErrBadInput)
	}
	out := make([][]float64, len(b.QueryAttn))
	for q, a := range b.QueryAttn {
		if err := checkMatrix(name, "query attention", a, -1); err != nil {
			return nil, err
		}
		if a.Rows < 1 || a.Cols != L {
			return nil, fmt.Errorf("pruning: %s: attention of query %d is %d×%d, want heads × %d: %w", name, b.Queries[q], a.Rows, a.Cols, L, ErrBadInput)
		}
		out[q] = meanHeadScores(a, b.ImageIdx)
	}
	return out, nil
}

// thresholds returns the thresholds and the count cap (-1: none).
func (m MustDrop) thresholds(total, n int) (float64, float64, int, error) {
	if m.budget.IsZero() {
		return m.Global, m.Individual, -1, nil
	}
	k, err := m.budget.Count(total)
	if err != nil {
		return 0, 0, 0, err
	}
	norm := float64(k) * 576 / float64(total)
	row := mustDropTable[0]
	for _, r := range mustDropTable[1:] {
		if math.Abs(float64(r.budget)-norm) < math.Abs(float64(row.budget)-norm) {
			row = r
		}
	}
	return row.global, row.individual, k, nil
}

// Select implements InDecoder.
func (m MustDrop) Select(b *Boundary, total int) ([]int, error) {
	L, err := checkBoundary(m.Name(), b, m.Needs(), total)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(m.LayerList, b.Layer) {
		return nil, layerError(m.Name(), b.Layer, m.LayerList)
	}
	n := len(b.ImageIdx)
	if n == 0 {
		return []int{}, nil
	}
	gt, it, cap, err := m.thresholds(total, n)
	if err != nil {
		return nil, err
	}
	if cap >= total {
		return seq(n), nil
	}
	rows, err := queryMeans(m.Name(), b, L)
	if err != nil {
		return nil, err
	}
	g := make([]float64, n)
	mx := make([]float64, n)
	for _, r := range rows {
		for j, x := range r {
			g[j] += x
			mx[j] = max(mx[j], x)
		}
	}
	return mustDropFilter(g, mx, gt, it, m.Key, cap), nil
}

// mustDropFilter applies the dual filter with a key set of the top
// ⌈key·n⌉ by g and an optional cap (< 0: none).
func mustDropFilter(g, mx []float64, gt, it, key float64, cap int) []int {
	n := len(g)
	sum := 0.0
	for _, x := range g {
		sum += x
	}
	order := orderDesc(g)
	isKey := make([]bool, n)
	for _, j := range order[:min(n, int(math.Ceil(key*float64(n)-1e-9)))] {
		isKey[j] = true
	}
	var keep []int
	for _, j := range order {
		if isKey[j] || !(g[j] < gt*sum && mx[j] < it) {
			keep = append(keep, j)
		}
	}
	if len(keep) == 0 {
		keep = order[:1]
	}
	if cap >= 0 && len(keep) > cap {
		keep = keep[:max(cap, 1)]
	}
	slices.Sort(keep)
	return keep
}
