package qwen2vl

import (
	"fmt"

	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pruning"
)

// VideoFramePixels recovers, from a video's pixel_values_videos (px, one
// grid, the VideoPatches layout), what TimeChat-Online's DTD compares in
// its pixel mode: for each temporal patch (the frames the pruning methods
// see) its first raw frame (FramePixels.Data) and its last
// (FramePixels.Last), C×H×W each, the values as normalized. The reference
// compares the last raw frame of a temporal group with the first raw
// frame of the previous group, on pixel_values_videos de-normalized to
// [0, 1] (Scale: std per channel as the values were divided by it; 1 when
// only rescaled; 1/255 when neither) and per merged token (gh × gw tokens
// of merge·patch px). The padding copy of an odd count's last frame is a
// raw frame of the last group, as in the reference.
func VideoFramePixels(px models.Pixels, vp VideoProcessor, gh, gw int) (*pruning.FramePixels, error) {
	if !px.Video || len(px.Grids) != 1 {
		return nil, fmt.Errorf("qwen2vl: frame pixels need one video grid")
	}
	g := Grid(px.Grids[0])
	P, m, T := vp.PatchSize, vp.Merge, vp.TemporalPatch
	const C = 3
	dim := C * T * P * P
	H, W := g[1]*P, g[2]*P
	if g[0] < 1 || g[1]%m != 0 || g[2]%m != 0 || px.PatchDim != dim || len(px.Data) != g[0]*g[1]*g[2]*dim {
		return nil, fmt.Errorf("qwen2vl: %d pixel values (patch %d) do not match the video grid %v", len(px.Data), px.PatchDim, g)
	}
	if gh != g[1]/m || gw != g[2]/m {
		return nil, fmt.Errorf("qwen2vl: a %d×%d token grid for the video grid %v", gh, gw, g)
	}
	fp := &pruning.FramePixels{C: C, H: H, W: W, GridH: gh, GridW: gw, Scale: make([]float32, C)}
	for c := range C {
		switch b := vp.Base; {
		case b.DoNormalize:
			fp.Scale[c] = float32(b.Std[c])
		case b.DoRescale:
			fp.Scale[c] = 1
		default:
			fp.Scale[c] = 1.0 / 255
		}
	}
	row := 0
	for range g[0] {
		first, last := make([]float32, C*H*W), make([]float32, C*H*W)
		for bh := range g[1] / m {
			for bw := range g[2] / m {
				for mh := range m {
					for mw := range m {
						src := px.Data[row*dim : (row+1)*dim]
						row++
						y0, x0 := (bh*m+mh)*P, (bw*m+mw)*P
						for c := range C {
							for py := range P {
								o := c*H*W + (y0+py)*W + x0
								copy(first[o:o+P], src[((c*T)*P+py)*P:])
								copy(last[o:o+P], src[((c*T+T-1)*P+py)*P:])
							}
						}
					}
				}
			}
		}
		fp.Data = append(fp.Data, first)
		fp.Last = append(fp.Last, last)
	}
	return fp, nil
}
