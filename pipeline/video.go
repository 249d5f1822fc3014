package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"image"

	"github.com/vlmrun/vlmrun/encoder"

	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pruning"
	"github.com/vlmrun/vlmrun/video"
)

// Video is a sampled video: its frames in time order, each frame's time
// in seconds from the start (one per frame), and the whole video's length
// in seconds (0 when unknown).
type Video struct {
	Frames   []Frame
	Times    []float64
	Duration float64
}

// VideoOf is the video that video.Extract sampled from the file name
// (used in the frames' names, as "NAME@1.250s").
func VideoOf(name string, fr []video.Frame) Video {
	v := Video{Frames: make([]Frame, len(fr)), Times: make([]float64, len(fr))}
	for i, f := range fr {
		v.Frames[i] = Frame{Name: fmt.Sprintf("%s@%.3fs", name, f.Time), R: bytes.NewReader(f.PNG)}
		v.Times[i] = f.Time
		v.Duration = f.Duration
	}
	return v
}

// CaptionVideo answers one prompt (req.Prompt) about a video's frames.
// Frames are decoded, encoded and pruned as CaptionFrames does (each one
// unsplit image, their tokens concatenated, a budget across all frames,
// pruning.Visual.Frames set for the temporal methods). Where the family
// has a video prompt (models.Spec.BuildVideoPrompt: SmolVLM2's frame count,
// length and timestamps) it places the frames, a one-frame video
// included; otherwise the frames are images in one prompt, exactly as
// CaptionFrames. Its errors wrap ErrNoFrames for a model that takes no
// frame sequences.
func (p *Pipeline) CaptionVideo(ctx context.Context, v Video, req Request, stream func(string) error) (*Result, error) {
	if len(v.Frames) == 0 {
		return nil, fmt.Errorf("pipeline: the video has no frames")
	}
	if len(v.Times) != len(v.Frames) {
		return nil, fmt.Errorf("pipeline: %d frame times for %d frames", len(v.Times), len(v.Frames))
	}
	if p.Spec.PreprocessVideo != nil {
		return p.captionVideoInput(ctx, v, req, stream)
	}
	if p.Spec.BuildVideoPrompt == nil {
		if len(v.Frames) > 1 {
			if err := p.CheckFrames(); err != nil {
				return nil, err
			}
		}
		return p.CaptionFrames(ctx, v.Frames, req, stream)
	}
	if err := p.CheckFrames(); err != nil {
		return nil, err
	}
	info := models.Video{Times: v.Times, Duration: v.Duration}
	return p.captionFrames(ctx, v.Frames, req, stream, func(n int) (models.Prompt, error) {
		return p.Spec.BuildVideoPrompt(req.Prompt, info, n)
	})
}

