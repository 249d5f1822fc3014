package pruning

import (
	"fmt"
	"math"
	"slices"
)

// sparseVLMTable is SparseVLM v1.5's sparse_token_list per layer-averaged
// budget (reference §3.6): tokens kept after layers 2, 6, 15 of 576.
var sparseVLMTable = []struct {
	budget int
	counts [3]int
}{{64, [3]int{66, 30, 17}}, {96, [3]int{238, 48, 26}}, {128, [3]int{303, 110, 36}}, {192, [3]int{300, 200, 110}}}

// SparseVLM (Zhang et al., ICML'25; Gumpest/SparseVLMs, v1.5 behaviour,
// reference §3.6): text-guided pruning with recycling inside the decoder.
//
// Reference rule. Raters: with V the visual and T the text tokens after the
// image (question + template), M = softmax over T of V·Tᵀ, r_t = mean over
// the visual tokens of M, raters = {t : r_t > mean(r)}. At the boundaries
// after layers LayerList (default 2, 6, 15): rel_j = mean over raters of
// mean_h A_h[rater, j]; keep the top min(count, n−1) (ties: lowest index;
// n = visual tokens present). Recycling: of the tokens pruned here, the top
// int(0.3·pruned)+1 by rel (in descending order) are clustered by DPC-kNN
// into int(that/10)+1 clusters and each cluster's mean (Σ/(count+1e-6), as
// the reference) is inserted right after the kept visual tokens, counting
// as visual tokens from then on. Positions renumbered (v1.5 truncates to
// arange).
//
// Counts: Counts if set, else from the budget (default 64): the v1.5 table
// row for 64/96/128/192 of 576 tokens, otherwise the row whose budget is
// nearest to keep·576/N (ties: the smaller), scaled by keep/row budget and
// rounded half to even. The budget is layer-averaged as in the paper, not a
// final count. A count >= n keeps every token without recycling (so keep
// 1.0 is the identity; the reference would still prune one).
//
// Approximations (documented): the reference picks raters once from the
// layer-0 input embeddings; here QueryRows picks them at each boundary from
// b.Hidden with the same formula. Select averages the attention rows the
// runner put in b.QueryAttn (the rows QueryRows asked for); when there are
// none, the last prompt token is the only rater (rel = FastV's score). DPC-kNN's
// random density noise (1e-6) is replaced by lowest-index tie-breaking.
type SparseVLM struct {
	LayerList []int
	Counts    []int
	Recycle   bool
	budget    Budget
}

// Name implements InDecoder.
func (SparseVLM) Name() string { return "sparsevlm" }

// Needs implements InDecoder.
func (SparseVLM) Needs() Need { return NeedDecoderAttn | NeedHidden }

// Layers implements InDecoder.
func (m SparseVLM) Layers() []int { return slices.Clone(m.LayerList) }

// Positions implements InDecoder.
func (SparseVLM) Positions() PositionPolicy { return Renumber }

// WithBudget implements Budgeted (the budget replaces Counts).
func (m SparseVLM) WithBudget(b Budget) (InDecoder, error) {
	if _, err := b.Count(1); err != nil {
		return nil, err
	}
	m.budget, m.Counts = b, nil
	return m, nil
}

// counts returns the per-boundary keep counts for total tokens.
func (m SparseVLM) counts(total int) ([]int, error) {
	if m.Counts != nil {
		if len(m.Counts) != len(m.LayerList) {
			return nil, fmt.Errorf("pruning: sparsevlm: %d counts for %d layers: %w", len(m.Counts), len(m.LayerList), ErrBadValue)
		}
		return m.Counts, nil
	}
	b := m.budget
	if b.IsZero() {
		b = KeepCount(64)
	}
	if total < 1 {
		return nil, fmt.Errorf("pruning: sparsevlm: no visual tokens: %w", ErrBudget)
	}
	k, err := b.Count(total)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(m.LayerList))
	if k >= total {
		for i := range out {
			out[i] = total
		}
		return out, nil
	}
	norm := float64(k) * 576 / float64(total)
	row := sparseVLMTable[0]
	for _, r := range sparseVLMTable[1:] {
		if math.Abs(float64(r.budget)-norm) < math.Abs(float64(row.budget)-norm) {
			row = r
		}
	}
	for i := range out {
		c := row.counts[min(i, 2)]
		out[i] = max(1, int(math.RoundToEven(float64(c)*float64(k)/float64(row.budget))))
	}
	return out, nil
}

