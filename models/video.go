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

// VideoSampling is a model folder's own frame sampling for videos: frames
// per second and the most frames (0: not given), applied to frame indices
// by the rule of the folder's video processor (Rule):
//
//   - "smolvlm": SmolVLM2's preprocessor_config.json "video_sampling"
//     (video.SampleSmolVLM). The frames' resize (video_size, or the
//     config's size over it) is the family's (models/smolvlm videoproc.go,
//     ImageOptions.VideoFrame), not read here.
//   - "qwen2vl": a Qwen2-VL / Qwen2.5-VL folder (config.json model_type
//     qwen2_vl or qwen2_5_vl): Qwen2VLVideoProcessor.sample_frames
//     (video.SampleQwen2VL) with the video processor's fps (default 2,
//     Qwen2.5-VL's processor and qwen-vl-utils' rate), min_frames
//     (default 4), max_frames (0 unless the file gives it: Python's 768
//     is left to --max-frames) and temporal_patch_size as the frame factor
//     (default 2), from video_preprocessor_config.json, else
//     preprocessor_config.json.
type VideoSampling struct {
	Rule        string
	FPS         float64
	MaxFrames   int
	MinFrames   int // qwen2vl only
	FrameFactor int // qwen2vl only
}

// ReadVideoSampling reads dir's video sampling (VideoSampling); nil when
// the folder has none.
func ReadVideoSampling(dir string) (*VideoSampling, error) {
	var head struct {
		ModelType string `json:"model_type"`
	}
	if data, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil {
		_ = json.Unmarshal(data, &head) // a bad config.json is reported by Load
	}
	if head.ModelType == "qwen2_vl" || head.ModelType == "qwen2_5_vl" {
		return readQwenSampling(dir)
	}
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
	return &VideoSampling{Rule: "smolvlm", FPS: v.FPS, MaxFrames: v.MaxFrames}, nil
}

// readQwenSampling is ReadVideoSampling for a Qwen2-VL folder.
func readQwenSampling(dir string) (*VideoSampling, error) {
	name := filepath.Join(dir, "video_preprocessor_config.json")
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		name = filepath.Join(dir, "preprocessor_config.json")
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	var c struct {
		FPS       *float64 `json:"fps"`
		MinFrames *int     `json:"min_frames"`
		MaxFrames *int     `json:"max_frames"`
		Temporal  *int     `json:"temporal_patch_size"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("models: parse %s: %w", name, err)
	}
	v := &VideoSampling{Rule: "qwen2vl", FPS: 2, MinFrames: 4, FrameFactor: 2}
	if c.FPS != nil {
		v.FPS = *c.FPS
	}
	if c.MinFrames != nil {
		v.MinFrames = *c.MinFrames
	}
	if c.MaxFrames != nil {
		v.MaxFrames = *c.MaxFrames
	}
	if c.Temporal != nil {
		v.FrameFactor = *c.Temporal
	}
	if !(v.FPS > 0) || math.IsInf(v.FPS, 0) || v.MinFrames < 0 || v.MaxFrames < 0 || v.FrameFactor < 1 {
		return nil, fmt.Errorf("models: %s: the video sampling (fps, min_frames, max_frames, temporal_patch_size) has a bad value", name)
	}
	return v, nil
}