// captionVideoInput is CaptionVideo for a family whose video is one vision
// input (models.Spec.PreprocessVideo, Qwen2-VL, LLaVA-OneVision): the
// frames are decoded, made into that input together, encoded in one call
// (then the family's PackVideo: OneVision's pooling), and placed by the
// family's video prompt. The temporal methods see the video's temporal
// patches as its frames (Qwen2-VL: pruning.Visual.Frames = grid t, each
// (h/merge) × (w/merge) tokens; OneVision: each frame's pooled grid); a
// budget covers all of them.
func (p *Pipeline) captionVideoInput(ctx context.Context, v Video, req Request, stream func(string) error) (*Result, error) {
	var err error
	if req, err = p.FitRequest(req); err != nil {
		return nil, err
	}
	alone := p.active.Add(1) == 1
	start := p.starts.Add(1)
	defer p.active.Add(-1)
	rec := newRecorder(p.sessions)
	res := &Result{}
	imgs := make([]*image.NRGBA, len(v.Frames))
	for i, f := range v.Frames {
		img, info, err := encoder.DecodeImage(f.Name, f.R, p.opt.Limits)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			res.Image = info
		}
		imgs[i] = img
	}
	rec.mark(&rec.t.ImageDecode)
	info := models.Video{Times: v.Times, Duration: v.Duration}
	px, err := p.Spec.PreprocessVideo(imgs, info, req.Image)
	if err != nil {
		return nil, fmt.Errorf("encoder: preprocess the video: %w", err)
	}
	if px.Grids != nil && len(px.Grids) != 1 {
		return nil, fmt.Errorf("pipeline: %s made %d grids of one video", p.Spec.Family, len(px.Grids))
	}
	rec.mark(&rec.t.Preprocess)
	if miss := p.missingExtras(req); p.Spec.PackVideo != nil && miss != 0 {
		// LLaVA-OneVision: the frames' rows are pooled (PackVideo), which
		// the encoder extras of the unpooled rows do not describe
		return nil, fmt.Errorf("pipeline: %s needs %s, which %s's video tokens (pooled from the vision graph's rows) do not have: %w",
			req.Pre.Name(), miss, p.Spec.Family, pruning.ErrMissingInput)
	}
	var vis *pruning.Visual
	if p.Spec.PackVideo == nil {
		vis, err = p.encodeFor(rec, px, req)
	} else {
		var vv *encoder.Vision
		if vv, err = p.visionRec(rec, req); err == nil {
			if vis, err = encodeWith(vv, px, req.EncoderBatch); err == nil {
				vis, err = p.Spec.PackVideo(px, vis)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w (the video)", err)
	}
	rec.t.TilesEncoded = 1
	if px.Grids == nil {
		// frames encoded as a batch of images (LLaVA-OneVision); the
		// family's PackVideo sets the frames and their token grid
		rec.t.TilesEncoded = px.Images
	} else if err := p.videoFrames(vis, px); err != nil {
		return nil, err
	}
	rec.mark(&rec.t.Encode)
	info.Pixels = &px
	build := func(n int) (models.Prompt, error) { return p.Spec.BuildVideoPrompt(req.Prompt, info, n) }
	return p.answer(ctx, rec, res, px, vis, build, req, stream, alone, start)
}

// videoFrames describes a video encoded as one vision input (px, one
// grid) to the temporal methods: each temporal patch a frame (Frames = t)
// with its token grid, and, where the family recovers them
// (models.Spec.VideoFramePixels), the frames' pixels for DTD's pixel mode.
func (p *Pipeline) videoFrames(vis *pruning.Visual, px models.Pixels) error {
	g := px.Grids[0]
	if g[0] <= 0 || vis.Features.Rows%g[0] != 0 {
		return nil
	}
	t, per := g[0], vis.Features.Rows/g[0]
	for m := 1; m <= 8; m++ { // the token grid of one temporal patch
		if g[1]%m == 0 && g[2]%m == 0 && (g[1]/m)*(g[2]/m) == per {
			vis.GridH, vis.GridW = g[1]/m, g[2]/m
			break
		}
	}
	if t > 1 {
		vis.Frames = t
		if p.Spec.VideoFramePixels != nil && vis.GridH > 0 {
			// DTD's pixel mode: each temporal patch's first and last raw
			// frames, recovered from the patches
			fp, err := p.Spec.VideoFramePixels(px, vis.GridH, vis.GridW)
			if err != nil {
				return err
			}
			vis.FramePixels = fp
		}
	}
	return nil
}

// CheckVideo reports whether the model takes a video (CaptionVideo): a
// family with its own video input (Qwen2-VL), or one that takes several
// frames (CheckFrames, whose error it returns).
func (p *Pipeline) CheckVideo() error {
	if p.Spec.PreprocessVideo != nil {
		return nil
	}
	return p.CheckFrames()
}

// CheckVideo is Pipeline.CheckVideo for the pool's model.
func (pl *Pool) CheckVideo() error { return pl.all[0].CheckVideo() }

// CheckFrames is Pipeline.CheckFrames for the pool's model.
func (pl *Pool) CheckFrames() error { return pl.all[0].CheckFrames() }
