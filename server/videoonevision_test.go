package server

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	_ "github.com/vlmrun/vlmrun/models/llavaonevision"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/video"
)

// A video_url on the LLaVA-OneVision twin (Python's video path: every
// frame through the vision graph, each 5×5 grid pooled to 3×3,
// image_newline after all frames): the folder has no video sampling of
// its own, so the server's defaults (1 fps, at most 16 frames) take 4
// frames of the 4 s GIF; the served answer, prompt length and visual
// tokens (4·9 = 36 before pruning; the prompt holds 37 <video> tokens)
// equal a direct pipeline.CaptionVideo on the same frames, unpruned and
// with a temporal method's budget over all frames.
func TestServeVideoOneVision(t *testing.T) {
	dir := filepath.Join(testenv.Repo(t), "models", "llavaonevision", "testdata", "llava-onevision-twin")
	url, _ := twinServer(t, dir)
	clip := testGIF(t, 8)
	p, err := pipeline.Open(dir, pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tmp := filepath.Join(t.TempDir(), "clip.gif")
	if err := os.WriteFile(tmp, clip, 0o644); err != nil {
		t.Fatal(err)
	}
	fr, err := video.Extract(context.Background(), tmp, video.Options{FPS: 1, MaxFrames: 16})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		ext   map[string]any
		prune string
		after int
	}{
		{"unpruned", nil, "", 36},
		{"dycoke budget", map[string]any{"prune": "dycoke", "keep": 0.5}, "dycoke", 18},
		{"holitom budget", map[string]any{"prune": "holitom", "keep": 0.5}, "holitom", 18},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, c := post(t, url, videoBody(t, videoURI(clip), "What changes?", tc.ext))
			if code != 200 || c.VLMRun == nil {
				t.Fatalf("status %d: %+v", code, c.Error)
			}
			req := pipeline.Request{Prompt: "What changes?", MaxNewTokens: 5}
			if tc.prune != "" {
				if err := (pipeline.PruneSpec{Method: tc.prune, Keep: "0.5"}).Apply(&req); err != nil {
					t.Fatal(err)
				}
			}
			want, err := p.CaptionVideo(context.Background(), pipeline.VideoOf("video", fr), req, nil)
			if err != nil {
				t.Fatal(err)
			}
			v := c.VLMRun.VisualTokens
			if c.Choices[0].Message.Content != want.Caption || c.Usage.PromptTokens != len(want.PromptIDs) ||
				!reflect.DeepEqual(v, want.Visual) {
				t.Errorf("served %q, %d prompt tokens, visual %+v; direct %q, %d, %+v",
					c.Choices[0].Message.Content, c.Usage.PromptTokens, v, want.Caption, len(want.PromptIDs), want.Visual)
			}
			if v.Before != 36 || v.AfterPre > tc.after || c.VLMRun.Frames != 4 || len(fr) != 4 {
				t.Errorf("visual tokens %+v of %d frames, want 4 frames, 36 tokens before and at most %d after", v, c.VLMRun.Frames, tc.after)
			}
		})
	}
}
