package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pruning"
)

// Frame is one image of a multi-image prompt (an image sequence).
type Frame struct {
	Name string // used in errors
	R    io.Reader
}

// CaptionFrames answers one prompt about several images (the frames of a
// sequence, in order): each frame is decoded, preprocessed and encoded on
// its own, their visual tokens are concatenated in frame order, and the
// family's BuildImagePrompt places them (with its per-frame markers) given
// models.Pixels.Images = the number of frames. Pre-decoder pruning sees all
// frames' tokens at once (Features rows = frames × tokens per image), so a
// budget applies across all frames, not per frame. One frame is the same as
// Caption.
//
// Families that set BuildImagePrompt take several frames this way; a
// tiling family (SmolVLM) must have PreprocessImageWith, and each frame is
// then one unsplit image (models.ImageOptions.NoSplit). Tile pruning does
// not apply here. A family that fails CheckFrames but has a chat format
// (LLaVA-1.5, Qwen2-VL: their processors expand each image on its own)
// takes the frames as one user message holding the images, then the
// prompt (Chat on models.UserTurn): Python's processor layout, the same
// prompt and ids as that conversation.
func (p *Pipeline) CaptionFrames(ctx context.Context, frames []Frame, req Request,
	stream func(string) error) (*Result, error) {
	if len(frames) == 0 {
		return nil, fmt.Errorf("pipeline: no frames")
	}
	if len(frames) == 1 {
		return p.Caption(ctx, frames[0].Name, frames[0].R, req, stream)
	}
	if err := p.CheckFrames(); err != nil {
		if p.Spec.BuildChat == nil || p.s2s != nil {
			return nil, err
		}
		return p.Chat(ctx, models.UserTurn("", req.Prompt, len(frames)), frames, req, stream)
	}
	return p.captionFrames(ctx, frames, req, stream, nil)
}

// ErrNoFrames is returned (wrapped) by CaptionFrames, CaptionVideo and
// CheckFrames for a model that does not take several frames in one prompt.
var ErrNoFrames = errors.New("the model does not take frame sequences")

// CheckFrames reports whether the model takes several frames in one
// prompt through BuildImagePrompt, as CaptionVideo's frame path needs: its
// family builds multi-image prompts (models.Spec.BuildImagePrompt), a
// tiling family can keep a frame unsplit, and it is neither an
// encoder-decoder nor a patch-sequence model (Qwen2-VL's frames need their
// grids; its several images go through Chat, as CaptionFrames does for a
// chat-format family that fails this check). Its errors wrap ErrNoFrames.
func (p *Pipeline) CheckFrames() error {
	if p.Spec.BuildImagePrompt == nil || (p.Spec.PreprocessImage != nil && p.Spec.PreprocessImageWith == nil) || p.s2s != nil ||
		p.vision.Patches() { // Qwen2-VL: BuildImagePrompt places one image's grid
		return fmt.Errorf("pipeline: %s (model_type %s) does not take several images in one prompt: %w", p.Spec.Dir, p.Spec.Family, ErrNoFrames)
	}
	return nil
}

// captionFrames is CaptionFrames after its checks; build, when not nil,
// builds the prompt from the visual-token count instead of the family's
// BuildImagePrompt (CaptionVideo).
func (p *Pipeline) captionFrames(ctx context.Context, frames []Frame, req Request, stream func(string) error,
	build func(nVisual int) (models.Prompt, error)) (*Result, error) {
	if p.Spec.PreprocessImage != nil {
		// a tiling family (SmolVLM): every frame is one unsplit image, as
		// SmolVLM2 and the Idefics3 processor with do_image_splitting=False
		// treat video frames
		req.Image.NoSplit = true
	}
	if build != nil {
		// CaptionVideo: the frames are a video's (SmolVLM2's video processor)
		req.Image.VideoFrame = true
	} else {
		req.Image.PromptImages = len(frames) // several images in one prompt
	}
	alone := p.active.Add(1) == 1
	start := p.starts.Add(1)
	defer p.active.Add(-1)
	rec := newRecorder(p.sessions)
	res := &Result{}
	all := models.Pixels{Images: len(frames)}
	pxs := make([][]float32, len(frames))
	var decodeMs float64
	for i, f := range frames {
		img, info, err := encoder.DecodeImage(f.Name, f.R, p.opt.Limits)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			res.Image = info
		}
		decodeMs += rec.since()
		px, err := p.preprocess(img, req.Image)
		if err != nil {
			return nil, fmt.Errorf("encoder: preprocess %s: %w", f.Name, err)
		}
		if px.Images != 1 {
			return nil, fmt.Errorf("pipeline: frame %s became %d vision inputs, want 1", f.Name, px.Images)
		}
		pxs[i] = px.Data
		all.Data = append(all.Data, px.Data...)
		rec.t.Preprocess += rec.since()
	}
	rec.t.ImageDecode = decodeMs
	vv, err := p.visionRec(rec, req)
	if err != nil {
		return nil, err
	}
	var vis *pruning.Visual
	for i, px := range pxs {
		v, err := vv.Encode(px)
		if err != nil {
			return nil, fmt.Errorf("%w (frame %s)", err, frames[i].Name)
		}
		vis = appendVisual(vis, v)
	}
	if len(frames) > 1 {
		vis.GridH, vis.GridW = 0, 0 // several grids: no single token grid
		vis.Frames = len(frames)    // for the temporal methods (pruning.Visual.Frames)
		vis.FramePixels = p.framePixels(pxs)
	}
	rec.t.TilesEncoded = len(frames)
	rec.mark(&rec.t.Encode)
	if build == nil {
		build = func(n int) (models.Prompt, error) { return p.Spec.BuildImagePrompt(req.Prompt, all, n) }
	}
	return p.answer(ctx, rec, res, all, vis, build, req, stream, alone, start)
}

