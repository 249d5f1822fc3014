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

// vlmrun video --image on the Qwen2-VL twin: the image (56×56: 4 tokens)
// and the video (24 tokens) in one prompt, the image's tokens before the
// video's, or after them with --video-first; a family whose chat format
// takes no video refuses --image.
func TestVideoWithImageQwen2VL(t *testing.T) {
	testenv.ORT(t)
	dir := filepath.Join(testenv.Repo(t), "models", "qwen2vl", "testdata", "qwen2vl-twin")
	clip := writeGIF(t, t.TempDir(), 8)
	img := filepath.Join(testenv.Repo(t), "models", "qwen2vl", "testdata", "images", "sq56.png")
	spec, err := models.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	imageID := spec.ImageTokenID
	videoID, ok := spec.Tokenizer.TokenID("<|video_pad|>")
	if !ok {
		t.Fatal("no <|video_pad|> in the twin's tokenizer")
	}
	for _, first := range []bool{false, true} {
		args := []string{"video", "--model", dir, "--json", "--max-new-tokens", "3", "--threads", "1", "--image", img}
		if first {
			args = append(args, "--video-first")
		}
		code, stdout, stderr := runCLI(t, nil, append(args, clip)...)
		if code != 0 {
			t.Fatalf("video first %v: exit %d: %s", first, code, stderr)
		}
		var rec struct {
			PromptIDs      []int           `json:"prompt_ids"`
			TokensPerFrame json.RawMessage `json:"visual_tokens_per_frame"`
		}
		if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.TokensPerFrame != nil { // the image's tokens are not the frames'
			t.Errorf("video first %v: visual_tokens_per_frame %s reported with --image", first, rec.TokensPerFrame)
		}
		var kinds []int // the visual tokens' ids in prompt order, runs collapsed
		n := map[int]int{}
		for _, id := range rec.PromptIDs {
			if id == imageID || id == videoID {
				n[id]++
				if len(kinds) == 0 || kinds[len(kinds)-1] != id {
					kinds = append(kinds, id)
				}
			}
		}
		want := []int{imageID, videoID}
		if first {
			want = []int{videoID, imageID}
		}
		if n[imageID] != 4 || n[videoID] != 24 || len(kinds) != 2 || kinds[0] != want[0] || kinds[1] != want[1] {
			t.Errorf("video first %v: %d image and %d video tokens in runs %v; want 4 and 24 in order %v", first, n[imageID], n[videoID], kinds, want)
		}
	}
	smol := filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata", "smolvlm-twin")
	code, _, stderr := runCLI(t, nil, "video", "--model", smol, "--max-new-tokens", "2", "--image", img, clip)
	if code == 0 || !strings.Contains(stderr, "does not take a video inside a conversation") {
		t.Errorf("SmolVLM with --image: exit %d: %s", code, stderr)
	}
}
