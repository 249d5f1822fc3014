package pruning

import "fmt"

// Helpers for the runner's bookkeeping after an in-decoder drop (reference
// §1.1–1.2). They are pure functions of the indices, so the position rules
// can be unit-tested without a model.

// KeptRows returns the sequence rows kept at a boundary, ascending: every
// row of the current sequence (length L) that is not a visual token, plus
// the visual rows imageIdx[k] for k in keep (keep as returned by Select).
// Text tokens are never dropped.
func KeptRows(L int, imageIdx, keep []int) ([]int, error) {
	isImg := make([]bool, L)
	for i, j := range imageIdx {
		if j < 0 || j >= L || (i > 0 && j <= imageIdx[i-1]) {
			return nil, fmt.Errorf("pruning: visual index %d not ascending in [0, %d): %w", j, L, ErrBadInput)
		}
		isImg[j] = true
	}
	for i, k := range keep {
		if k < 0 || k >= len(imageIdx) || (i > 0 && k <= keep[i-1]) {
			return nil, fmt.Errorf("pruning: kept index %d not ascending in [0, %d): %w", k, len(imageIdx), ErrBadInput)
		}
		isImg[imageIdx[k]] = false
	}
	rows := make([]int, 0, L-len(imageIdx)+len(keep))
	for r := range L {
		if !isImg[r] {
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// PositionIDs returns the position ids the kept rows use in the layers after
// the boundary. prev holds the ids the current rows used before it (one per
// row). KeepOriginal gathers prev at the kept rows (FastV:
// position_ids = keep_indexs); Renumber numbers them 0..len(kept)−1
// (PyramidDrop, SparseVLM v1.5).
func PositionIDs(p PositionPolicy, prev, kept []int) ([]int, error) {
	out := make([]int, len(kept))
	for i, r := range kept {
		if r < 0 || r >= len(prev) {
			return nil, fmt.Errorf("pruning: kept row %d out of [0, %d): %w", r, len(prev), ErrBadInput)
		}
		if p == Renumber {
			out[i] = i
		} else {
			out[i] = prev[r]
		}
	}
	return out, nil
}

// DecodePosition returns the position id of decode step t (0-based) in a
// layer. fullLen is the prompt length before any in-decoder drop; cacheLen
// the number of prompt rows this layer's KV cache holds. KeepOriginal:
// fullLen + t in every layer (FastV, DART); Renumber: cacheLen + t, which
// differs per stage (PyramidDrop subtracts the tokens dropped so far).
func DecodePosition(p PositionPolicy, fullLen, cacheLen, t int) int {
	if p == Renumber {
		return cacheLen + t
	}
	return fullLen + t
}
