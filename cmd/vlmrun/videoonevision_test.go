package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
)

// vlmrun video on the LLaVA-OneVision twin: the folder has no video
// sampling of its own, so --fps (default 1) and --max-frames pick the
// frames of the 4 s GIF; each 5×5 frame grid is pooled to 3×3 (9 tokens a
// frame), a budget covers all frames, and the prompt holds frames·9 + 1
// <video> tokens (the last is image_newline) in the chat template's video
// message with the default question.
func TestVideoOneVision(t *testing.T) {
	testenv.ORT(t)
	dir := filepath.Join(testenv.Repo(t), "models", "llavaonevision", "testdata", "llava-onevision-twin")
	clip := writeGIF(t, t.TempDir(), 8)
	for _, tc := range []struct {
		args   []string
		frames int
		after  float64 // visual tokens per frame after pruning
	}{
		{nil, 4, 9},
		{[]string{"--fps", "2", "--prune", "holitom", "--keep", "0.5"}, 8, 4.5},
	} {
		args := append([]string{"video", "--model", dir, "--json", "--max-new-tokens", "3", "--threads", "1"}, tc.args...)
		code, stdout, stderr := runCLI(t, nil, append(args, clip)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, stderr)
		}
		var rec struct {
			Frames         []struct{} `json:"frames"`
			PromptIDs      []int      `json:"prompt_ids"`
			TokensPerFrame struct {
				Before, After float64
			} `json:"visual_tokens_per_frame"`
		}
		if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.Frames) != tc.frames || rec.TokensPerFrame.Before != 9 || rec.TokensPerFrame.After > tc.after {
			t.Errorf("%v: %d frames, tokens per frame %+v; want %d frames, 9 -> at most %v", tc.args, len(rec.Frames), rec.TokensPerFrame,
				tc.frames, tc.after)
		}
		spec, err := models.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		text, err := spec.Tokenizer.Decode(rec.PromptIDs, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := "<|im_start|>user " + strings.Repeat("<video>", 9*tc.frames+1) + "\nDescribe this video.<|im_end|><|im_start|>assistant\n"; text != want {
			t.Errorf("prompt %q, want %q", text, want)
		}
	}
}
