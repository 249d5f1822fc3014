package qwen2vl

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
)

// VideoToken is the placeholder of a video's visual tokens.
const VideoToken = "<|video_pad|>"

// DefaultVideoPrompt is the user text of a video prompt when none is given.
const DefaultVideoPrompt = "Describe this video."

// DefaultVideoFPS is the frame rate Qwen2.5-VL's processor assumes for
// second_per_grid_ts when it is not told one (Qwen2_5_VLProcessor's fps
// default, 2.0).
const DefaultVideoFPS = 2.0

// VideoProcessor is Python transformers' Qwen2VLVideoProcessor (Qwen2-VL
// and Qwen2.5-VL; transformers.js 4.3.1 has no video processor): every
// frame resized to one smart_resize size (Python's rounding,
// PySmartResize) within the video's min/max pixels, rescaled and
// normalized, the frame count padded to a multiple of TemporalPatch by
// repeating the last frame, then cut into patches (VideoPatches).
type VideoProcessor struct {
	Processor
}

// ReadVideoProcessor reads the video processor's settings from dir's
// video_preprocessor_config.json or, when the folder has none (as
// Qwen2-VL-2B-Instruct), from preprocessor_config.json, as Python's
// AutoVideoProcessor falls back to it. Missing keys take
// Qwen2VLVideoProcessor's defaults: min_pixels 128·28·28 and max_pixels
// 28·28·768 (min_pixels / max_pixels, else size.shortest_edge /
// size.longest_edge), do_resize, do_rescale and do_normalize on, CLIP's
// mean and std, bicubic, patch 14, temporal patch 2, merge 2.
func ReadVideoProcessor(dir string) (VideoProcessor, error) {
	name := "video_preprocessor_config.json"
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		name = "preprocessor_config.json"
		data, err = os.ReadFile(filepath.Join(dir, name))
	}
	if err != nil {
		return VideoProcessor{}, fmt.Errorf("qwen2vl: video processor: %w", err)
	}
	var c processorJSON
	if err := json.Unmarshal(data, &c); err != nil {
		return VideoProcessor{}, fmt.Errorf("qwen2vl: parse %s/%s: %w", dir, name, err)
	}
	var size struct {
		ShortestEdge *int `json:"shortest_edge"`
		LongestEdge  *int `json:"longest_edge"`
	}
	if len(c.Size) > 0 && string(c.Size) != "null" {
		if err := json.Unmarshal(c.Size, &size); err != nil {
			return VideoProcessor{}, fmt.Errorf("qwen2vl: %s/%s: size: %w", dir, name, err)
		}
	}
	p := Processor{DoResize: true, PatchSize: 14, Merge: 2, TemporalPatch: 2, MinPixels: 128 * 28 * 28, MaxPixels: 28 * 28 * 768}
	if c.DoResize != nil {
		p.DoResize = *c.DoResize
	}
	switch {
	case c.MinPixels != nil:
		p.MinPixels = *c.MinPixels
	case size.ShortestEdge != nil:
		p.MinPixels = *size.ShortestEdge
	}
	switch {
	case c.MaxPixels != nil:
		p.MaxPixels = *c.MaxPixels
	case size.LongestEdge != nil:
		p.MaxPixels = *size.LongestEdge
	}
	for _, v := range []struct {
		dst *int
		v   int
	}{{&p.PatchSize, c.PatchSize}, {&p.Merge, c.MergeSize}, {&p.TemporalPatch, c.TemporalPatch}} {
		if v.v != 0 {
			*v.dst = v.v
		}
	}
	if p.PatchSize <= 0 || p.Merge <= 0 || p.TemporalPatch <= 0 {
		return VideoProcessor{}, fmt.Errorf("qwen2vl: %s/%s: patch_size, merge_size and temporal_patch_size must be positive", dir, name)
	}
	if p.MinPixels <= 0 || p.MaxPixels < p.MinPixels {
		return VideoProcessor{}, fmt.Errorf("qwen2vl: %s/%s: video min_pixels %d, max_pixels %d", dir, name, p.MinPixels, p.MaxPixels)
	}
	b := models.ImageProcessor{Resample: encoder.ResampleBicubic, DoRescale: true, RescaleFactor: 1.0 / 255, DoNormalize: true,
		Mean: [3]float64{0.48145466, 0.4578275, 0.40821073}, Std: [3]float64{0.26862954, 0.26130258, 0.27577711}}
	if c.Resample != nil {
		if b.Resample, err = encoder.ParseResample(*c.Resample); err != nil {
			return VideoProcessor{}, fmt.Errorf("qwen2vl: %s/%s: %w", dir, name, err)
		}
	}
	if c.DoRescale != nil {
		b.DoRescale = *c.DoRescale
	}
	if c.RescaleFactor != nil {
		b.RescaleFactor = *c.RescaleFactor
	}
	if c.DoNormalize != nil {
		b.DoNormalize = *c.DoNormalize
	}
	if len(c.ImageMean) > 0 || len(c.ImageStd) > 0 {
		if len(c.ImageMean) != 3 || len(c.ImageStd) != 3 {
			return VideoProcessor{}, fmt.Errorf("qwen2vl: %s/%s: image_mean and image_std need 3 values", dir, name)
		}
		copy(b.Mean[:], c.ImageMean)
		copy(b.Std[:], c.ImageStd)
	}
	for _, s := range b.Std {
		if b.DoNormalize && s == 0 {
			return VideoProcessor{}, fmt.Errorf("qwen2vl: %s/%s: image_std has a zero", dir, name)
		}
	}
	p.Base = b
	return VideoProcessor{p}, nil
}

