package pruning

import (
	"fmt"
	"slices"
)

// PruneVid's pre-LLM stage (ACL'25, arXiv 2412.16117; Visual-AI/PruneVid
// models/pllava/modeling_pllava.py merge_frames_dynamic, cluster_dpc_knn,
// refine_clusters; ModelTC/llmc prunevid.py). Defaults are scripts/eval.sh
// ("used in our paper"):
//
//  1. Frame descriptor = mean of the frame's tokens; DPC-kNN over frames
//     (k = KNN = 7) with max(1, int(F·Segment)) centres (Segment 0.25);
//     every frame takes its nearest centre's label.
//  2. refine_clusters: per label keep its longest contiguous runs (all runs
//     tied for longest); a label whose longest run has length 1 is removed;
//     removed runs are relabelled left to right with the label of the longer
//     neighbouring run (tie: left; neither: 0), using labels already
//     rewritten in the pass.
//  3. Windows = maximal runs of equal labels.
//  4. Per window of W frames and spatial position: mean pairwise cosine
//     excluding self-pairs; static iff > Tau (0.8); W = 1 is dynamic.
//  5. Static positions → one token each, the mean over the window; more than
//     14 static tokens → DPC-kNN (k = 7) into int(n·Ratio) clusters (Ratio
//     0.5), each a plain mean of its members. Dynamic tokens of each frame:
//     the same clustering when more than 14.
//  6. Order per window: static clusters, then each frame's dynamic clusters;
//     clusters in centre rank (DPC score) order (Order "official"), or by
//     position (Order "spatial"). A cluster's position (Source) is its
//     centre's; a static token's is its position in the window's first frame.
//
// Result.Groups records every output token's window, frame and whether it
// is static: the in-LLM stage, the in-decoder method PruneVidInner
// ("prunevid+prunevid-inner"), selects within those groups.
//
// Budget: keep is an upper bound (the count is content-dependent): keep = N
// applies the rule alone; below that the outputs standing for the fewest
// input tokens go first (ties: later outputs first). Tau = 1 with Ratio = 1
// and Order "spatial" keeps every token in order. DPC ties: lowest index;
// Seed adds the reference's density noise from a seeded generator. A
// frame count below 4 gives int(F·0.25) = 0 centres in the reference;
// vlmrun uses one (a single window).
type PruneVid struct {
	Tau     float64
	Ratio   float64 // cluster_ratio
	Segment float64 // temporal_segment_ratio
	KNN     int
	Order   string
	Seed    string
	Scope   string
}

// pruneVidMinCluster: token sets above this size are clustered (the
// reference's hard-coded 14).
const pruneVidMinCluster = 14

// Name implements PreDecoder.
func (PruneVid) Name() string { return "prunevid" }

// Needs implements PreDecoder.
func (PruneVid) Needs() Need { return NeedFeatures }

// Apply implements PreDecoder.
func (m PruneVid) Apply(v *Visual, keep int) (Result, error) {
	F, n, err := checkTemporal(m, v, keep, m.Scope)
	if err != nil {
		return Result{}, err
	}
	if !(m.Ratio > 0 && m.Ratio <= 1) || !(m.Segment > 0 && m.Segment <= 1) {
		return Result{}, fmt.Errorf("pruning: prunevid: ratios must be in (0, 1]: %w", ErrBadValue)
	}
	x := v.Features
	nz := seededNoise(m.Seed)
	labels := make([]int, F)
	if F > 1 {
		d := newDPC(frameMeans(x, F, n), m.KNN, nz)
		_, labels = d.centres(max(1, int(float64(F)*m.Segment)))
	}
	windows := runs(RefineClusters(labels))
	var outs []tout
	start := 0
	for wi, W := range windows {
		first := len(outs)
		static := make([]bool, n)
		var stat, dynAll []int
		if W > 1 {
			for i := range n {
				s := 0.0
				for a := range W {
					for b := range W {
						s += clampCos(cosine(x.Row((start+a)*n+i), x.Row((start+b)*n+i)))
					}
				}
				s = (s - float64(W)) / float64(W*(W-1))
				static[i] = s > m.Tau
			}
		}
		for i := range n {
			if static[i] {
				stat = append(stat, i)
			}
		}
		// static tokens: window means, then clustering
		if len(stat) > 0 {
			sm := Matrix{Rows: len(stat), Cols: x.Cols}
			for _, i := range stat {
				idx := make([]int, W)
				for a := range W {
					idx[a] = (start+a)*n + i
				}
				sm.Data = append(sm.Data, meanOf(x, idx)...)
			}
			src := make([]int, len(stat))
			for j, i := range stat {
				src[j] = start*n + i
			}
			outs = append(outs, m.cluster(sm, src, W, start, nz)...)
			for j := first; j < len(outs); j++ {
				outs[j].static = true
			}
		}
		for a := range W {
			f := start + a
			dynAll = dynAll[:0]
			for i := range n {
				if !static[i] {
					dynAll = append(dynAll, f*n+i)
				}
			}
			if len(dynAll) > 0 {
				outs = append(outs, m.cluster(rowsOf(x, dynAll), slices.Clone(dynAll), 1, f, nz)...)
			}
		}
		for j := first; j < len(outs); j++ {
			outs[j].window = wi
		}
		start += W
	}
	if m.Order == "spatial" {
		slices.SortStableFunc(outs, func(a, b tout) int { return a.src - b.src })
	}
	for i := range outs {
		outs[i].prio = float64(outs[i].size) - float64(i)/float64(len(outs)+1)
	}
	kept := capOutputs(outs, keep, F, m.Scope)
	res := toResult(v, kept)
	res.Groups = make([]TokenGroup, len(kept))
	for i, o := range kept {
		res.Groups[i] = TokenGroup{Window: o.window, Frame: o.frame, Static: o.static}
	}
	return res, nil
}

