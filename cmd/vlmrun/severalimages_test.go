package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
)

// vlmrun video IMAGE IMAGE on LLaVA-1.5 and Qwen2-VL twins: one prompt
// holding both images' tokens (LLaVA: 17 + 17; Qwen2-VL: 4 for sq56's
// 1×4×4 grid + 8 for wide112x56's 1×4×8), where these families refused
// several images before.
func TestVideoSeveralImagesLLaVAQwen(t *testing.T) {
	testenv.ORT(t)
	for _, c := range []struct {
		family, twin string
		visual       int
	}{{"llava", "llava-twin", 34}, {"qwen2vl", "qwen2vl-twin", 12}} {
		t.Run(c.family, func(t *testing.T) {
			td := filepath.Join(testenv.Repo(t), "models", c.family, "testdata")
			dir := filepath.Join(td, c.twin)
			spec, err := models.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCLI(t, nil, "video", "--model", dir, "--json", "--max-new-tokens", "3", "--threads", "1",
				filepath.Join(td, "images", "sq56.png"), filepath.Join(td, "images", "wide112x56.png"))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var rec struct {
				PromptIDs []int `json:"prompt_ids"`
				Visual    struct {
					Before int `json:"before"`
				} `json:"visual_tokens"`
			}
			if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, id := range rec.PromptIDs {
				if id == spec.ImageTokenID {
					n++
				}
			}
			if n != c.visual || rec.Visual.Before != c.visual {
				t.Errorf("%d image tokens, %d visual; want %d", n, rec.Visual.Before, c.visual)
			}
		})
	}
}