// PySmartResize is Python transformers' smart_resize(height, width,
// factor, min_pixels, max_pixels), which the video processor uses: like
// SmartResize but with Python's round (halves to even) and no scaling up
// of sides under factor first. It returns width first.
func PySmartResize(height, width, factor, minPixels, maxPixels int) (int, int, error) {
	h, w, f := float64(height), float64(width), float64(factor)
	if height <= 0 || width <= 0 || factor <= 0 {
		return 0, 0, fmt.Errorf("qwen2vl: a %d×%d frame, factor %d", width, height, factor)
	}
	if math.Max(h, w)/math.Min(h, w) > 200 {
		return 0, 0, fmt.Errorf("qwen2vl: absolute aspect ratio must be smaller than 200, got %v", math.Max(h, w)/math.Min(h, w))
	}
	hBar := math.RoundToEven(h/f) * f
	wBar := math.RoundToEven(w/f) * f
	if hBar*wBar > float64(maxPixels) {
		beta := math.Sqrt(h * w / float64(maxPixels))
		hBar = math.Max(f, math.Floor(h/beta/f)*f)
		wBar = math.Max(f, math.Floor(w/beta/f)*f)
	} else if hBar*wBar < float64(minPixels) {
		beta := math.Sqrt(float64(minPixels) / (h * w))
		hBar = math.Ceil(h*beta/f) * f
		wBar = math.Ceil(w*beta/f) * f
	}
	return int(wBar), int(hBar), nil
}

// Process returns the video's pixel_values_videos (patches × C·T·P·P,
// see VideoPatches) and its video_grid_thw for frames in time order, all
// the same size, as Python's Qwen2VLVideoProcessor computes them from
// uint8 RGB frames (BaseImageProcessorFast.resize and
// rescale_and_normalize):
//
//   - every frame is resized to the PySmartResize size with torchvision's
//     resize of a uint8 tensor, antialias=True (encoder.ResizeTorchAA;
//     the folder's resample, bicubic by default, LANCZOS taken as bicubic
//     as the torch processors take it); a frame already at that size is
//     not resized (torchvision returns it as it is);
//   - then rescale and normalize fused as the torch processors fuse them:
//     (v − mean/rescale_factor) / (std/rescale_factor) in float32 (the
//     float32 mean and std times the Python float 1/rescale_factor), or
//     v·rescale_factor in float32 when only rescaling, (v − mean)/std when
//     only normalizing, v itself when neither.
//
// vlmrun's --resizer does not apply to video frames (it picks among the
// image resizers that match transformers.js). maxPixels > 0 lowers
// max_pixels (a token budget per temporal patch).
func (p VideoProcessor) Process(frames []*image.NRGBA, maxPixels int) ([]float32, Grid, error) {
	chws, nw, nh, err := p.Frames(frames, maxPixels)
	if err != nil {
		return nil, Grid{}, err
	}
	return VideoPatches(chws, nw, nh, p.PatchSize, p.Merge, p.TemporalPatch)
}