// recycleCounts returns, for pruned tokens, how many are recycled and into
// how many clusters.
func recycleCounts(pruned int) (nRec, clusters int) {
	nRec = min(pruned, int(float64(pruned)*0.3)+1)
	return nRec, nRec/10 + 1
}

// Schedule implements Scheduler: the visual-token count after each
// boundary, recycled tokens included.
func (m SparseVLM) Schedule(total int) ([]int, error) {
	cs, err := m.counts(total)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(cs))
	n := total
	for i, c := range cs {
		if c < n && n > 1 {
			kept := min(c, n-1)
			if m.Recycle {
				_, cl := recycleCounts(n - kept)
				kept += cl
			}
			n = kept
		}
		out[i] = n
	}
	return out, nil
}

// raters returns the sequence indices of the rater text tokens of b.
func sparseRaters(b *Boundary, L int) []int {
	n := len(b.ImageIdx)
	if n == 0 || b.ImageIdx[n-1]+1 >= L {
		return []int{b.LastToken}
	}
	text := seqFrom(b.ImageIdx[n-1]+1, L)
	r := make([]float64, len(text))
	logits := make([]float64, len(text))
	for _, vi := range b.ImageIdx {
		v := b.Hidden.Row(vi)
		mx := math.Inf(-1)
		for t, ti := range text {
			logits[t] = dot(v, b.Hidden.Row(ti))
			mx = max(mx, logits[t])
		}
		sum := 0.0
		for t := range logits {
			logits[t] = math.Exp(logits[t] - mx)
			sum += logits[t]
		}
		for t := range logits {
			r[t] += logits[t] / sum / float64(n)
		}
	}
	mean := 0.0
	for _, x := range r {
		mean += x
	}
	mean /= float64(len(r))
	var out []int
	for t, x := range r {
		if x > mean {
			out = append(out, text[t])
		}
	}
	if len(out) == 0 {
		return text
	}
	return out
}

// QueryRows implements RowRequester: the raters.
func (m SparseVLM) QueryRows(b *Boundary) ([]int, error) {
	L, err := checkBoundary(m.Name(), b, NeedHidden, len(b.ImageIdx))
	if err != nil {
		return nil, err
	}
	return sparseRaters(b, L), nil
}

// Select implements InDecoder (no recycling).
func (m SparseVLM) Select(b *Boundary, total int) ([]int, error) {
	keep, _, err := m.selectRecycle(b, total, false)
	return keep, err
}

// SelectRecycle implements Recycler.
func (m SparseVLM) SelectRecycle(b *Boundary, total int) ([]int, Matrix, error) {
	return m.selectRecycle(b, total, m.Recycle)
}

