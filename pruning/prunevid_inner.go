package pruning

import (
	"fmt"
	"math"
	"slices"
)

// TokenGroup places one output token of a temporal pre-decoder method in
// the method's frame grouping (Result.Groups).
type TokenGroup struct {
	Window int  // the window (run of frames) the token belongs to, from 0
	Frame  int  // its frame; a static token's is its window's first frame
	Static bool // it stands for a static position of its whole window
}

// GroupUser is implemented by in-decoder methods that continue a
// pre-decoder method's grouping (prunevid-inner after prunevid). The
// runner calls WithGroups with the pre-decoder result's Groups, one per
// visual token in sequence order (nil when the pre-decoder stage recorded
// none), and runs the returned method.
type GroupUser interface {
	WithGroups(groups []TokenGroup) (InDecoder, error)
}

// KVGatherer is implemented by in-decoder methods whose reference also
// removes the dropped tokens from the KV cache of the layers up to and
// including the boundary's (PruneVid's VTPWindowCache gathers layers
// 0..selected_layer): when GathersEarlierKV is true the runner, after the
// cut, gathers those layers' caches to the kept rows, so decode steps see
// only the kept rows in every layer.
type KVGatherer interface {
	GathersEarlierKV() bool
}

// PruneVid's in-LLM stage (Visual-AI/PruneVid models/pllava/llama.py,
// attention with attn_weights_wo_pos; elastic_cache.py VTPWindowCache;
// reference §4.2), after layer Layer of the prefill:
//
//  1. Scores: that layer's attention computed from its query and key
//     projections without RoPE and without the causal mask,
//     softmax_j(q_r·k_j/√d) over every key j of the sequence (RoPEFreeScores),
//     for the rows r of every token after the last visual token and the
//     columns of the visual tokens; reduced by max over heads, then max
//     over rows.
//  2. Per window: the top int(n_static·Alpha) of its static tokens, and per
//     frame the top int(n_dynamic·Alpha) of that frame's dynamic tokens
//     (PruneVidInnerSelect); every other visual token is dropped.
//  3. Kept tokens keep their position ids; decode steps continue after the
//     unpruned length; the KV cache of layers 0..Layer is gathered to the
//     kept rows too (KVGatherer), the later layers never see the dropped
//     rows.
//
// The grouping is the pre-decoder stage's (prunevid's Result.Groups,
// passed by the runner through WithGroups): the method runs only as
// "prunevid+prunevid-inner". Defaults: Alpha 0.4 and selected_layer 10 of
// PLLaVA-7B's 32 layers (scripts/eval.sh); with Scale (layer=auto) FitDepth
// moves the layer to ⌊10·n/32⌋ of an n-layer decoder (1 of 4, 7 of 24).
//
// Decided: the reference multiplies queries with keys before repeat_kv
// (PLLaVA's Llama has as many key as query heads); with grouped-query
// attention head h uses key head h/(Heads/KVHeads), as the model's own
// attention does. The reference's video is one contiguous run of tokens
// and its rows start after it; vlmrun's families may put text between
// frames, which is never dropped: rows start after the last visual token
// and the columns are the visual tokens. Ties: lowest index. Alpha = 1
// keeps every token (int(n·1) = n) and changes nothing.
type PruneVidInner struct {
	Layer int     // select after this decoder layer (0-based)
	Alpha float64 // fraction kept per group, in (0, 1]
	Scale bool    // Layer is the reference's 10 of 32, to be scaled to the decoder (FitDepth)

	groups  []TokenGroup
	grouped bool
}

// prunevidRefLayer and prunevidRefDepth: selected_layer 10 of PLLaVA-7B's
// 32 decoder layers.
const (
	prunevidRefLayer = 10
	prunevidRefDepth = 32
)

// Name implements InDecoder.
func (PruneVidInner) Name() string { return "prunevid-inner" }

// Needs implements InDecoder.
func (PruneVidInner) Needs() Need { return NeedPreRoPEQK }

// Layers implements InDecoder.
func (m PruneVidInner) Layers() []int { return []int{m.Layer} }

// Positions implements InDecoder.
func (PruneVidInner) Positions() PositionPolicy { return KeepOriginal }

// GathersEarlierKV implements KVGatherer.
func (PruneVidInner) GathersEarlierKV() bool { return true }

// WithGroups implements GroupUser.
func (m PruneVidInner) WithGroups(groups []TokenGroup) (InDecoder, error) {
	if groups == nil {
		return nil, fmt.Errorf("pruning: prunevid-inner selects within prunevid's windows and frames, and the pre-decoder stage recorded none: run it as prunevid+prunevid-inner: %w", ErrBadValue)
	}
	m.groups, m.grouped = slices.Clone(groups), true
	return m, nil
}

// Select implements InDecoder.
func (m PruneVidInner) Select(b *Boundary, total int) ([]int, error) {
	if !m.grouped {
		return nil, fmt.Errorf("pruning: prunevid-inner: no frame grouping given (run it as prunevid+prunevid-inner): %w", ErrBadInput)
	}
	L, err := checkBoundary(m.Name(), b, m.Needs(), total)
	if err != nil {
		return nil, err
	}
	if b.Layer != m.Layer {
		return nil, layerError(m.Name(), b.Layer, m.Layers())
	}
	n := len(b.ImageIdx)
	if len(m.groups) != n {
		return nil, fmt.Errorf("pruning: prunevid-inner: a grouping of %d tokens for the %d visual tokens present: %w", len(m.groups), n, ErrBadInput)
	}
	if n == 0 {
		return []int{}, nil
	}
	var rows []int
	for r := b.ImageIdx[n-1] + 1; r < L; r++ {
		rows = append(rows, r)
	}
	s, err := RoPEFreeScores(b.Q, b.K, b.Heads, b.KVHeads, rows, b.ImageIdx)
	if err != nil {
		return nil, fmt.Errorf("pruning: prunevid-inner: %w", err)
	}
	return PruneVidInnerSelect(s, m.groups, m.Alpha)
}