// Frames is Process before the patch layout: every frame resized and
// normalized (C×H×W float32 each, in time order) and the common size.
func (p VideoProcessor) Frames(frames []*image.NRGBA, maxPixels int) ([][]float32, int, int, error) {
	if len(frames) == 0 {
		return nil, 0, 0, fmt.Errorf("qwen2vl: a video without frames")
	}
	if frames[0] == nil || frames[0].Rect.Empty() {
		return nil, 0, 0, fmt.Errorf("qwen2vl: video frame 0 is empty")
	}
	w, h := frames[0].Rect.Dx(), frames[0].Rect.Dy()
	nw, nh := w, h
	if p.DoResize {
		var err error
		if maxPixels > 0 && maxPixels < p.MaxPixels {
			nw, nh, err = underBudget(p.MinPixels, maxPixels, p.PatchSize*p.Merge, func(minPixels int) (int, int, error) {
				return PySmartResize(h, w, p.PatchSize*p.Merge, minPixels, maxPixels)
			})
		} else {
			nw, nh, err = PySmartResize(h, w, p.PatchSize*p.Merge, p.MinPixels, p.MaxPixels)
		}
		if err != nil {
			return nil, 0, 0, err
		}
	}
	if err := checkTarget(nw, nh); err != nil {
		return nil, 0, 0, err
	}
	norm := p.fusedNorm()
	chws := make([][]float32, len(frames))
	for i, img := range frames {
		if img == nil || img.Rect.Dx() != w || img.Rect.Dy() != h {
			return nil, 0, 0, fmt.Errorf("qwen2vl: video frame %d is not %d×%d like frame 0", i, w, h)
		}
		if nw != w || nh != h {
			var err error
			if img, err = encoder.ResizeTorchAA(img, nw, nh, p.Base.Resample); err != nil {
				return nil, 0, 0, fmt.Errorf("qwen2vl: video frame %d: %w", i, err)
			}
		}
		chws[i] = norm.chw(img)
	}
	return chws, nw, nh, nil
}

// frameNorm is the video processor's per-channel float32 arithmetic on a
// uint8 value: (v − sub)/div when div is set, else v·mul.
type frameNorm struct {
	sub, div  [3]float32
	normalize bool
	mul       float32
}

// fusedNorm is BaseImageProcessorFast._fuse_mean_std_and_rescale_factor
// followed by rescale_and_normalize's choice (see Process).
func (p VideoProcessor) fusedNorm() frameNorm {
	b := p.Base
	n := frameNorm{normalize: b.DoNormalize, mul: 1}
	for c := range 3 {
		n.sub[c], n.div[c] = float32(b.Mean[c]), float32(b.Std[c])
		if b.DoRescale && b.DoNormalize {
			inv := float32(1 / b.RescaleFactor)
			n.sub[c] *= inv
			n.div[c] *= inv
		}
	}
	if b.DoRescale && !b.DoNormalize {
		n.mul = float32(b.RescaleFactor)
	}
	return n
}

