package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	pal "image/color/palette"
	"image/gif"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/video"
)

// testGIF is an n-frame 32×24 GIF, 0.5 s a frame, each frame another
// colour.
func testGIF(t testing.TB, n int) []byte {
	t.Helper()
	g := &gif.GIF{}
	for i := range n {
		img := image.NewPaletted(image.Rect(0, 0, 32, 24), pal.Plan9)
		for j := range img.Pix {
			img.Pix[j] = uint8(i*29 + j%7)
		}
		g.Image, g.Delay = append(g.Image, img), append(g.Delay, 50)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func videoURI(data []byte) string {
	return "data:video/gif;base64," + base64.StdEncoding.EncodeToString(data)
}

// videoBody is a request with one user message: the video, then text.
func videoBody(t testing.TB, url, text string, ext map[string]any) []byte {
	t.Helper()
	parts := []any{map[string]any{"type": "video_url", "video_url": map[string]any{"url": url}}}
	if text != "" {
		parts = append(parts, map[string]any{"type": "text", "text": text})
	}
	body := map[string]any{"max_tokens": 5, "messages": []any{map[string]any{"role": "user", "content": parts}}}
	if ext != nil {
		body["vlmrun"] = ext
	}
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A video_url is sampled as vlmrun video samples (pipeline.VideoOf over
// video.Extract) and answered by pipeline.CaptionVideo: the served answer,
// prompt length and visual tokens equal a direct run on the same frames,
// unpruned and with a per-request temporal method whose budget covers all
// frames.
func TestServeVideo(t *testing.T) {
	dir := filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata", "smolvlm-twin")
	url, _ := twinServer(t, dir)
	clip := testGIF(t, 8) // 4 s
	p, err := pipeline.Open(dir, pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tmp := filepath.Join(t.TempDir(), "clip.gif")
	if err := os.WriteFile(tmp, clip, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		ext       map[string]any
		opt       video.Options
		req       pipeline.Request
		frames    int
		keepFrame float64 // visual tokens per frame after pruning, 0: not checked
	}{
		{"default sampling", nil, video.Options{FPS: 1, MaxFrames: 16}, pipeline.Request{}, 4, 16},
		{"fps and max_frames", map[string]any{"fps": 2, "max_frames": 3}, video.Options{FPS: 2, MaxFrames: 3}, pipeline.Request{}, 3, 16},
		{"dycoke budget", map[string]any{"fps": 2, "max_frames": 6, "prune": "dycoke", "keep": 0.25},
			video.Options{FPS: 2, MaxFrames: 6}, pipeline.Request{}, 6, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, c := post(t, url, videoBody(t, videoURI(clip), "What changes?", tc.ext))
			if code != 200 || c.VLMRun == nil {
				t.Fatalf("status %d: %+v", code, c.Error)
			}
			fr, err := video.Extract(context.Background(), tmp, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			req := tc.req
			req.Prompt, req.MaxNewTokens = "What changes?", 5
			if m, ok := tc.ext["prune"].(string); ok {
				ps := pipeline.PruneSpec{Method: m, Keep: "0.25"}
				if err := ps.Apply(&req); err != nil {
					t.Fatal(err)
				}
			}
			want, err := p.CaptionVideo(context.Background(), pipeline.VideoOf("video", fr), req, nil)
			if err != nil {
				t.Fatal(err)
			}
			v := c.VLMRun.VisualTokens
			if c.VLMRun.Frames != tc.frames || len(fr) != tc.frames || !slices.Equal(c.VLMRun.FrameTimes, pipeline.VideoOf("", fr).Times) {
				t.Errorf("frames %d at %v; want %d at the times video.Extract gives", c.VLMRun.Frames, c.VLMRun.FrameTimes, tc.frames)
			}
			if c.Choices[0].Message.Content != want.Caption || c.Usage.PromptTokens != len(want.PromptIDs) ||
				c.Usage.CompletionTokens != len(want.GeneratedIDs) || !reflect.DeepEqual(v, want.Visual) {
				t.Errorf("served %q, %d prompt tokens, visual %+v; direct %q, %d, %+v",
					c.Choices[0].Message.Content, c.Usage.PromptTokens, v, want.Caption, len(want.PromptIDs), want.Visual)
			}
			if v.Before != 16*tc.frames || (tc.keepFrame > 0 && float64(v.AfterPre) > tc.keepFrame*float64(tc.frames)) {
				t.Errorf("visual tokens %+v for %d frames of 16 tokens, want at most %v a frame after pruning", v, tc.frames, tc.keepFrame)
			}
		})
	}
}

// Bad videos and video requests the server cannot take: one clear 4xx
// each, before any frame reaches the model.
func TestServeVideoRefusals(t *testing.T) {
	dir := filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata", "smolvlm-twin")
	url, _ := twinServer(t, dir)
	clip := testGIF(t, 4)
	vpart := map[string]any{"type": "video_url", "video_url": map[string]any{"url": videoURI(clip)}}
	ipart := map[string]any{"type": "image_url", "image_url": map[string]any{"url": dataURI(scenePNG(t, 1, 0, 64))}}
	user := func(parts ...any) []any { return []any{map[string]any{"role": "user", "content": parts}} }
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		code   string
		says   string
	}{
		{"not a video", videoBody(t, "data:video/mp4;base64,"+base64.StdEncoding.EncodeToString([]byte("GIF89a, or not")), "", nil),
			400, "invalid_video", "unreadable video"},
		{"truncated GIF", videoBody(t, videoURI(clip[:len(clip)/2]), "", nil), 400, "invalid_video", "unreadable video"},
		{"empty", videoBody(t, "data:video/mp4;base64,", "", nil), 400, "invalid_video", "empty video"},
		{"too many frames", videoBody(t, videoURI(clip), "", map[string]any{"max_frames": 33}), 400, "too_many_frames", "at most 32"},
		{"bad fps", videoBody(t, videoURI(clip), "", map[string]any{"fps": 0}), 400, "invalid_value", "vlmrun.fps"},
		{"two videos", mustJSON(t, map[string]any{"messages": user(vpart, vpart)}), 400, "too_many_videos", "one video_url"},
		{"video and image", mustJSON(t, map[string]any{"messages": user(vpart, ipart)}), 400, "unsupported_conversation", "no image_url"},
		{"video after a system message", mustJSON(t, map[string]any{"messages": append([]any{map[string]any{"role": "system", "content": "hi"}},
			user(vpart)...)}), 400, "unsupported_conversation", "one user message"},
		{"local file without a media folder", videoBody(t, "clip.mp4", "", nil), 403, "local_images_disabled", "video_url"},
		{"bad temporal method", videoBody(t, videoURI(clip), "", map[string]any{"prune": "dtd:nosuchparam=1"}), 400, "invalid_prune", "nosuchparam"},
	} {
		code, c := post(t, url, tc.body)
		if code != tc.status || c.Error == nil || c.Error.Code != tc.code || !strings.Contains(c.Error.Message, tc.says) {
			t.Errorf("%s: status %d, error %+v; want %d %s saying %q", tc.name, code, c.Error, tc.status, tc.code, tc.says)
		}
	}
}

// A model that takes one image per prompt refuses a video with one 400.
func TestServeVideoUnsupportedModel(t *testing.T) {
	_, url := testServer(t, Config{})
	code, c := post(t, url, videoBody(t, videoURI(testGIF(t, 4)), "caption :", nil))
	if code != 400 || c.Error == nil || c.Error.Code != "unsupported_video" || !strings.Contains(c.Error.Message, "several images") {
		t.Errorf("status %d, error %+v; want 400 unsupported_video", code, c.Error)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The official OpenAI Node client (scripts/setup-openai-client.sh) sends a
// video_url part, plain and streamed, and gets the direct run's answer; an
// unreadable video reaches it as an APIError (400 invalid_video). Skipped
// as TestOpenAINodeClientConversations is when the client is missing.
func TestOpenAINodeClientVideo(t *testing.T) {
	repo := testenv.Repo(t)
	dir := filepath.Join(repo, "scripts", "openai-client")
	_, errNode := exec.LookPath("node")
	_, errMod := os.Stat(filepath.Join(dir, "node_modules", "openai", "package.json"))
	if errNode != nil || errMod != nil {
		if os.Getenv("VLMRUN_REQUIRE_TJS") != "" {
			t.Fatalf("the OpenAI Node client is not installed (run scripts/setup-openai-client.sh): node: %v, module: %v", errNode, errMod)
		}
		t.Skipf("the OpenAI Node client is not installed (scripts/setup-openai-client.sh): node: %v, module: %v", errNode, errMod)
	}
	twin := filepath.Join(repo, "models", "smolvlm", "testdata", "smolvlm-twin")
	url, _ := twinServer(t, twin)
	clip := testGIF(t, 6)
	msgs := func(uri string) []any {
		return []any{map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "video_url", "video_url": map[string]any{"url": uri}},
			map[string]any{"type": "text", "text": "What happens?"}}}}
	}
	cases := []map[string]any{
		{"name": "video", "messages": msgs(videoURI(clip)), "max_tokens": 12},
		{"name": "bad-video", "messages": msgs("data:video/mp4;base64," + base64.StdEncoding.EncodeToString([]byte("not a video"))), "max_tokens": 12},
	}
	casesPath := filepath.Join(t.TempDir(), "cases.json")
	if err := os.WriteFile(casesPath, mustJSON(t, cases), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "conversations.js", url+"/v1", casesPath)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client: %v", err)
	}
	var got map[string]struct {
		Content            string `json:"content"`
		PromptTokens       int    `json:"prompt_tokens"`
		StreamContent      string `json:"stream_content"`
		StreamPromptTokens int    `json:"stream_prompt_tokens"`
		Status             int    `json:"status"`
		Code               string `json:"code"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	p, err := pipeline.Open(twin, pipeline.Options{ORT: ortx.Options{Threads: 1}})
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
	want, err := p.CaptionVideo(context.Background(), pipeline.VideoOf("video", fr),
		pipeline.Request{Prompt: "What happens?", MaxNewTokens: 12}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := got["video"]; g.Content != want.Caption || g.StreamContent != want.Caption ||
		g.PromptTokens != len(want.PromptIDs) || g.StreamPromptTokens != len(want.PromptIDs) {
		t.Errorf("node client got %+v; want %q with %d prompt tokens", g, want.Caption, len(want.PromptIDs))
	}
	if g := got["bad-video"]; g.Status != 400 || g.Code != "invalid_video" {
		t.Errorf("bad video through the node client: %+v", g)
	}
}
