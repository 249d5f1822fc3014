package server

import (
	"context"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/video"
)

// checkVideo refuses, before the request waits, a video_url for a model
// that takes no video (pipeline.CheckVideo).
func (s *Server) checkVideo() *apiError {
	if err := s.pool.CheckVideo(); err != nil {
		return badRequest("unsupported_video", "messages", "%v", err)
	}
	return nil
}

// videoOptions is the request's frame sampling as vlmrun video samples:
// the request's fps and max_frames, else the model folder's video sampling
// (with its frame choice: SmolVLM2's video.SampleSmolVLM, Qwen2-VL's
// video.SampleQwen2VL), else 1 fps and 16 frames; at most Limits.MaxFrames frames, each scaled down to 1024 pixels
// on its longer side while decoding.
func (s *Server) videoOptions(job *chatJob) video.Options {
	o := video.Options{FPS: 1, MaxFrames: 16, MaxSide: 1024, Timeout: s.cfg.FrameTimeout}
	if vs := s.sampling; vs != nil {
		o.Sampler = video.RuleSampler(vs.Rule)
		o.MinFrames, o.FrameFactor = vs.MinFrames, vs.FrameFactor
		if vs.FPS > 0 {
			o.FPS = vs.FPS
		}
		if vs.MaxFrames > 0 {
			o.MaxFrames = vs.MaxFrames
		}
	}
	if job.fps > 0 {
		o.FPS = job.fps
	}
	if job.maxFrames > 0 {
		o.MaxFrames = job.maxFrames
	}
	o.MaxFrames = min(o.MaxFrames, s.lim.MaxFrames)
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	return o
}

// extractVideo loads the request's video and samples its frames (through
// a temporary file: ffmpeg reads files). It returns the video and the
// extraction time in milliseconds.
func (s *Server) extractVideo(ctx context.Context, job *chatJob) (pipeline.Video, float64, *apiError) {
	start := time.Now()
	data, e := s.loadAs(ctx, *job.video, s.videoKind())
	if e != nil {
		return pipeline.Video{}, 0, e
	}
	f, err := os.CreateTemp("", "vlmrun-video-*")
	if err != nil {
		return pipeline.Video{}, 0, newError(http.StatusInternalServerError, "internal_error", "", "video: temporary file: %v", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return pipeline.Video{}, 0, newError(http.StatusInternalServerError, "internal_error", "", "video: temporary file: %v", err)
	}
	fr, err := video.Extract(ctx, f.Name(), s.videoOptions(job))
	if err != nil {
		return pipeline.Video{}, 0, videoError(ctx, err)
	}
	return pipeline.VideoOf("video", fr), float64(time.Since(start).Microseconds()) / 1000, nil
}

// videoError maps a frame extraction error: an unreadable video is the
// client's (400 invalid_video), a missing ffmpeg the server's; nil when
// the request's context ended (the caller reports that).
func videoError(ctx context.Context, err error) *apiError {
	switch {
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, video.ErrBadVideo):
		return badRequest("invalid_video", "messages", "%v", err)
	case errors.Is(err, video.ErrNoFFmpeg):
		return newError(http.StatusInternalServerError, "ffmpeg_missing", "", "%v", err)
	}
	return newError(http.StatusInternalServerError, "internal_error", "", "%v", err)
}
