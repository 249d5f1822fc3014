package encoder

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/pruning"
)

// Patches reports whether the graph takes flattened patches with their
// grid (EncodePatches) rather than images.
func (v *Vision) Patches() bool { return v.grid != "" }

// EncodePatches runs a graph that takes flattened patches (pixel_values
// [patches, dim], float32) and their grids (int64 [images, 3]: t, h, w per
// image), as Qwen2-VL's vision encoder, and returns its features (N, D),
// one row per merged patch (m×m patches each). For one image of one frame
// the token grid is (h/m)×(w/m), m found from the feature count.
func (v *Vision) EncodePatches(patches []float32, dim int, grids [][3]int) (*pruning.Visual, error) {
	if v.grid == "" {
		return nil, fmt.Errorf("encoder: the vision graph takes images, not patches")
	}
	n := 0
	g := make([]int64, 0, 3*len(grids))
	for _, t := range grids {
		n += t[0] * t[1] * t[2]
		g = append(g, int64(t[0]), int64(t[1]), int64(t[2]))
	}
	if dim <= 0 || len(grids) == 0 || n <= 0 || len(patches) != n*dim {
		return nil, fmt.Errorf("encoder: %d patch values for grids %v of %d values per patch", len(patches), grids, dim)
	}
	in, err := ortx.Tensor(patches, int64(n), int64(dim))
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	defer in.Destroy()
	gt, err := ortx.Tensor(g, int64(len(grids)), 3)
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	defer gt.Destroy()
	ins := []ort.Value{in, gt}
	outs := make([]ort.Value, len(v.outs))
	defer destroyAll(outs)
	tokens := n / 4 // float16 buffers: a first guess (2×2 merge), corrected by learnHalf
	if err := v.runHalf(ins, outs, tokens); err != nil {
		return nil, err
	}
	vis := &pruning.Visual{}
	for i, name := range v.outs {
		if name != v.g.Features {
			continue
		}
		data, sh, err := ortx.Floats(outs[i], name, v.half[name])
		if err != nil {
			return nil, fmt.Errorf("encoder: %w", err)
		}
		switch {
		case len(sh) == 2:
			vis.Features = pruning.Matrix{Rows: int(sh[0]), Cols: int(sh[1]), Data: data}
		case len(sh) == 3 && sh[0] == 1:
			vis.Features = pruning.Matrix{Rows: int(sh[1]), Cols: int(sh[2]), Data: data}
		default:
			return nil, fmt.Errorf("encoder: output %s has shape %v, want (N, D)", name, sh)
		}
	}
	if t := grids[0]; len(grids) == 1 && t[0] == 1 {
		for m := 1; m <= 8; m++ {
			if t[1]%m == 0 && t[2]%m == 0 && (t[1]/m)*(t[2]/m) == vis.Features.Rows {
				vis.GridH, vis.GridW = t[1]/m, t[2]/m
				break
			}
		}
	}
	if err := v.readExtras(vis, outs); err != nil {
		return nil, err
	}
	return vis, nil
}