// cluster returns the outputs for rows x (sources src, each standing for
// per input tokens): unchanged when 14 or fewer, else DPC-kNN cluster means.
func (m PruneVid) cluster(x Matrix, src []int, per, frame int, nz noise) []tout {
	var outs []tout
	if x.Rows <= pruneVidMinCluster {
		for j, s := range src {
			outs = append(outs, tout{src: s, frame: frame, feat: slices.Clone(x.Row(j)), size: per})
		}
		if per == 1 {
			for j := range outs {
				outs[j].feat = nil
			}
		}
		return outs
	}
	d := newDPC(x, m.KNN, nz)
	cent, assign := d.centres(int(float64(x.Rows) * m.Ratio))
	members := make([][]int, len(cent))
	for i, a := range assign {
		members[a] = append(members[a], i)
	}
	for c, j := range cent {
		outs = append(outs, tout{src: src[j], frame: frame, feat: meanOf(x, members[c]), size: per * len(members[c])})
	}
	return outs
}

// RefineClusters is PruneVid's refine_clusters on frame labels.
func RefineClusters(labels []int) []int {
	out := slices.Clone(labels)
	n := len(out)
	type run struct{ lab, s, e int }
	var rs []run
	for i := 0; i < n; {
		j := i
		for j < n && out[j] == out[i] {
			j++
		}
		rs = append(rs, run{out[i], i, j})
		i = j
	}
	longest := map[int]int{}
	for _, r := range rs {
		longest[r.lab] = max(longest[r.lab], r.e-r.s)
	}
	for _, r := range rs {
		if l := longest[r.lab]; l == 1 || r.e-r.s < l {
			for i := r.s; i < r.e; i++ {
				out[i] = -1
			}
		}
	}
	runLen := func(i, step int) (int, int) { // label and length of the run at i going in direction step
		if i < 0 || i >= n || out[i] < 0 {
			return -1, 0
		}
		l, k := out[i], 0
		for j := i; j >= 0 && j < n && out[j] == l; j += step {
			k++
		}
		return l, k
	}
	for i := 0; i < n; {
		if out[i] >= 0 {
			i++
			continue
		}
		j := i
		for j < n && out[j] < 0 {
			j++
		}
		ll, lk := runLen(i-1, -1)
		rl, rk := runLen(j, 1)
		lab := 0
		switch {
		case lk > 0 && lk >= rk:
			lab = ll
		case rk > 0:
			lab = rl
		}
		for k := i; k < j; k++ {
			out[k] = lab
		}
		i = j
	}
	return out
}

// runs returns the lengths of the maximal runs of equal values.
func runs(labels []int) []int {
	var out []int
	for i := 0; i < len(labels); {
		j := i
		for j < len(labels) && labels[j] == labels[i] {
			j++
		}
		out = append(out, j-i)
		i = j
	}
	return out
}