func (m SparseVLM) selectRecycle(b *Boundary, total int, recycle bool) ([]int, Matrix, error) {
	L, err := checkBoundary(m.Name(), b, m.Needs(), total)
	if err != nil {
		return nil, Matrix{}, err
	}
	stage := slices.Index(m.LayerList, b.Layer)
	if stage < 0 {
		return nil, Matrix{}, layerError(m.Name(), b.Layer, m.LayerList)
	}
	cs, err := m.counts(total)
	if err != nil {
		return nil, Matrix{}, err
	}
	n := len(b.ImageIdx)
	if cs[stage] >= n || n <= 1 {
		return seq(n), Matrix{}, nil
	}
	rel := meanHeadScores(b.Attn, b.ImageIdx)
	if len(b.QueryAttn) > 0 {
		if len(b.QueryAttn) != len(b.Queries) {
			return nil, Matrix{}, fmt.Errorf("pruning: sparsevlm: %d query attention rows for %d queries: %w", len(b.QueryAttn), len(b.Queries), ErrBadInput)
		}
		clear(rel)
		for q, a := range b.QueryAttn {
			if err := checkMatrix(m.Name(), "rater attention", a, -1); err != nil {
				return nil, Matrix{}, err
			}
			if a.Rows < 1 || a.Cols != L {
				return nil, Matrix{}, fmt.Errorf("pruning: sparsevlm: attention of query %d is %d×%d, want heads × %d: %w", b.Queries[q], a.Rows, a.Cols, L, ErrBadInput)
			}
			for j, x := range meanHeadScores(a, b.ImageIdx) {
				rel[j] += x / float64(len(b.QueryAttn))
			}
		}
	}
	keep := topK(rel, min(cs[stage], n-1))
	if !recycle {
		return keep, Matrix{}, nil
	}
	kept := make([]bool, n)
	for _, j := range keep {
		kept[j] = true
	}
	var pruned []int
	var prunedRel []float64
	for j := range n {
		if !kept[j] {
			pruned = append(pruned, j)
			prunedRel = append(prunedRel, rel[j])
		}
	}
	nRec, clusters := recycleCounts(len(pruned))
	order := orderDesc(prunedRel)[:nRec]
	x := make([]int, nRec)
	for i, p := range order {
		x[i] = b.ImageIdx[pruned[p]]
	}
	return keep, dpcKnnMerge(Gather(b.Hidden, x), clusters), nil
}

// dpcKnnMerge clusters the rows of x with DPC-kNN (TCFormer's
// cluster_dpc_knn as used by SparseVLM's cluster_and_merge) and returns one
// merged row per cluster in centre order: distances are Euclidean/sqrt(C);
// density = exp(−mean of the squared distances to the k = clusters nearest
// rows, self included); δ_i = distance to the nearest denser row (the
// largest distance overall if none), where equal densities count the lower
// index as denser (the reference breaks ties with 1e-6 random noise); centres = top clusters by δ·density
// (ties: lowest index); each row joins its nearest centre (ties: the
// higher-ranked centre), centres their own cluster; merged = Σ rows /
// (count + 1e-6).
func dpcKnnMerge(x Matrix, clusters int) Matrix {
	n, c := x.Rows, x.Cols
	clusters = max(1, min(clusters, n))
	dist := make([]float64, n*n)
	scale := 1 / math.Sqrt(float64(c))
	dmax := 0.0
	for i := range n {
		for j := i + 1; j < n; j++ {
			dd := math.Sqrt(sqDist(x.Row(i), x.Row(j))) * scale
			dist[i*n+j], dist[j*n+i] = dd, dd
			dmax = max(dmax, dd)
		}
	}
	density := make([]float64, n)
	row := make([]float64, n)
	for i := range n {
		copy(row, dist[i*n:(i+1)*n])
		slices.Sort(row)
		s := 0.0
		for _, dd := range row[:clusters] {
			s += dd * dd
		}
		density[i] = math.Exp(-s / float64(clusters))
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
	centres := orderDesc(score)[:clusters]
	assign := make([]int, n)
	for i := range n {
		best := 0
		for ci, cj := range centres {
			if dist[cj*n+i] < dist[centres[best]*n+i] {
				best = ci
			}
		}
		assign[i] = best
	}
	for ci, cj := range centres {
		assign[cj] = ci
	}
	out := Matrix{Rows: clusters, Cols: c, Data: make([]float32, clusters*c)}
	acc := make([]float64, clusters*c)
	cnt := make([]float64, clusters)
	for i := range n {
		a := assign[i]
		cnt[a]++
		for k, v := range x.Row(i) {
			acc[a*c+k] += float64(v)
		}
	}
	for ci := range clusters {
		for k := range c {
			out.Data[ci*c+k] = float32(acc[ci*c+k] / (cnt[ci] + 1e-6))
		}
	}
	return out
}
