package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/bench"
	"github.com/vlmrun/vlmrun/internal/testenv"
)

// vlmrun bench --video times a GIF as a frame sequence on a family that
// takes several images (the SmolVLM twin): frame extraction in every run
// and in the total, tokens per frame before and after, in-decoder temporal
// methods in the sweep; the sampling flags without --video are refused.
func TestBenchVideo(t *testing.T) {
	testenv.ORT(t)
	t.Setenv("PATH", t.TempDir()) // a GIF needs no ffmpeg
	clip := writeGIF(t, t.TempDir(), 6)
	twin := filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata", "smolvlm-twin-torch")
	code, stdout, stderr := runCLI(t, nil, "bench", "--model", twin, "--video", "--max-frames", "3", "--fps", "2",
		"--warmup", "0", "--runs", "2", "--max-new-tokens", "4", "--no-vision-flops", "--json",
		"--prune", "holitom-inner:k=2,dycoke-kv:l=2,dtd", clip)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) < 4 {
		t.Fatalf("%d rows", len(rep.Rows))
	}
	for _, r := range rep.Rows {
		name := r.Method + " " + r.Form
		if r.Frames != 3 || r.FrameExtract.N != 2 || r.FrameExtract.Min <= 0 || r.Total.Min < r.FrameExtract.Min {
			t.Errorf("%s: %d frames, extraction %+v, total %+v", name, r.Frames, r.FrameExtract, r.Total)
		}
		if r.PerFrameBefore*3 != float64(r.VisualBefore) || r.PerFrameAfter*3 != float64(r.VisualAfter) || r.VisualBefore == 0 {
			t.Errorf("%s: per frame %g→%g of %d→%d", name, r.PerFrameBefore, r.PerFrameAfter, r.VisualBefore, r.VisualAfter)
		}
		if r.Method == "holitom-inner:k=2" && r.VisualAfter >= r.VisualBefore {
			t.Errorf("%s: %d→%d visual rows", name, r.VisualBefore, r.VisualAfter)
		}
		t.Logf("%s: %d frames, %.1f→%.1f tokens per frame, extract %.1f ms, total %.1f ms", name, r.Frames,
			r.PerFrameBefore, r.PerFrameAfter, r.FrameExtract.Median, r.Total.Median)
	}
	code, _, stderr = runCLI(t, nil, "bench", "--fps", "2", clip)
	if code != 2 || !strings.Contains(stderr, "--fps samples videos and needs --video") {
		t.Errorf("--fps without --video: exit %d: %s", code, stderr)
	}
}

// On a SmolVLM2 folder (model_type smolvlm: the torch legacy twin) bench
// --video answers with SmolVLM2's video prompt, as vlmrun video does: the
// prefill sequence is that prompt's length (its intro and per-frame
// timestamps make it longer than the frames placed as images) and the
// caption is vlmrun video's.
func TestBenchVideoSmolVLM2Prompt(t *testing.T) {
	testenv.ORT(t)
	t.Setenv("PATH", t.TempDir()) // a GIF needs no ffmpeg
	clip := writeGIF(t, t.TempDir(), 6)
	twin := filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata", "smolvlm-twin-torch-legacy")
	flags := []string{"--model", twin, "--max-frames", "3", "--fps", "2", "--max-new-tokens", "5"}
	code, stdout, stderr := runCLI(t, nil, append([]string{"video", "--json", clip}, flags...)...)
	if code != 0 {
		t.Fatalf("video: exit %d: %s", code, stderr)
	}
	var rec struct {
		PromptIDs []int  `json:"prompt_ids"`
		Text      string `json:"caption"`
	}
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, nil, append([]string{"bench", "--video", "--warmup", "0", "--runs", "1",
		"--no-vision-flops", "--json", clip}, flags...)...)
	if code != 0 {
		t.Fatalf("bench: exit %d: %s", code, stderr)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rows {
		if r.Method != "" && r.Method != "none" {
			continue
		}
		if r.Frames != 3 || r.PrefillTokens != len(rec.PromptIDs) || r.Caption != rec.Text || r.PerFrameBefore != 16 {
			t.Errorf("bench row: %d frames, prefill %d tokens, caption %q, %.0f tokens a frame; vlmrun video: %d prompt tokens, %q",
				r.Frames, r.PrefillTokens, r.Caption, r.PerFrameBefore, len(rec.PromptIDs), rec.Text)
		}
	}
}
