package pipeline

import (
	"bytes"
	"context"
	"fmt"

	"github.com/vlmrun/vlmrun/models"
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

// CheckFrames is Pipeline.CheckFrames for the pool's model.
func (pl *Pool) CheckFrames() error { return pl.all[0].CheckFrames() }
