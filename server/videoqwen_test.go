package server

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/video"
)

// A video_url on the Qwen2-VL twin (a family whose video is one vision
// input, models.Spec.PreprocessVideo): sampled as the folder's video
// processor samples (video.SampleQwen2VL at 2 fps: all 8 frames of the
// 4 s GIF), 32×24 frames become 84×56 (Python's smart_resize), 4 temporal
// patches of 2×3 tokens; the served
// answer, prompt length and visual tokens equal a direct
// pipeline.CaptionVideo on the same frames, unpruned and with a temporal
// method's budget over both temporal patches.
func TestServeVideoQwen2VL(t *testing.T) {
	dir := filepath.Join(testenv.Repo(t), "models", "qwen2vl", "testdata", "qwen2vl-twin")
	url, _ := twinServer(t, dir)
	clip := testGIF(t, 8) // 4 s: 4 frames at 1 fps
	p, err := pipeline.Open(dir, pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tmp := filepath.Join(t.TempDir(), "clip.gif")
	if err := os.WriteFile(tmp, clip, 0o644); err != nil {
		t.Fatal(err)
	}
	fr, err := video.Extract(context.Background(), tmp, video.Options{FPS: 2, MaxFrames: 16, Sampler: video.SampleQwen2VL})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		ext   map[string]any
		prune string
		after int
	}{
		{"unpruned", nil, "", 24},
		{"dycoke budget", map[string]any{"prune": "dycoke", "keep": 0.5}, "dycoke", 12},
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
			if v.Before != 24 || v.AfterPre > tc.after || c.VLMRun.Frames != 8 || len(fr) != 8 {
				t.Errorf("visual tokens %+v of %d frames, want 8 frames, 24 tokens before and at most %d after", v, c.VLMRun.Frames, tc.after)
			}
		})
	}
}

// An image_url and a video_url in one user message (and after a system
// message) on the Qwen2-VL twin, a family whose chat format takes videos
// (models.Spec.ChatVideo): the served answer, prompt length and visual
// tokens equal a direct pipeline.ChatVideo of the same conversation on
// the same frames, image first and video first.
func TestServeImageAndVideoQwen2VL(t *testing.T) {
	dir := filepath.Join(testenv.Repo(t), "models", "qwen2vl", "testdata", "qwen2vl-twin")
	url, _ := twinServer(t, dir)
	clip := testGIF(t, 8)
	img := scenePNG(t, 3, 0, 56)
	p, err := pipeline.Open(dir, pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tmp := filepath.Join(t.TempDir(), "clip.gif")
	if err := os.WriteFile(tmp, clip, 0o644); err != nil {
		t.Fatal(err)
	}
	fr, err := video.Extract(context.Background(), tmp, video.Options{FPS: 2, MaxFrames: 16, Sampler: video.SampleQwen2VL})
	if err != nil {
		t.Fatal(err)
	}
	vpart := map[string]any{"type": "video_url", "video_url": map[string]any{"url": videoURI(clip)}}
	ipart := map[string]any{"type": "image_url", "image_url": map[string]any{"url": dataURI(img)}}
	tpart := map[string]any{"type": "text", "text": "What differs?"}
	for _, tc := range []struct {
		name   string
		system bool
		parts  []any
		conv   []models.Part
	}{
		{"image first", false, []any{ipart, vpart, tpart}, []models.Part{models.ImagePart(), models.VideoPart(), models.TextPart("What differs?")}},
		{"video first after a system message", true, []any{vpart, ipart, tpart},
			[]models.Part{models.VideoPart(), models.ImagePart(), models.TextPart("What differs?")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs := []any{map[string]any{"role": "user", "content": tc.parts}}
			conv := models.Conversation{{Role: models.RoleUser, Parts: tc.conv}}
			if tc.system {
				msgs = append([]any{map[string]any{"role": "system", "content": "Be brief."}}, msgs...)
				conv = append(models.Conversation{{Role: models.RoleSystem, Parts: []models.Part{models.TextPart("Be brief.")}}}, conv...)
			}
			body, err := json.Marshal(map[string]any{"max_tokens": 5, "messages": msgs})
			if err != nil {
				t.Fatal(err)
			}
			code, c := post(t, url, body)
			if code != 200 || c.VLMRun == nil {
				t.Fatalf("status %d: %+v", code, c.Error)
			}
			want, err := p.ChatVideo(context.Background(), conv, []pipeline.Frame{{Name: "image", R: bytes.NewReader(img)}},
				[]pipeline.Video{pipeline.VideoOf("video", fr)}, pipeline.Request{MaxNewTokens: 5}, nil)
			if err != nil {
				t.Fatal(err)
			}
			v := c.VLMRun.VisualTokens
			if c.Choices[0].Message.Content != want.Caption || c.Usage.PromptTokens != len(want.PromptIDs) || !reflect.DeepEqual(v, want.Visual) {
				t.Errorf("served %q, %d prompt tokens, visual %+v; direct %q, %d, %+v",
					c.Choices[0].Message.Content, c.Usage.PromptTokens, v, want.Caption, len(want.PromptIDs), want.Visual)
			}
			// the image's 2×2 tokens and the video's 4 temporal patches of 2×3
			if v.Before != 4+24 {
				t.Errorf("%d visual tokens, want 4 + 24", v.Before)
			}
		})
	}
}
