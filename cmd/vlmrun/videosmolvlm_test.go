package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
)

// vlmrun video on a SmolVLM2 folder with video_sampling (the legacy twin,
// model_type smolvlm, its files linked into a folder whose
// preprocessor_config.json adds {"fps": 1, "max_frames": 64}): the folder's
// sampling replaces the flag defaults, frames are SmolVLM2's indices (an
// 8-frame 4 s GIF: 0, 2, 4, 7 at index/rate = 0, 1, 2, 3.5 s), and the
// prompt is SmolVLM2's video prompt.
func TestVideoSmolVLM2(t *testing.T) {
	testenv.ORT(t)
	twin := filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata", "smolvlm-twin-legacy")
	dir := t.TempDir()
	ents, err := os.ReadDir(twin)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != "preprocessor_config.json" {
			if err := os.Symlink(filepath.Join(twin, e.Name()), filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	var pc map[string]any
	if err := json.Unmarshal(readTest(t, filepath.Join(twin, "preprocessor_config.json")), &pc); err != nil {
		t.Fatal(err)
	}
	pc["video_sampling"] = map[string]any{"fps": 1, "max_frames": 64, "video_size": map[string]any{"longest_edge": 32}}
	data, _ := json.Marshal(pc)
	if err := os.WriteFile(filepath.Join(dir, "preprocessor_config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	clip := writeGIF(t, t.TempDir(), 8)
	code, stdout, stderr := runCLI(t, nil, "video", "--model", dir, "--json", "--max-new-tokens", "3", "--threads", "1", clip)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rec struct {
		Frames []struct {
			TimeS float64 `json:"time_s"`
		} `json:"frames"`
		PromptIDs []int `json:"prompt_ids"`
	}
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
		t.Fatal(err)
	}
	var times []float64
	for _, f := range rec.Frames {
		times = append(times, f.TimeS)
	}
	if len(times) != 4 || times[1] != 1 || times[2] != 2 || times[3] != 3.5 {
		t.Errorf("frame times %v, want 0 1 2 3.5", times)
	}
	spec, err := models.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	text, err := spec.Tokenizer.Decode(rec.PromptIDs, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User: You are provided the following series of four frames from a 0:00:04 [H:MM:SS] video.\n",
		"\nFrame from 00:03:<fake_token_around_image><global-img><image>", "\n\nCan you describe this video?<end_of_utterance>"} {
		if !strings.Contains(text, want) {
			t.Errorf("prompt %q\nlacks %q", text, want)
		}
	}
}

func readTest(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
