package pruning

import (
	"errors"
	"fmt"
	"slices"
)

// ErrDepth marks an in-decoder method whose layer schedule does not fit the
// model's decoder.
var ErrDepth = errors.New("layer schedule does not fit the decoder")

// FitDepth adapts an in-decoder method to a decoder of n layers, or
// refuses it, before anything runs: a boundary past the decoder's last
// layer would never be reached and the method would silently do nothing
// (or less than asked). The boundaries that can prune are after layers
// 0 … n−2 (pruning after the last layer changes nothing).
//
// Per method:
//   - pdrop without layers=: scaled. PyramidDrop splits the decoder into
//     S+1 equal stages for S drops (8/16/24 of LLaVA's 32 layers), so the
//     stage starts become ⌊s·n/(S+1)⌋, s = 1…S (1/2/3 for 4 layers,
//     7/15/22 for 30). Refused when they are not distinct layers ≥ 1
//     (fewer than S+1 layers). With layers= given: refused if beyond.
//   - fastv, adaptive-fastv, dart (k=, default 2, the papers' layer for
//     LLaVA): refused when k−1 > n−2 (k ≥ n). A fixed early layer is what the
//     papers prescribe; they give no rule to move it with depth. The same
//     for holitom-inner (k=, default 18) and dycoke-kv (l=, default 3).
//   - prunevid-inner without layer= (layer=auto): scaled, ⌊10·n/32⌋ (the
//     reference's selected_layer 10 of PLLaVA-7B's 32 layers; 1 of 4, 7
//     of 24); refused when that is past layer n−2. With layer= given:
//     refused if beyond.
//   - sparsevlm (layers=, default 2/6/15 for LLaVA's 32 layers): refused
//     when any layer is beyond; the paper gives no rule to scale them.
//   - aim (start=, step=; its schedule runs from start until the retention
//     reaches 0 or the --keep floor): refused when start ≥ n−1 (nothing
//     would be pruned). A schedule that runs past the last layer ends
//     there: the tokens retained after layer n−1 are kept (the per-layer
//     retention is AIM's knob, not the layer where it reaches 0).
//
// Methods without layers (pre-decoder ones) pass unchanged.
func FitDepth(m InDecoder, n int) (InDecoder, error) {
	if m == nil || n <= 0 {
		return m, nil
	}
	if p, ok := m.(PDrop); ok && p.scale {
		S := len(p.LayerList)
		scaled := make([]int, S)
		for s := range scaled {
			scaled[s] = (s + 1) * n / (S + 1)
		}
		if scaled[0] < 1 || len(slices.Compact(slices.Clone(scaled))) != S {
			return nil, fmt.Errorf("pruning: pdrop: %d stages need a decoder of at least %d layers; this one has %d: %w",
				S, S+1, n, ErrDepth)
		}
		p.LayerList = scaled
		p.scale = false
		m = p
	}
	if p, ok := m.(PruneVidInner); ok && p.Scale {
		p.Layer = prunevidRefLayer * n / prunevidRefDepth
		p.Scale = false
		if p.Layer > n-2 {
			return nil, fmt.Errorf("pruning: prunevid-inner: layer %d (10 of 32 scaled to %d layers) prunes nothing in a %d-layer decoder: %w",
				p.Layer, n, n, ErrDepth)
		}
		m = p
	}
	// A boundary after layer n−1 (the last) is inside the decoder but
	// prunes nothing (no layer reads its output); it is allowed in a
	// schedule (sparsevlm:layers=1/2/3 on 4 layers) as long as some
	// boundary does prune.
	useful := false
	_, aim := m.(AIMPrune)
	for _, l := range m.Layers() {
		if aim && l > n-1 {
			break // AIM's schedule ends with the decoder (see above)
		}
		if l < 0 || l > n-1 {
			return nil, fmt.Errorf("pruning: %s: prunes after layer %d, but this decoder has %d layers (0..%d)%s: %w",
				m.Name(), l, n, n-1, depthHint(m, n), ErrDepth)
		}
		useful = useful || l <= n-2
	}
	if ls := m.Layers(); !useful && aim && len(ls) > 0 && ls[0] > n-1 {
		return nil, fmt.Errorf("pruning: %s: starts pruning after layer %d, but this decoder has %d layers (0..%d)%s: %w",
			m.Name(), ls[0], n, n-1, depthHint(m, n), ErrDepth)
	}
	if !useful {
		return nil, fmt.Errorf("pruning: %s: prunes only after the last layer (%d) of this %d-layer decoder, which changes nothing%s: %w",
			m.Name(), n-1, n, depthHint(m, n), ErrDepth)
	}
	return m, nil
}

// depthHint says how to write the method for n layers.
func depthHint(m InDecoder, n int) string {
	switch x := m.(type) {
	case FastV, DART, *AdaptiveFastV:
		if n >= 3 {
			return fmt.Sprintf("; use %s:k=K with 1 <= K <= %d", m.Name(), n-1)
		}
	case PDrop:
		return "; leave layers= unset to scale the paper's schedule to the depth, or give layers= within it"
	case SparseVLM:
		return fmt.Sprintf("; give sparsevlm:layers= within 0..%d (the paper's 2/6/15 are for a 32-layer decoder)", max(n-1, 0))
	case MustDrop:
		return fmt.Sprintf("; give mustdrop:layers= within 0..%d (the paper's 2/6/10/14 are for a 32-layer decoder)", max(n-1, 0))
	case *ZipVL:
		return fmt.Sprintf("; give zipvl:layers= within 0..%d", max(n-2, 0))
	case AIMPrune:
		ls := x.Layers()
		if len(ls) > 0 {
			return fmt.Sprintf("; its schedule runs from layer %d to %d: lower start= or raise step=", ls[0], ls[len(ls)-1])
		}
	}
	return ""
}
