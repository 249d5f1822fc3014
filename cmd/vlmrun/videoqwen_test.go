package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
)

// vlmrun video on the Qwen2-VL twin: frames of 32×24, which
// Qwen2VLVideoProcessor's smart_resize makes 84×56 (2×3 tokens per
// temporal patch of 2 frames), placed as one
// <|vision_start|><|video_pad|>…<|vision_end|> block. An 8-frame 4 s GIF
// at the folder's default 2 fps (Qwen2VLVideoProcessor.sample_frames:
// 4 s × 2 = 8 frames, all of them, at index/rate 0, 0.5, … 3.5 s) gives 4
// temporal patches, 24 tokens; --fps 1 gives frames 0, 2, 4, 6 (2 temporal
// patches, 12 tokens); --prune with --keep spends the budget over the
// whole video.
func TestVideoQwen2VL(t *testing.T) {
	testenv.ORT(t)
	dir := filepath.Join(testenv.Repo(t), "models", "qwen2vl", "testdata", "qwen2vl-twin")
	clip := writeGIF(t, t.TempDir(), 8)
	for _, tc := range []struct {
		args   []string
		frames int
		after  float64 // visual tokens per frame after pruning
	}{
		{nil, 8, 3},
		{[]string{"--fps", "1", "--prune", "dycoke", "--keep", "0.5"}, 4, 1.5},
	} {
		args := append([]string{"video", "--model", dir, "--json", "--max-new-tokens", "3", "--threads", "1"}, tc.args...)
		code, stdout, stderr := runCLI(t, nil, append(args, clip)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, stderr)
		}
		var rec struct {
			Frames []struct {
				TimeS float64 `json:"time_s"`
			} `json:"frames"`
			PromptIDs      []int `json:"prompt_ids"`
			TokensPerFrame struct {
				Before, After float64
			} `json:"visual_tokens_per_frame"`
		}
		if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.Frames) != tc.frames || rec.TokensPerFrame.Before != 3 || rec.TokensPerFrame.After != tc.after {
			t.Errorf("%v: %d frames, tokens per frame %+v; want %d frames, 3 -> %v", tc.args, len(rec.Frames), rec.TokensPerFrame,
				tc.frames, tc.after)
		}
		step := 4.0 / float64(tc.frames)
		for i, f := range rec.Frames {
			if f.TimeS != float64(i)*step {
				t.Errorf("%v: frame %d at %v s, want %v", tc.args, i, f.TimeS, float64(i)*step)
			}
		}
		spec, err := models.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		text, err := spec.Tokenizer.Decode(rec.PromptIDs, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := "<|vision_start|>" + strings.Repeat("<|video_pad|>", 3*tc.frames) + "<|vision_end|>Describe this video.<|im_end|>"; !strings.Contains(text, want) {
			t.Errorf("prompt %q lacks %q", text, want)
		}
	}
}
