package llavaonevision

// LLaVA-OneVision video, as Python transformers runs it (transformers.js
// 4.3.1 has no OneVision video path: its llava_onevision folder holds the
// image processor and the LLaVA model class only):
//
//   - LlavaOnevisionVideoProcessor (a BaseVideoProcessor): every frame is
//     squashed to size (384×384; torchvision's antialiased resize with
//     resample, bicubic by default), rescaled and normalized with the
//     mean/std fused into the rescale factor; its settings come from
//     video_preprocessor_config.json, else preprocessor_config.json (the
//     fallback transformers' video processor loading takes), with the
//     class defaults (OpenAI CLIP mean/std) for keys neither gives.
//   - get_video_features: the vision tower and the projector per frame
//     (the transformers.js export's vision_encoder gives exactly that:
//     image_features (frames, side², D)), then apply_pooling: each frame's
//     side×side grid bilinearly interpolated (align_corners=False, no
//     antialias) to ceil(side/2)×ceil(side/2), raster order.
//   - forward: image_newline appended once after all frames' pooled tokens.
//   - LlavaOnevisionProcessor: <video> becomes
//     frames·ceil(side/2)²+1 copies.
//
// vlmrun's pruning sees the frames' pooled tokens (pruning.Visual.Frames,
// a pooled grid per frame); the newline row is structure, appended after
// pruning as DyCoke's and HoliTom's OneVision code do, and no method
// removes it (models.Prompt.Fixed).

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"strings"
	"sync"

	"github.com/vlmrun/vlmrun/chattemplate"
	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pruning"
)

// DefaultVideoPrompt is the user text of a video prompt when none is given.
const DefaultVideoPrompt = "Describe this video."

// DefaultVideoToken is the video placeholder when processor_config.json
// names none.
const DefaultVideoToken = "<video>"

// PooledSide is the side of a frame's token grid after apply_pooling:
// ceil(side/2).
func PooledSide(side int) int { return (side + 1) / 2 }

// VideoTokens is the number of <video> tokens of a video of frames frames
// whose frames give side×side features: frames·ceil(side/2)² pooled
// tokens, then one image_newline.
func VideoTokens(frames, side int) int {
	s := PooledSide(side)
	return frames*s*s + 1
}

// PoolFrames is apply_pooling: data holds frames grids of h×w rows of d
// values (raster order); each grid is bilinearly interpolated to
// ceil(h/2)×ceil(w/2) by Bilinear (torch's interpolate, mode "bilinear",
// align_corners=False, bit for bit).
func PoolFrames(data []float32, frames, h, w, d int) ([]float32, int, int, error) {
	if frames < 1 || h < 1 || w < 1 || d < 1 || len(data) != frames*h*w*d {
		return nil, 0, 0, fmt.Errorf("llavaonevision: pool %d values as %d frames of %d×%d×%d", len(data), frames, h, w, d)
	}
	oh, ow := PooledSide(h), PooledSide(w)
	out := make([]float32, 0, frames*oh*ow*d)
	for f := range frames {
		g := data[f*h*w*d : (f+1)*h*w*d]
		out = Bilinear(out, func(y, x int) []float32 { return g[(y*w+x)*d : (y*w+x+1)*d] }, h, w, oh, ow, d)
	}
	return out, oh, ow, nil
}

// videoProcessor is LlavaOnevisionVideoProcessor's per-frame processing.
type videoProcessor struct {
	W, H      int
	Resample  encoder.Resample
	Rescale   bool
	Factor    float64
	Normalize bool
	Mean, Std [3]float32 // fused with the rescale factor when both apply
}

// videoProcessorJSON is the part of a video processor config read here.
type videoProcessorJSON struct {
	Size *struct {
		Height       int `json:"height"`
		Width        int `json:"width"`
		ShortestEdge int `json:"shortest_edge"`
	} `json:"size"`
	Resample      *int       `json:"resample"`
	DoResize      *bool      `json:"do_resize"`
	DoRescale     *bool      `json:"do_rescale"`
	RescaleFactor *float64   `json:"rescale_factor"`
	DoNormalize   *bool      `json:"do_normalize"`
	Mean          *[]float64 `json:"image_mean"`
	Std           *[]float64 `json:"image_std"`
}

