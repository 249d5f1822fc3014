package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
)

// Video is a sampled video as a family's video prompt sees it
// (Spec.BuildVideoPrompt, Spec.PreprocessVideo): the time of each frame in
// seconds from the start, in order (one entry per frame), and the whole
// video's length in seconds (0 when unknown).
type Video struct {
	Times    []float64
	Duration float64
	// Pixels, for a family with Spec.PreprocessVideo, is what it made of
	// the frames (the video's grid); unset otherwise.
	Pixels *Pixels
}

// VideoSampling is a model folder's own frame sampling for videos
// (SmolVLM2's preprocessor_config.json "video_sampling"): frames per
// second and the most frames (0: not given), which SmolVLM2's processor
// applies to frame indices (video.SampleSmolVLM). Its video_size is not
// read: vlmrun resizes every frame straight to the vision tile, as an
// unsplit image.
type VideoSampling struct {
	FPS       float64
	MaxFrames int
}

// ReadVideoSampling reads the "video_sampling" object of dir's
// preprocessor_config.json ({"fps": 1, "max_frames": 64, "video_size":
// {"longest_edge": 512}} in SmolVLM2's folders); nil when the folder has
// no such file or object.
func ReadVideoSampling(dir string) (*VideoSampling, error) {
	name := filepath.Join(dir, "preprocessor_config.json")
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	var c struct {
		VideoSampling *struct {
			FPS       float64 `json:"fps"`
			MaxFrames int     `json:"max_frames"`
		} `json:"video_sampling"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("models: parse %s: %w", name, err)
	}
	v := c.VideoSampling
	if v == nil {
		return nil, nil
	}
	if v.FPS < 0 || math.IsNaN(v.FPS) || math.IsInf(v.FPS, 0) || v.MaxFrames < 0 {
		return nil, fmt.Errorf("models: %s: video_sampling has a negative or non-finite value", name)
	}
	return &VideoSampling{FPS: v.FPS, MaxFrames: v.MaxFrames}, nil
}
