package pruning

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

// VFlowOpt (Yang et al., ICCV'25; sihany077/VFlowOpt, reference §3.12,
// llava_qwen_training_free.py and siglip_encoder.py read): importance from
// one vision-encoder layer's attention map, pruning after the encoder with
// recycling of the pruned tokens.
//
// Reference rule. A = head-mean attention of the chosen ViT layer (N×N);
// received_j = mean_i A[i,j]; global tokens G = {i : received_i > T·mean_j
// received_j}; importance imp_j = mean_{i∈G} A[i,j] (+ α_v·softmax(patch
// entropy)_j, α_v = 0 in the shipped configuration). reduce =
// round(N·(1−r)) (Python round) and num_merged = int(N/(m·m)); the
// reduce+num_merged lowest-importance tokens are pruned, grouped by the
// cell (⌊row/m⌋, ⌊col/m⌋) of the token grid they sit in, and each group's
// importance-weighted mean (weights imp/Σimp) is written into the group's
// most important member, which is kept. Tokens stay in place (spatial
// order); positions renumbered. Shipped 10 % setting: T = 39.26, m = 17.39.
//
// Here r = keep/N, so reduce = N − keep and the count is keep − num_merged
// + groups, which can exceed keep by up to (cells − num_merged) — as in the
// reference (exact=true spends exactly keep: the number pruned is the
// largest d with N − d + groups(d) = keep; when keep is below the number of
// cells the keep most important groups survive).
//
// Decisions (documented deviations):
//   - The encoder exports no full attention map. A is approximated by
//     softmax_j(k_i·k_j/√Dk) over the encoder's last-layer keys
//     (Visual.Keys; queries taken equal to keys), or over the projected
//     features when the model gives no keys (attn=features). With
//     attn=cls, imp is the CLS attention row itself.
//   - An empty global set (the reference then averages zero rows: NaN)
//     takes every token as a query, so imp = received.
//   - The entropy term needs the image's pixel patches, which Visual does
//     not carry; it is off, as in the shipped configuration.
//   - Ties: the lower index is more important (kept first, group
//     representative); a group whose importance sums to 0 is averaged
//     uniformly (the reference divides by 0).
//   - Without a token grid (GridH×GridW ≠ N) the tokens form one row.
//   - The reference's second part, progressive pruning inside the LLM
//     (llm_r = [1.0, 0.601]), is a separate in-decoder step (use pdrop or
//     fastv after this method); it is not part of this method.
type VFlowOpt struct {
	T     float64 // global-token threshold, times the mean received attention
	M     float64 // recycling cell size in tokens
	Attn  string  // "auto" (keys if present, else features), "keys", "features", "cls"
	Exact bool
}

// Name implements PreDecoder.
func (VFlowOpt) Name() string { return "vflowopt" }

// Needs implements PreDecoder.
func (m VFlowOpt) Needs() Need {
	switch m.Attn {
	case "keys":
		return NeedFeatures | NeedKeys
	case "cls":
		return NeedFeatures | NeedCLSAttn
	}
	return NeedFeatures
}

// importance returns imp over the N tokens.
func (m VFlowOpt) importance(v *Visual) ([]float64, error) {
	n := v.Features.Rows
	if m.Attn == "cls" {
		return to64(v.CLSAttn), nil
	}
	x := v.Features
	if m.Attn == "keys" || (m.Attn != "features" && v.Keys.Rows == n) {
		if err := checkMatrix(m.Name(), "encoder keys", v.Keys, n); err != nil {
			return nil, err
		}
		x = v.Keys
	}
	// Pass 1: received attention, one softmax row at a time (per-chunk
	// partial sums merged in chunk order); pass 2: the global rows again.
	d := x.Cols
	var parts [][]float64
	var los []int
	var mu sync.Mutex
	parallelFor(n, 32, func(lo, hi int) {
		part := make([]float64, n)
		row := make([]float64, n)
		for i := lo; i < hi; i++ {
			softmaxRowInto(x, i, d, row)
			for j, p := range row {
				part[j] += p
			}
		}
		mu.Lock()
		parts, los = append(parts, part), append(los, lo)
		mu.Unlock()
	})
	recv := make([]float64, n)
	for _, k := range orderAsc(los) {
		for j, p := range parts[k] {
			recv[j] += p / float64(n)
		}
	}
	mean := 1.0 / float64(n) // Σ_j recv_j = 1
	var g []int
	for i, r := range recv {
		if r > m.T*mean {
			g = append(g, i)
		}
	}
	if len(g) == 0 {
		return recv, nil
	}
	imp := make([]float64, n)
	row := make([]float64, n)
	for _, i := range g {
		softmaxRowInto(x, i, d, row)
		for j, p := range row {
			imp[j] += p / float64(len(g))
		}
	}
	return imp, nil
}

