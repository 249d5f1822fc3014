package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/internal/tjsref"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"

	_ "github.com/vlmrun/vlmrun/models/florence2"
	_ "github.com/vlmrun/vlmrun/models/llava"
	_ "github.com/vlmrun/vlmrun/models/qwen2vl"
	_ "github.com/vlmrun/vlmrun/models/smolvlm"
)

// twinServer serves a twin folder (one replica) on 127.0.0.1 and returns
// its base URL and model spec.
func twinServer(t *testing.T, dir string) (string, *models.Spec) {
	t.Helper()
	testenv.ORT(t)
	p, err := pipeline.OpenPool(dir, pipeline.Options{ORT: ortx.Options{Threads: 1}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(p, Config{ModelName: "twin"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
		p.Close()
	})
	return "http://" + l.Addr().String(), p.Spec()
}

// openAIMessages writes a conversation as an OpenAI client sends it:
// system and assistant contents as strings, user contents as text and
// image_url parts (the images as data: URIs, taken in order).
func openAIMessages(t *testing.T, c models.Conversation, images []string) []any {
	t.Helper()
	var out []any
	k := 0
	for _, m := range c {
		if m.Role != models.RoleUser {
			var texts []string
			for _, p := range m.Parts {
				texts = append(texts, p.Text)
			}
			out = append(out, map[string]any{"role": m.Role, "content": strings.Join(texts, "")})
			continue
		}
		var parts []any
		for _, p := range m.Parts {
			if p.Image {
				parts = append(parts, map[string]any{"type": "image_url", "image_url": map[string]any{"url": dataURI(readFile(t, images[k]))}})
				k++
			} else {
				parts = append(parts, map[string]any{"type": "text", "text": p.Text})
			}
		}
		out = append(out, map[string]any{"role": m.Role, "content": parts})
	}
	return out
}

// The conversations of the families' chat differential tests, posted to
// vlmrun serve on each family's twin (plain and streamed): the answer is
// the text of transformers.js 4.3.1's generated ids (the families'
// chat_golden.json, checked against a live transformers.js there), and
// usage.prompt_tokens the length of its input ids.
func TestServeConversations(t *testing.T) {
	repo := testenv.Repo(t)
	for _, tc := range []struct {
		family, twin string
		images       []string
		two          bool
		python       bool // text-only cases are named -python-rope (Qwen2-VL)
	}{
		{"smolvlm", "smolvlm-twin", []string{"land64x48.png", "sq64.png"}, true, false},
		{"llava", "llava-twin", []string{"sq56.png"}, false, false},
		{"qwen2vl", "qwen2vl-twin", []string{"sq56.png"}, false, true},
	} {
		t.Run(tc.twin, func(t *testing.T) {
			dir := filepath.Join(repo, "models", tc.family, "testdata")
			golden := tjsref.LoadGolden[tjsref.ChatResult](t, filepath.Join(dir, "chat_golden.json"))
			var imgs []string
			for _, im := range tc.images {
				imgs = append(imgs, filepath.Join(dir, "images", im))
			}
			url, spec := twinServer(t, filepath.Join(dir, tc.twin))
			for _, nc := range tjsref.Conversations(tc.two) {
				name := tc.twin + "-" + nc.Name
				if tc.python && nc.Conv.Images() == 0 {
					name += "-python-rope"
				}
				ref, ok := golden[name]
				if !ok {
					t.Fatalf("no golden %s", name)
				}
				want, err := spec.Tokenizer.Decode(ref.GeneratedIDs, true)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := json.Marshal(map[string]any{"model": "twin", "max_tokens": 12,
					"messages": openAIMessages(t, nc.Conv, imgs)})
				code, c := post(t, url, body)
				if code != 200 || len(c.Choices) != 1 {
					t.Fatalf("%s: status %d: %+v", nc.Name, code, c.Error)
				}
				if got := c.Choices[0].Message.Content; got != want || c.Usage.PromptTokens != len(ref.InputIDs) ||
					c.Usage.CompletionTokens != len(ref.GeneratedIDs) {
					t.Errorf("%s: answer %q (%d prompt, %d completion tokens), transformers.js %q (%d, %d)", nc.Name, got,
						c.Usage.PromptTokens, c.Usage.CompletionTokens, want, len(ref.InputIDs), len(ref.GeneratedIDs))
				}
				body, _ = json.Marshal(map[string]any{"model": "twin", "max_tokens": 12, "stream": true,
					"stream_options": map[string]any{"include_usage": true}, "messages": openAIMessages(t, nc.Conv, imgs)})
				resp, err := http.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				s := readStream(t, resp.Body)
				resp.Body.Close()
				if !s.done || s.content != want || s.usage["prompt_tokens"] != float64(len(ref.InputIDs)) {
					t.Errorf("%s streamed: %q, usage %v; want %q, %d prompt tokens", nc.Name, s.content, s.usage, want, len(ref.InputIDs))
				}
			}
		})
	}
}

// Serve on the SmolVLM twin: a pruning budget applies across the images of
// all turns; pruning on a text-only request is a no-op.
func TestServeConversationBudget(t *testing.T) {
	dir := filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata")
	url, _ := twinServer(t, filepath.Join(dir, "smolvlm-twin"))
	imgs := []string{filepath.Join(dir, "images", "land64x48.png"), filepath.Join(dir, "images", "sq64.png")}
	ext := map[string]any{"prune": "divprune", "keep": 0.25}
	var conv models.Conversation
	for _, nc := range tjsref.Conversations(true) {
		if nc.Name == "two-images" {
			conv = nc.Conv
		}
	}
	body, _ := json.Marshal(map[string]any{"max_tokens": 4, "messages": openAIMessages(t, conv, imgs), "vlmrun": ext})
	code, c := post(t, url, body)
	if code != 200 || c.VLMRun == nil {
		t.Fatalf("status %d: %+v", code, c.Error)
	}
	v := c.VLMRun.VisualTokens
	// land64x48 splits 2×2 + global, sq64 2×2 + global: 10 tiles of 16 tokens
	if v.Before != 160 || v.AfterPre != 40 {
		t.Errorf("visual tokens %+v, want 160 before and 40 after the budget across both images", v)
	}
	body, _ = json.Marshal(map[string]any{"max_tokens": 4, "vlmrun": ext,
		"messages": []any{map[string]any{"role": "user", "content": "Name a shape."}}})
	if code, c = post(t, url, body); code != 200 || c.VLMRun.VisualTokens.Before != 0 || c.Usage.CompletionTokens == 0 {
		t.Errorf("text only with pruning: status %d, %+v", code, c)
	}
}

// Florence-2 cannot answer without an image, and has no chat format: one
// clear 400 for each.
func TestServeFlorenceRefusals(t *testing.T) {
	dir := filepath.Join(testenv.Repo(t), "models", "florence2", "testdata", "florence2-twin")
	url, _ := twinServer(t, dir)
	for _, tc := range []struct {
		name     string
		messages []any
		code     string
		says     string
	}{
		{"text only", []any{map[string]any{"role": "user", "content": "<CAPTION>"}}, "missing_image", "florence2"},
		{"system", []any{map[string]any{"role": "system", "content": "be brief"}, map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "image_url", "image_url": map[string]any{"url": dataURI(scenePNG(t, 1, 0, 64))}}}}},
			"unsupported_conversation", "no chat format"},
	} {
		body, _ := json.Marshal(map[string]any{"messages": tc.messages})
		code, c := post(t, url, body)
		if code != 400 || c.Error == nil || c.Error.Code != tc.code || !strings.Contains(c.Error.Message, tc.says) {
			t.Errorf("%s: status %d, error %+v; want 400 %s saying %q", tc.name, code, c.Error, tc.code, tc.says)
		}
	}
}
