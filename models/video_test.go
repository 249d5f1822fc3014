package models

import (
	"os"
	"path/filepath"
	"testing"
)

// video_sampling is read from preprocessor_config.json; a folder without
// it has none, and a bad value is one error. A Qwen2-VL folder samples as
// Qwen2VLVideoProcessor, with video_preprocessor_config.json's values over
// preprocessor_config.json's over the defaults (2 fps, 4 frames at least,
// factor 2).
func TestReadVideoSampling(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		config     string // config.json ("" none)
		video      string // video_preprocessor_config.json ("" none)
		want       *VideoSampling
		err        bool
	}{
		{"smolvlm2", `{"video_sampling": {"fps": 1, "max_frames": 64, "video_size": {"longest_edge": 512}}}`, "", "", &VideoSampling{Rule: "smolvlm", FPS: 1, MaxFrames: 64}, false},
		{"none", `{"size": {"longest_edge": 512}}`, "", "", nil, false},
		{"no file", "", "", "", nil, false},
		{"negative", `{"video_sampling": {"fps": -1, "max_frames": 64}}`, "", "", nil, true},
		{"malformed", `{"video_sampling": 3}`, "", "", nil, true},
		{"qwen2-vl defaults", `{"min_pixels": 3136, "temporal_patch_size": 2}`, `{"model_type": "qwen2_vl"}`, "",
			&VideoSampling{Rule: "qwen2vl", FPS: 2, MinFrames: 4, FrameFactor: 2}, false},
		{"qwen2.5-vl video file", `{"temporal_patch_size": 2}`, `{"model_type": "qwen2_5_vl"}`,
			`{"fps": 1, "min_frames": 2, "max_frames": 32, "temporal_patch_size": 2}`,
			&VideoSampling{Rule: "qwen2vl", FPS: 1, MinFrames: 2, MaxFrames: 32, FrameFactor: 2}, false},
		{"qwen2-vl bad fps", `{}`, `{"model_type": "qwen2_vl"}`, `{"fps": 0}`, nil, true},
	} {
		dir := t.TempDir()
		if tc.file != "" {
			if err := os.WriteFile(filepath.Join(dir, "preprocessor_config.json"), []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for name, data := range map[string]string{"config.json": tc.config, "video_preprocessor_config.json": tc.video} {
			if data != "" {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err := ReadVideoSampling(dir)
		if (err != nil) != tc.err || (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%s: %+v, %v; want %+v (error %v)", tc.name, got, err, tc.want, tc.err)
		}
	}
}
