package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
)

// vlmrun video on the Qwen2-VL twin: an 8-frame 4 s GIF sampled at 1 fps
// gives 4 frames of 32×24, which Qwen2VLVideoProcessor's smart_resize
// makes 84×56: 2 temporal patches of 2×3 tokens, placed as one
// <|vision_start|><|video_pad|>…<|vision_end|> block; --prune with --keep
// spends the budget over the whole video.
func TestVideoQwen2VL(t *testing.T) {
	testenv.ORT(t)
	dir := filepath.Join(testenv.Repo(t), "models", "qwen2vl", "testdata", "qwen2vl-twin")
	clip := writeGIF(t, t.TempDir(), 8)
	for _, tc := range []struct {
		args  []string
		after float64 // visual tokens per frame after pruning
	}{
		{nil, 3},
		{[]string{"--prune", "dycoke", "--keep", "0.5"}, 1.5},
	} {
		args := append([]string{"video", "--model", dir, "--json", "--max-new-tokens", "3", "--threads", "1"}, tc.args...)
		code, stdout, stderr := runCLI(t, nil, append(args, clip)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, stderr)
		}
		var rec struct {
			Frames         []json.RawMessage `json:"frames"`
			PromptIDs      []int             `json:"prompt_ids"`
			TokensPerFrame struct {
				Before, After float64
			} `json:"visual_tokens_per_frame"`
		}
		if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.Frames) != 4 || rec.TokensPerFrame.Before != 3 || rec.TokensPerFrame.After != tc.after {
			t.Errorf("%v: %d frames, tokens per frame %+v; want 4 frames, 3 -> %v", tc.args, len(rec.Frames), rec.TokensPerFrame, tc.after)
		}
		spec, err := models.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		text, err := spec.Tokenizer.Decode(rec.PromptIDs, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := "<|vision_start|>" + strings.Repeat("<|video_pad|>", 12) + "<|vision_end|>Describe this video.<|im_end|>"; !strings.Contains(text, want) {
			t.Errorf("prompt %q lacks %q", text, want)
		}
	}
}
