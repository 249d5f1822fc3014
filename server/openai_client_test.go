package server

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/internal/tjsref"
)

// The official OpenAI Node client (openai 4.104.0,
// scripts/setup-openai-client.sh) sends the chat differential tests'
// conversations to vlmrun serve on the SmolVLM twin, plain and streamed,
// and gets transformers.js's answers; a refused conversation reaches it as
// an APIError with the status, code and param. Skipped, saying why, when
// node or the client is not installed, unless $VLMRUN_REQUIRE_TJS is set
// (CI), which makes that a failure.
func TestOpenAINodeClientConversations(t *testing.T) {
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
	td := filepath.Join(repo, "models", "smolvlm", "testdata")
	golden := tjsref.LoadGolden[tjsref.ChatResult](t, filepath.Join(td, "chat_golden.json"))
	imgs := []string{filepath.Join(td, "images", "land64x48.png"), filepath.Join(td, "images", "sq64.png")}
	url, spec := twinServer(t, filepath.Join(td, "smolvlm-twin"))
	type nodeCase struct {
		Name      string `json:"name"`
		Messages  []any  `json:"messages"`
		MaxTokens int    `json:"max_tokens"`
	}
	var cases []nodeCase
	for _, nc := range tjsref.Conversations(true) {
		cases = append(cases, nodeCase{nc.Name, openAIMessages(t, nc.Conv, imgs), 12})
	}
	cases = append(cases, nodeCase{"bad-image-in-assistant-turn", []any{
		map[string]any{"role": "user", "content": "hi"},
		map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "image_url", "image_url": map[string]any{"url": dataURI(readFile(t, imgs[0]))}}}},
		map[string]any{"role": "user", "content": "and?"}}, 12})
	data, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	casesPath := filepath.Join(t.TempDir(), "cases.json")
	if err := os.WriteFile(casesPath, data, 0o644); err != nil {
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
		CompletionTokens   int    `json:"completion_tokens"`
		StreamContent      string `json:"stream_content"`
		StreamPromptTokens int    `json:"stream_prompt_tokens"`
		Status             int    `json:"status"`
		Code               string `json:"code"`
		Param              string `json:"param"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, c := range cases[:len(cases)-1] {
		ref := golden["smolvlm-twin-"+c.Name]
		want, err := spec.Tokenizer.Decode(ref.GeneratedIDs, true)
		if err != nil {
			t.Fatal(err)
		}
		g := got[c.Name]
		if g.Content != want || g.StreamContent != want || g.PromptTokens != len(ref.InputIDs) ||
			g.StreamPromptTokens != len(ref.InputIDs) || g.CompletionTokens != len(ref.GeneratedIDs) {
			t.Errorf("%s: node client got %+v; want %q, %d prompt and %d completion tokens", c.Name, g, want,
				len(ref.InputIDs), len(ref.GeneratedIDs))
		}
	}
	if g := got["bad-image-in-assistant-turn"]; g.Status != 400 || g.Code != "invalid_content" || g.Param != "messages" {
		t.Errorf("refusal through the node client: %+v", g)
	}
}