// softmaxRowInto sets row to softmax_j(x_i·x_j/√D).
func softmaxRowInto(x Matrix, i, d int, row []float64) {
	dotRows(x.Row(i), x.Data, d, row)
	scale := 1 / math.Sqrt(float64(d))
	mx := math.Inf(-1)
	for j := range row {
		row[j] *= scale
		mx = max(mx, row[j])
	}
	s := 0.0
	for j := range row {
		row[j] = math.Exp(row[j] - mx)
		s += row[j]
	}
	for j := range row {
		row[j] /= s
	}
}

// orderAsc returns the indices of xs in ascending order of value.
func orderAsc(xs []int) []int {
	idx := seq(len(xs))
	slices.SortFunc(idx, func(a, b int) int { return xs[a] - xs[b] })
	return idx
}

// selfAttention returns softmax_j(x_i·x_j/√D) (N×N, row-major, float64).
func selfAttention(x Matrix) []float64 {
	n := x.Rows
	a := make([]float64, n*n)
	for i := range n {
		softmaxRowInto(x, i, x.Cols, a[i*n:(i+1)*n])
	}
	return a
}

// Apply implements PreDecoder.
func (m VFlowOpt) Apply(v *Visual, keep int) (Result, error) {
	n, err := checkVisual(m, v, keep)
	if err != nil {
		return Result{}, err
	}
	if !(m.M > 0) || math.IsInf(m.M, 0) || m.T < 0 {
		return Result{}, errParam(m.Name(), "m %v must be > 0 and t %v >= 0", m.M, m.T)
	}
	if keep == n {
		return identityResult(v), nil
	}
	imp, err := m.importance(v)
	if err != nil {
		return Result{}, err
	}
	w := n
	if v.GridH*v.GridW == n && v.GridH > 0 {
		w = v.GridW
	}
	cell := make([]int, n)
	cw := int(math.Floor(float64(w-1)/m.M)) + 1
	for j := range n {
		cell[j] = int(math.Floor(float64(j/w)/m.M))*cw + int(math.Floor(float64(j%w)/m.M))
	}
	order := orderDesc(imp) // most important first
	// groups(d): the distinct cells among the d least important tokens.
	var d int
	if !m.Exact {
		d = min(n, n-keep+int(float64(n)/(m.M*m.M)))
	} else {
		seen := map[int]bool{}
		groups := 0
		d = 0
		for d < n {
			c := cell[order[n-1-d]]
			g := groups
			if !seen[c] {
				g++
			}
			if n-(d+1)+g < keep {
				break
			}
			d++
			if !seen[c] {
				seen[c] = true
				groups++
			}
		}
	}
	pruned := order[n-d:]
	kept := slices.Clone(order[:n-d])
	byCell := map[int][]int{}
	var cells []int
	for _, j := range pruned {
		if _, ok := byCell[cell[j]]; !ok {
			cells = append(cells, cell[j])
		}
		byCell[cell[j]] = append(byCell[cell[j]], j)
	}
	type group struct {
		rep     int
		members []int
		mass    float64
	}
	gs := make([]group, 0, len(cells))
	for _, c := range cells {
		mem := byCell[c]
		rep, mass := mem[0], 0.0
		for _, j := range mem {
			mass += max(0, imp[j])
			if imp[j] > imp[rep] || (imp[j] == imp[rep] && j < rep) {
				rep = j
			}
		}
		gs = append(gs, group{rep, mem, mass})
	}
	if m.Exact && len(kept) == 0 && len(gs) > keep {
		// Fewer slots than cells: the keep groups of largest importance.
		slices.SortStableFunc(gs, func(a, b group) int {
			if a.mass != b.mass {
				if a.mass > b.mass {
					return -1
				}
				return 1
			}
			return a.rep - b.rep
		})
		gs = gs[:keep]
	}
	merged := map[int][]float32{}
	sizes := map[int]int{}
	dd := v.Features.Cols
	acc := make([]float64, dd)
	for _, g := range gs {
		clear(acc)
		for _, j := range g.members {
			wt := 1 / float64(len(g.members))
			if g.mass > 0 {
				wt = max(0, imp[j]) / g.mass
			}
			for k, x := range v.Features.Row(j) {
				acc[k] += wt * float64(x)
			}
		}
		row := make([]float32, dd)
		for k := range row {
			row[k] = float32(acc[k])
		}
		merged[g.rep] = row
		sizes[g.rep] = len(g.members)
		kept = append(kept, g.rep)
	}
	slices.Sort(kept)
	res := Result{Source: kept, Features: Matrix{Rows: len(kept), Cols: dd, Data: make([]float32, len(kept)*dd)},
		Positions: Renumber, Sizes: make([]int, len(kept))}
	for i, j := range kept {
		if row, ok := merged[j]; ok {
			copy(res.Features.Row(i), row)
			res.Sizes[i] = sizes[j]
		} else {
			copy(res.Features.Row(i), v.Features.Row(j))
			res.Sizes[i] = 1
		}
	}
	if len(kept) == 0 {
		return Result{}, fmt.Errorf("pruning: vflowopt: nothing kept: %w", ErrBudget)
	}
	return res, nil
}
