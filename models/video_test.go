package models

import (
	"os"
	"path/filepath"
	"testing"
)

// video_sampling is read from preprocessor_config.json; a folder without
// it has none, and a bad value is one error.
func TestReadVideoSampling(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       *VideoSampling
		err        bool
	}{
		{"smolvlm2", `{"video_sampling": {"fps": 1, "max_frames": 64, "video_size": {"longest_edge": 512}}}`, &VideoSampling{FPS: 1, MaxFrames: 64}, false},
		{"none", `{"size": {"longest_edge": 512}}`, nil, false},
		{"no file", "", nil, false},
		{"negative", `{"video_sampling": {"fps": -1, "max_frames": 64}}`, nil, true},
		{"malformed", `{"video_sampling": 3}`, nil, true},
	} {
		dir := t.TempDir()
		if tc.file != "" {
			if err := os.WriteFile(filepath.Join(dir, "preprocessor_config.json"), []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := ReadVideoSampling(dir)
		if (err != nil) != tc.err || (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%s: %+v, %v; want %+v (error %v)", tc.name, got, err, tc.want, tc.err)
		}
	}
}
