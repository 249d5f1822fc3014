package smolvlm

import (
	"encoding/json"
	"fmt"
	"image"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
)

// videoProcessor is SmolVLM2's video processor (transformers'
// SmolVLMVideoProcessor, video_processing_smolvlm.py, read at commit
// 06053b84) for one sampled frame, as uint8 RGB in:
//
//  1. resize so the longest edge is Edge, the other side
//     int(Edge / (w/h)) (or int(Edge · w/h)) made even by adding one when
//     odd, at least 1 (get_resize_output_image_size; Edge capped at 4096);
//  2. resize to Tile×Tile (max_image_size: frames are always unsplit);
//  3. rescale and normalize, fused as the torch processors fuse them:
//     (v − mean/rescale) / (std/rescale) in float32.
//
// Both resizes are torchvision's resize of a uint8 tensor with
// antialias=True (encoder.ResizeTorchAA); the folder's LANCZOS resample
// becomes BICUBIC, as the processor does ("LANCZOS ... not yet supported
// for torch.Tensor"). A resize to the size the frame already has is none.
//
// Edge is the processor's size.longest_edge: __init__ copies the config's
// "size" over video_sampling.video_size when both are given ("For BC"), so
// a folder whose preprocessor_config.json has "size" (SmolVLM2's do, e.g.
// 1536 with video_size 384) resizes to that size first; video_size is used
// only without "size"; without either, the class default 4·364.
type videoProcessor struct {
	Edge, Tile int
	Resample   encoder.Resample
	// Mean and Std are the fused float32 constants; Scale multiplies when
	// the folder rescales without normalizing.
	Mean, Std [3]float32
	Scale     float32
	Normalize bool
}

// maxVideoEdge is the processor's MAX_IMAGE_SIZE.
const maxVideoEdge = 4096

// videoResizeSize is get_resize_output_image_size for a w×h frame: the
// (height, width) after resizing its longest edge to edge.
func videoResizeSize(w, h, edge int) (int, int) {
	edge = min(edge, maxVideoEdge)
	aspect := float64(w) / float64(h)
	if w >= h {
		w = edge
		h = int(float64(w) / aspect)
		if h%2 != 0 {
			h++
		}
	} else {
		h = edge
		w = int(float64(h) * aspect)
		if w%2 != 0 {
			w++
		}
	}
	return max(h, 1), max(w, 1)
}

// newVideoProcessor reads the video processor's settings from
// preprocessor_config.json (raw) and the image processor's (ip: tile,
// rescale factor, mean, std).
func newVideoProcessor(raw []byte, pc preprocessorConfig, ip imageProcessor) (*videoProcessor, error) {
	var c struct {
		Size *struct {
			LongestEdge int `json:"longest_edge"`
		} `json:"size"`
		VideoSampling *struct {
			VideoSize *struct {
				LongestEdge int `json:"longest_edge"`
			} `json:"video_size"`
		} `json:"video_sampling"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("smolvlm: preprocessor_config.json: %w", err)
	}
	vp := &videoProcessor{Edge: 4 * 364, Tile: ip.Tile, Resample: encoder.ResampleLanczos}
	switch {
	case c.Size != nil:
		vp.Edge = c.Size.LongestEdge
	case c.VideoSampling != nil && c.VideoSampling.VideoSize != nil:
		vp.Edge = c.VideoSampling.VideoSize.LongestEdge
	}
	if vp.Edge <= 0 {
		return nil, fmt.Errorf("smolvlm: preprocessor_config.json: the video size's longest_edge must be positive, not %d", vp.Edge)
	}
	if pc.Resample != nil {
		r, err := encoder.ParseResample(*pc.Resample)
		if err != nil {
			return nil, fmt.Errorf("smolvlm: preprocessor_config.json: %w", err)
		}
		vp.Resample = r
	}
	rescale := pc.DoRescale == nil || *pc.DoRescale
	vp.Normalize = pc.DoNormalize == nil || *pc.DoNormalize
	rf := 1.0 / 255
	if pc.RescaleFactor != nil {
		rf = *pc.RescaleFactor
	}
	vp.Scale = 1
	for i := range 3 {
		vp.Mean[i], vp.Std[i] = ip.Norm.Mean[i], ip.Norm.Std[i]
		if rescale && vp.Normalize {
			// _fuse_mean_std_and_rescale_factor: a float32 tensor times the
			// Python float 1/rescale_factor, in float32
			vp.Mean[i] = vp.Mean[i] * float32(1/rf)
			vp.Std[i] = vp.Std[i] * float32(1/rf)
		}
	}
	if rescale && !vp.Normalize {
		vp.Scale = float32(rf)
	}
	return vp, nil
}

// Process is one frame's pixel values: one Tile×Tile image.
func (vp *videoProcessor) Process(img *image.NRGBA) (models.Pixels, error) {
	if img == nil || img.Rect.Empty() {
		return models.Pixels{}, fmt.Errorf("smolvlm: empty video frame")
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	nh, nw := videoResizeSize(w, h, vp.Edge)
	var err error
	cur := img
	if nw != w || nh != h {
		if cur, err = encoder.ResizeTorchAA(cur, nw, nh, vp.Resample); err != nil {
			return models.Pixels{}, fmt.Errorf("smolvlm: video frame: %w", err)
		}
	}
	M := vp.Tile
	if cur.Rect.Dx() != M || cur.Rect.Dy() != M {
		if cur, err = encoder.ResizeTorchAA(cur, M, M, vp.Resample); err != nil {
			return models.Pixels{}, fmt.Errorf("smolvlm: video frame: %w", err)
		}
	}
	data := make([]float32, 3*M*M)
	for y := 0; y < M; y++ {
		row := cur.Pix[cur.PixOffset(cur.Rect.Min.X, cur.Rect.Min.Y+y):]
		for x := 0; x < M; x++ {
			for c := 0; c < 3; c++ {
				v := float32(row[4*x+c])
				switch {
				case vp.Normalize:
					v = (v - vp.Mean[c]) / vp.Std[c]
				default:
					v *= vp.Scale
				}
				data[c*M*M+y*M+x] = v
			}
		}
	}
	return models.Pixels{Data: data, Images: 1}, nil
}