// openAIClip are OPENAI_CLIP_MEAN and OPENAI_CLIP_STD, the video
// processor's defaults.
var openAIClip = [2][3]float64{{0.48145466, 0.4578275, 0.40821073}, {0.26862954, 0.26130258, 0.27577711}}

// newVideoProcessor reads dir's video processor settings.
func newVideoProcessor(dir string) (*videoProcessor, error) {
	var c videoProcessorJSON
	name := "video_preprocessor_config.json"
	err := models.ReadJSON(dir, name, &c)
	if errors.Is(err, os.ErrNotExist) {
		name = "preprocessor_config.json"
		err = models.ReadJSON(dir, name, &c)
	}
	if err != nil {
		return nil, err
	}
	vp := &videoProcessor{W: 384, H: 384, Resample: encoder.ResampleBicubic, Rescale: true, Factor: 1.0 / 255, Normalize: true}
	if c.DoResize != nil && !*c.DoResize {
		return nil, fmt.Errorf("%s: do_resize false is not supported for video frames", name)
	}
	if s := c.Size; s != nil {
		switch {
		case s.Height > 0 && s.Width > 0:
			vp.W, vp.H = s.Width, s.Height
		case s.ShortestEdge > 0:
			vp.W, vp.H = s.ShortestEdge, s.ShortestEdge
		default:
			return nil, fmt.Errorf("%s: size needs height and width (or shortest_edge)", name)
		}
	}
	if c.Resample != nil {
		if vp.Resample, err = encoder.ParseResample(*c.Resample); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if c.DoRescale != nil {
		vp.Rescale = *c.DoRescale
	}
	if c.RescaleFactor != nil {
		vp.Factor = *c.RescaleFactor
	}
	if c.DoNormalize != nil {
		vp.Normalize = *c.DoNormalize
	}
	mean, std := openAIClip[0], openAIClip[1]
	for _, m := range []struct {
		v   *[]float64
		dst *[3]float64
		key string
	}{{c.Mean, &mean, "image_mean"}, {c.Std, &std, "image_std"}} {
		if m.v == nil {
			continue
		}
		switch len(*m.v) {
		case 1:
			*m.dst = [3]float64{(*m.v)[0], (*m.v)[0], (*m.v)[0]}
		case 3:
			copy(m.dst[:], *m.v)
		default:
			return nil, fmt.Errorf("%s: %s needs 1 or 3 values", name, m.key)
		}
	}
	if !(vp.Factor > 0) || math.IsInf(vp.Factor, 0) {
		return nil, fmt.Errorf("%s: rescale_factor %v", name, vp.Factor)
	}
	for i := range 3 {
		if vp.Normalize && !(std[i] > 0) {
			return nil, fmt.Errorf("%s: image_std %v", name, std)
		}
		vp.Mean[i], vp.Std[i] = float32(mean[i]), float32(std[i])
		if vp.Rescale && vp.Normalize {
			// BaseVideoProcessor's fused rescale+normalize: float32 mean
			// and std tensors times the Python float 1/rescale_factor
			vp.Mean[i] *= float32(1 / vp.Factor)
			vp.Std[i] *= float32(1 / vp.Factor)
		}
	}
	return vp, nil
}

// frame appends one frame's pixel values (3×H×W) to dst.
func (vp *videoProcessor) frame(dst []float32, img *image.NRGBA) ([]float32, error) {
	if img == nil || img.Rect.Empty() {
		return nil, fmt.Errorf("llavaonevision: empty video frame")
	}
	cur := img
	if img.Rect.Dx() != vp.W || img.Rect.Dy() != vp.H {
		var err error
		if cur, err = encoder.ResizeTorchAA(img, vp.W, vp.H, vp.Resample); err != nil {
			return nil, fmt.Errorf("llavaonevision: video frame: %w", err)
		}
	}
	n := vp.W * vp.H
	base := len(dst)
	dst = append(dst, make([]float32, 3*n)...)
	for y := range vp.H {
		row := cur.Pix[cur.PixOffset(cur.Rect.Min.X, cur.Rect.Min.Y+y):]
		for x := range vp.W {
			for c := range 3 {
				v := float32(row[4*x+c])
				switch {
				case vp.Normalize: // (mean and std fused with the rescale factor)
					v = (v - vp.Mean[c]) / vp.Std[c]
				case vp.Rescale:
					v *= float32(vp.Factor)
				}
				dst[base+c*n+y*vp.W+x] = v
			}
		}
	}
	return dst, nil
}

// video is the family's video support: the frames' processing, the
// pooling and the prompt.
type video struct {
	dir     string
	vp      *videoProcessor
	side    int // tokens per frame side before pooling
	hidden  int
	videoID int
	token   string
	pr      *prompter

	once    sync.Once
	newline []float32
	nlErr   error
}

// readNewline reads image_newline once (ReadNewline).
func (v *video) readNewline() ([]float32, error) {
	v.once.Do(func() {
		v.newline, v.nlErr = ReadNewline(v.dir, v.hidden)
		if v.nlErr != nil {
			v.nlErr = fmt.Errorf("%w: a LLaVA-OneVision video ends with the learned image_newline vector, which the ONNX export does not carry; put the checkpoint's model.safetensors (or a safetensors file holding image_newline) in the model folder", v.nlErr)
		}
	})
	return v.newline, v.nlErr
}

// preprocess is Spec.PreprocessVideo: every frame through the video
// processor, one pixel_values batch of frames images.
func (v *video) preprocess(frames []*image.NRGBA, _ models.Video, o models.ImageOptions) (models.Pixels, error) {
	if len(frames) == 0 {
		return models.Pixels{}, fmt.Errorf("llavaonevision: a video without frames")
	}
	if _, err := v.readNewline(); err != nil {
		return models.Pixels{}, err
	}
	if per := PooledSide(v.side) * PooledSide(v.side); o.MaxImageTokens > 0 && per > o.MaxImageTokens {
		return models.Pixels{}, fmt.Errorf("llavaonevision: a video frame gives %d visual tokens (%d×%d pooled), more than --max-image-tokens %d",
			per, PooledSide(v.side), PooledSide(v.side), o.MaxImageTokens)
	}
	var data []float32
	for _, f := range frames {
		var err error
		if data, err = v.vp.frame(data, f); err != nil {
			return models.Pixels{}, err
		}
	}
	return models.Pixels{Data: data, Images: len(frames), Video: true}, nil
}

// pool is Spec.PackVideo: apply_pooling on the frames'
// features. The encoder extras of the unpooled rows do not describe the
// pooled tokens, so methods that read them are refused.
func (v *video) pool(px models.Pixels, vis *pruning.Visual) (*pruning.Visual, error) {
	if len(vis.CLSAttn) > 0 || vis.Keys.Rows > 0 || vis.PreProj.Rows > 0 {
		return nil, fmt.Errorf("llavaonevision: a video's tokens are pooled features; methods that read encoder attention, keys or pre-projector features do not run on them: %w",
			pruning.ErrMissingInput)
	}
	F, s := px.Images, v.side
	if vis.Features.Rows != F*s*s {
		return nil, fmt.Errorf("llavaonevision: the vision encoder gave %d features for %d frames; each frame should give %d×%d",
			vis.Features.Rows, F, s, s)
	}
	data, oh, ow, err := PoolFrames(vis.Features.Data, F, s, s, vis.Features.Cols)
	if err != nil {
		return nil, err
	}
	out := &pruning.Visual{Features: pruning.Matrix{Rows: F * oh * ow, Cols: vis.Features.Cols, Data: data},
		GridH: oh, GridW: ow}
	if F > 1 {
		out.Frames = F
	}
	return out, nil
}

// text is the video prompt before expansion: user text holding one video
// token is the whole prompt, as given; other text (empty: the default)
// becomes one user message holding the video then the text, rendered with
// the chat template and the generation prompt.
func (v *video) text(user string) (string, error) {
	if strings.Contains(user, v.pr.layout.ImageToken) {
		return "", fmt.Errorf("llavaonevision: a video prompt with %s in its text", v.pr.layout.ImageToken)
	}
	if n := strings.Count(user, v.token); n > 0 {
		if n != 1 {
			return "", fmt.Errorf("llavaonevision: the prompt has %d %s tokens for one video", n, v.token)
		}
		return user, nil
	}
	if strings.TrimSpace(user) == "" {
		user = DefaultVideoPrompt
	}
	s, err := v.pr.tmpl.Apply([]chattemplate.Message{{Role: "user", Parts: []chattemplate.Part{{Type: "video"}, chattemplate.TextPart(user)}}},
		chattemplate.Options{AddGenerationPrompt: true})
	if err != nil {
		return "", fmt.Errorf("llavaonevision: %s: %w", v.pr.tmpl.Source, err)
	}
	if n := strings.Count(s, v.token); n != 1 {
		return "", fmt.Errorf("llavaonevision: %s rendered %d %s placeholders for one video", v.pr.tmpl.Source, n, v.token)
	}
	return s, nil
}

// prompt is Spec.BuildVideoPrompt: the video token expanded to the pooled
// tokens of all frames (nVisual) and one more for image_newline, which is
// the prompt's fixed row after them.
func (v *video) prompt(user string, info models.Video, nVisual int) (models.Prompt, error) {
	if info.Pixels == nil || !info.Pixels.Video {
		return models.Prompt{}, fmt.Errorf("llavaonevision: a video prompt without the video's pixels")
	}
	F, s := info.Pixels.Images, PooledSide(v.side)
	if nVisual != F*s*s {
		return models.Prompt{}, fmt.Errorf("llavaonevision: %d visual tokens for %d frames; each frame should give %d×%d pooled", nVisual, F, s, s)
	}
	nl, err := v.readNewline()
	if err != nil {
		return models.Prompt{}, err
	}
	str, err := v.text(user)
	if err != nil {
		return models.Prompt{}, err
	}
	ids, err := v.pr.tok.Encode(Expand(str, v.token, nVisual+1), true)
	if err != nil {
		return models.Prompt{}, fmt.Errorf("llavaonevision: prompt: %w", err)
	}
	var pos []int
	for i, id := range ids {
		if id == v.videoID {
			pos = append(pos, i)
		}
	}
	if len(pos) != nVisual+1 {
		return models.Prompt{}, fmt.Errorf("llavaonevision: the prompt has %d %s tokens, want %d (%d pooled tokens and the newline)",
			len(pos), v.token, nVisual+1, nVisual)
	}
	return models.Prompt{IDs: ids, ImagePos: pos[:nVisual], Fixed: []models.FixedRow{{Pos: pos[nVisual], Embed: nl}}}, nil
}

// useVideo gives spec Python's OneVision video path (PreprocessVideo,
// BuildVideoPrompt, PackVideo: the pooling), whatever the folder's image
// layout. A folder without a video token is left without video.
func useVideo(spec *models.Spec, dir string, raw []byte, pr *prompter) error {
	var c struct {
		VideoTokenIndex *int `json:"video_token_index"`
		VideoTokenID    *int `json:"video_token_id"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("parse config.json: %w", err)
	}
	vid := c.VideoTokenIndex
	if vid == nil {
		vid = c.VideoTokenID
	}
	if vid == nil {
		return nil
	}
	side := pr.layout.GridH
	if pr.layout.GridW != side {
		return fmt.Errorf("video pooling needs a square token grid, not %d×%d", pr.layout.GridH, pr.layout.GridW)
	}
	var pc struct {
		VideoToken string `json:"video_token"`
	}
	if err := models.ReadJSON(dir, "processor_config.json", &pc); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	token := pc.VideoToken
	if token == "" {
		token = DefaultVideoToken
	}
	if id, ok := pr.tok.TokenID(token); !ok || id != *vid {
		return fmt.Errorf("config.json video_token_index is %d but the tokenizer has %s = %d (found %v)", *vid, token, id, ok)
	}
	vp, err := newVideoProcessor(dir)
	if err != nil {
		return err
	}
	if vp.W != pr.layout.Width || vp.H != pr.layout.Height {
		return fmt.Errorf("the video processor gives %d×%d frames, the vision encoder takes %d×%d", vp.W, vp.H, pr.layout.Width, pr.layout.Height)
	}
	v := &video{dir: dir, vp: vp, side: side, hidden: spec.Text.Hidden, videoID: *vid, token: token, pr: pr}
	spec.PreprocessVideo = v.preprocess
	spec.BuildVideoPrompt = v.prompt
	spec.PackVideo = v.pool
	return nil
}