// appendVisual concatenates v's tokens (and the extras both have) after acc's.
func appendVisual(acc, v *pruning.Visual) *pruning.Visual {
	if acc == nil {
		return v
	}
	cat := func(a, b pruning.Matrix) pruning.Matrix {
		if a.Rows == 0 || b.Rows == 0 || a.Cols != b.Cols {
			return pruning.Matrix{}
		}
		return pruning.Matrix{Rows: a.Rows + b.Rows, Cols: a.Cols, Data: append(a.Data, b.Data...)}
	}
	acc.Features = cat(acc.Features, v.Features)
	acc.PreProj = cat(acc.PreProj, v.PreProj)
	acc.Keys = cat(acc.Keys, v.Keys)
	if len(acc.CLSAttn) > 0 && len(v.CLSAttn) > 0 {
		acc.CLSAttn = append(acc.CLSAttn, v.CLSAttn...)
	} else {
		acc.CLSAttn = nil
	}
	acc.CLSFeatures, acc.CLSPreProj = nil, nil // one CLS per frame: none for the sequence
	return acc
}

// answer is Caption's second half (prompt, pruning, splice, generation) for
// visual tokens already encoded; build makes the prompt for their count.
func (p *Pipeline) answer(ctx context.Context, rec *recorder, res *Result, px models.Pixels, vis *pruning.Visual,
	build func(nVisual int) (models.Prompt, error), req Request, stream func(string) error, alone bool, start int64) (*Result, error) {
	n := vis.Features.Rows
	res.Visual.Before = n
	prompt, err := build(n)
	if err != nil {
		return nil, err
	}
	embeds, err := p.embed(prompt.IDs)
	if err != nil {
		return nil, err
	}
	if err := p.fixRows(embeds, prompt); err != nil {
		return nil, err
	}
	return p.generate(ctx, rec, res, px, vis, prompt, embeds, req, stream, alone, start)
}

// fixRows puts the prompt's fixed rows (models.Prompt.Fixed) into embeds.
func (p *Pipeline) fixRows(embeds []float32, prompt models.Prompt) error {
	h := p.Spec.Text.Hidden
	for _, f := range prompt.Fixed {
		if f.Pos < 0 || f.Pos >= len(prompt.IDs) || len(f.Embed) != h || slices.Contains(prompt.ImagePos, f.Pos) {
			return fmt.Errorf("pipeline: %s gave a fixed prompt row at %d of %d values (hidden %d, %d tokens)",
				p.Spec.Family, f.Pos, len(f.Embed), h, len(prompt.IDs))
		}
		copy(embeds[f.Pos*h:(f.Pos+1)*h], f.Embed)
	}
	return nil
}

// framePixels describes the frames' pixel tensors for DTD's pixel mode, or
// returns nil when their layout is not a known C×H×W (3 channels) with a
// known token grid.
func (p *Pipeline) framePixels(pxs [][]float32) *pruning.FramePixels {
	n := len(pxs[0])
	h, w := p.Spec.Preprocess.Height, p.Spec.Preprocess.Width
	if h*w*3 != n {
		s := int(math.Sqrt(float64(n / 3)))
		if s*s*3 != n {
			return nil
		}
		h, w = s, s
	}
	if p.Spec.GridH < 1 || p.Spec.GridW < 1 || p.Spec.GridH*p.Spec.GridW != p.Spec.TokensPerImage {
		return nil
	}
	std := p.Spec.Preprocess.Std
	scale := []float32{std[0], std[1], std[2]}
	for _, s := range scale {
		if !(s > 0) {
			return nil
		}
	}
	for _, px := range pxs {
		if len(px) != n {
			return nil
		}
	}
	return &pruning.FramePixels{Data: pxs, C: 3, H: h, W: w, Scale: scale, GridH: p.Spec.GridH, GridW: p.Spec.GridW}
}