// chw is img's C×H×W values (alpha dropped).
func (n frameNorm) chw(img *image.NRGBA) []float32 {
	var lut [3][256]float32
	for c := range lut {
		for v := range lut[c] {
			x := float32(v)
			if n.normalize {
				x = (x - n.sub[c]) / n.div[c]
			} else {
				x *= n.mul
			}
			lut[c][v] = x
		}
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	out := make([]float32, 3*w*h)
	for y := range h {
		row := img.Pix[img.PixOffset(img.Rect.Min.X, img.Rect.Min.Y+y):]
		for x := range w {
			for c := range 3 {
				out[c*w*h+y*w+x] = lut[c][row[4*x+c]]
			}
		}
	}
	return out
}

// VideoPatches is Qwen2VLVideoProcessor's patch layout for one video
// (frames CHW, 3×h×w each, in time order): a frame count that is not a
// multiple of temporal first gets temporal−1 copies of the last frame
// (Python's padding; with temporal 2 an odd count becomes even), then the
// frames, viewed as [grid_t, temporal, C, grid_h/merge, merge, patch,
// grid_w/merge, merge, patch], are permuted to (0, 3, 6, 4, 7, 2, 1, 5, 8)
// and flattened to [grid_t·grid_h·grid_w, C·temporal·patch·patch]:
// temporal patches in order, in each the patches in merge-block order
// (blocks row-major, the merge×merge patches of a block row-major), each
// patch's values channel, then frame, then row, then column. The grid is
// (grid_t, h/patch, w/patch).
func VideoPatches(frames [][]float32, w, h, patch, merge, temporal int) ([]float32, Grid, error) {
	if len(frames) == 0 || temporal <= 0 || patch <= 0 || merge <= 0 {
		return nil, Grid{}, fmt.Errorf("qwen2vl: %d frames, patch %d, merge %d, temporal patch %d", len(frames), patch, merge, temporal)
	}
	gh, gw := h/patch, w/patch
	if gh*patch != h || gw*patch != w || gh%merge != 0 || gw%merge != 0 || gh == 0 || gw == 0 {
		return nil, Grid{}, fmt.Errorf("qwen2vl: a %d×%d frame is not a whole number of %d×%d merge blocks of %d px patches",
			w, h, merge, merge, patch)
	}
	for i, f := range frames {
		if len(f) != 3*w*h {
			return nil, Grid{}, fmt.Errorf("qwen2vl: frame %d has %d pixel values for 3×%d×%d", i, len(f), h, w)
		}
	}
	if len(frames)%temporal != 0 {
		last := frames[len(frames)-1]
		for range temporal - 1 {
			frames = append(frames[:len(frames):len(frames)], last)
		}
		if len(frames)%temporal != 0 { // Python's view fails here too
			return nil, Grid{}, fmt.Errorf("qwen2vl: %d frames padded with %d copies of the last are not a multiple of temporal_patch_size %d",
				len(frames)-(temporal-1), temporal-1, temporal)
		}
	}
	const C = 3
	gt := len(frames) / temporal
	dim := C * temporal * patch * patch
	out := make([]float32, gt*gh*gw*dim)
	o := 0
	for t0 := 0; t0 < gt; t0++ {
		for bh := 0; bh < gh/merge; bh++ {
			for bw := 0; bw < gw/merge; bw++ {
				for mh := 0; mh < merge; mh++ {
					for mw := 0; mw < merge; mw++ {
						y0, x0 := (bh*merge+mh)*patch, (bw*merge+mw)*patch
						for c := 0; c < C; c++ {
							for t := 0; t < temporal; t++ {
								chw := frames[t0*temporal+t]
								for py := 0; py < patch; py++ {
									row := chw[c*w*h+(y0+py)*w+x0:]
									o += copy(out[o:o+patch], row[:patch])
								}
							}
						}
					}
				}
			}
		}
	}
	return out, Grid{gt, gh, gw}, nil
}

// VideoFPS is the frame rate Qwen2.5-VL's processor is told for a sampled
// video (its fps argument, which makes second_per_grid_ts): frames /
// duration when the length is known, as qwen_vl_utils computes the
// sampled rate; otherwise the spacing of the first and last frame times;
// otherwise DefaultVideoFPS.
func VideoFPS(v models.Video) float64 {
	n := len(v.Times)
	if n > 0 && v.Duration > 0 {
		return float64(n) / v.Duration
	}
	if n > 1 && v.Times[n-1] > v.Times[0] {
		return float64(n-1) / (v.Times[n-1] - v.Times[0])
	}
	return DefaultVideoFPS
}

// ExpandVideo is Qwen2VLProcessor's video expansion: the video token (one
// per video, in order) becomes grid_t·grid_h·grid_w / merge² copies.
func ExpandVideo(text string, grids []Grid, merge int) (string, error) {
	return expand(text, VideoToken, grids, merge)
}
