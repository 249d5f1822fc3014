package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/internal/tjsref"
)

// vlmrun chat (text only) and vlmrun caption --system give the ids
// transformers.js 4.3.1 gives for the same conversations (the families'
// chat_golden.json, checked against a live transformers.js there).
func TestChatCommandMatchesTransformersJS(t *testing.T) {
	testenv.ORT(t)
	repo := testenv.Repo(t)
	smol := filepath.Join(repo, "models", "smolvlm", "testdata")
	llava := filepath.Join(repo, "models", "llava", "testdata")
	for _, tc := range []struct {
		name, golden, key string
		args              []string
	}{
		{"chat text only", filepath.Join(smol, "chat_golden.json"), "smolvlm-twin-text-only",
			[]string{"chat", "--model", filepath.Join(smol, "smolvlm-twin"), "--prompt", "Write one short sentence about shapes."}},
		{"chat system and image", filepath.Join(smol, "chat_golden.json"), "smolvlm-twin-system-image",
			[]string{"chat", "--model", filepath.Join(smol, "smolvlm-twin"), "--system", "You are a concise assistant.",
				"--prompt", "Describe the image in one sentence.", filepath.Join(smol, "images", "land64x48.png")}},
		{"caption --system", filepath.Join(llava, "chat_golden.json"), "llava-twin-system-image",
			[]string{"caption", "--model", filepath.Join(llava, "llava-twin"), "--system", "You are a concise assistant.",
				"--prompt", "Describe the image in one sentence.", filepath.Join(llava, "images", "sq56.png")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := tjsref.LoadGolden[tjsref.ChatResult](t, tc.golden)[tc.key]
			code, out, stderr := runCLI(t, nil, append(tc.args, "--json", "--threads", "1", "--max-new-tokens", "12")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var rec struct {
				PromptIDs    []int `json:"prompt_ids"`
				GeneratedIDs []int `json:"generated_ids"`
			}
			if err := json.Unmarshal([]byte(out), &rec); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if !slices.Equal(rec.PromptIDs, ref.InputIDs) || !slices.Equal(rec.GeneratedIDs, ref.GeneratedIDs) {
				t.Errorf("vlmrun %v → %v\ntjs    %v → %v", rec.PromptIDs, rec.GeneratedIDs, ref.InputIDs, ref.GeneratedIDs)
			}
		})
	}
}

// A conversation the model cannot take is a usage error with one line.
func TestChatCommandRefusals(t *testing.T) {
	testenv.ORT(t)
	repo := testenv.Repo(t)
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"nothing to answer", []string{"chat"}, "give --prompt"},
		{"florence2 text only", []string{"chat", "--model", filepath.Join(repo, "models", "florence2", "testdata", "florence2-twin"),
			"--prompt", "<CAPTION>"}, "cannot answer text alone"},
		{"embedded model --system", []string{"caption", "--system", "be brief", filepath.Join(repo, "examples", "scene-0.png")},
			"no chat format"},
		{"--system with --jsonl", []string{"caption", "--system", "x", "--jsonl", filepath.Join(t.TempDir(), "o.jsonl"), "a.png"}, "--system"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, tc.args...)
			if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, tc.says) {
				t.Errorf("exit %d, stderr %q; want 2 and one line saying %q", code, stderr, tc.says)
			}
		})
	}
}