// RoPEFreeScores returns, for each column c in cols, the maximum over
// heads and over the query rows of softmax_j(q_r,h·k_j,g(h)/√d) taken at
// column c, where j runs over every row of k (no causal mask), d is the
// head size and g(h) = h/(heads/kvHeads). q is L × (heads·d), k is
// L × (kvHeads·d), head-major within a row. Accumulated in float64.
func RoPEFreeScores(q, k Matrix, heads, kvHeads int, rows, cols []int) ([]float64, error) {
	if heads < 1 || kvHeads < 1 || heads%kvHeads != 0 || q.Cols%heads != 0 {
		return nil, fmt.Errorf("%d query heads, %d key heads for %d query columns: %w", heads, kvHeads, q.Cols, ErrBadInput)
	}
	d := q.Cols / heads
	L := k.Rows
	if k.Cols != kvHeads*d || q.Rows != L || len(q.Data) < q.Rows*q.Cols || len(k.Data) < k.Rows*k.Cols || L < 1 {
		return nil, fmt.Errorf("queries %d×%d and keys %d×%d do not match %d heads of %d (%d key heads): %w",
			q.Rows, q.Cols, k.Rows, k.Cols, heads, d, kvHeads, ErrBadInput)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no query rows (no token follows the visual tokens): %w", ErrBadInput)
	}
	for _, r := range rows {
		if r < 0 || r >= L {
			return nil, fmt.Errorf("query row %d outside [0, %d): %w", r, L, ErrBadInput)
		}
	}
	for _, c := range cols {
		if c < 0 || c >= L {
			return nil, fmt.Errorf("column %d outside [0, %d): %w", c, L, ErrBadInput)
		}
	}
	scale := 1 / math.Sqrt(float64(d))
	out := make([]float64, len(cols))
	for c := range out {
		out[c] = math.Inf(-1)
	}
	logit := make([]float64, L)
	group := heads / kvHeads
	for h := range heads {
		g := h / group
		for _, r := range rows {
			qr := q.Data[r*q.Cols+h*d : r*q.Cols+(h+1)*d]
			kr := func(j int) []float32 { return k.Data[j*k.Cols+g*d : j*k.Cols+(g+1)*d] }
			j := 0
			for ; j+4 <= L; j += 4 {
				s0, s1, s2, s3 := dot4(qr, kr(j), kr(j+1), kr(j+2), kr(j+3))
				logit[j], logit[j+1], logit[j+2], logit[j+3] = s0*scale, s1*scale, s2*scale, s3*scale
			}
			for ; j < L; j++ {
				s := 0.0
				for t, v := range qr {
					s += float64(v) * float64(kr(j)[t])
				}
				logit[j] = s * scale
			}
			mx := math.Inf(-1)
			for _, v := range logit {
				mx = math.Max(mx, v)
			}
			if math.IsNaN(mx) || math.IsInf(mx, 0) {
				return nil, fmt.Errorf("non-finite attention logits (row %d, head %d): %w", r, h, ErrBadInput)
			}
			sum := 0.0
			for j := range logit {
				sum += math.Exp(logit[j] - mx)
			}
			for ci, c := range cols {
				out[ci] = math.Max(out[ci], math.Exp(logit[c]-mx)/sum)
			}
		}
	}
	return out, nil
}

// PruneVidInnerSelect keeps, of the visual tokens with scores s and groups
// g (aligned), per window the int(n·alpha) highest-scoring static tokens
// (n: the window's static tokens) and per frame the int(n·alpha)
// highest-scoring dynamic tokens (n: the frame's dynamic tokens); ties by
// the lowest index. It returns the kept indices, ascending.
func PruneVidInnerSelect(s []float64, g []TokenGroup, alpha float64) ([]int, error) {
	if len(s) != len(g) {
		return nil, fmt.Errorf("pruning: prunevid-inner: %d scores for %d grouped tokens: %w", len(s), len(g), ErrBadInput)
	}
	if !(alpha > 0 && alpha <= 1) {
		return nil, fmt.Errorf("pruning: prunevid-inner: alpha %v outside (0, 1]: %w", alpha, ErrBadValue)
	}
	type key struct {
		window, frame int
	}
	members := map[key][]int{}
	var order []key
	for i, t := range g {
		k := key{t.Window, t.Frame}
		if t.Static {
			k.frame = -1
		}
		if _, ok := members[k]; !ok {
			order = append(order, k)
		}
		members[k] = append(members[k], i)
	}
	var keep []int
	for _, k := range order {
		idx := members[k]
		sub := make([]float64, len(idx))
		for j, i := range idx {
			sub[j] = s[i]
		}
		for _, j := range topK(sub, int(float64(len(idx))*alpha)) {
			keep = append(keep, idx[j])
		}
	}
	slices.Sort(keep)
	return keep, nil
}
