package chattemplate

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vlmrun/vlmrun/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from a live transformers.js run")

// fixedNow is the reference script's clock (scripts/transformersjs-ref/chattemplate.js).
func fixedNow() time.Time { return time.Date(2026, 1, 15, 9, 5, 0, 0, time.UTC) }

type conversation struct {
	Name     string          `json:"name"`
	Messages json.RawMessage `json:"messages"`
	Tools    json.RawMessage `json:"tools,omitempty"`
}

// tmplCase is one template with the tokenizer_config.json object the
// reference builds its tokenizer from.
type tmplCase struct {
	ID     string         `json:"id"`
	Config map[string]any `json:"config"`
	chat   *Chat
}

type refOut struct {
	Text  *string `json:"text,omitempty"`
	Error string  `json:"error,omitempty"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// templates: every model twin folder with a chat template, the feature
// templates and the collected real-world templates.
func templates(t *testing.T) []tmplCase {
	repo := testenv.Repo(t)
	var cases []tmplCase
	dirs, _ := filepath.Glob(filepath.Join(repo, "models", "*", "testdata", "*"))
	sort.Strings(dirs)
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		c, err := Load(dir)
		if errors.Is(err, ErrNoTemplate) {
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		rel, _ := filepath.Rel(repo, dir)
		cfg := map[string]any{}
		if data, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json")); err == nil {
			_ = json.Unmarshal(data, &cfg)
		}
		// The reference renders the template Load found (transformers.js
		// itself reads tokenizer_config.json only).
		if c.Named != nil {
			cfg["chat_template"] = c.Named
		} else {
			cfg["chat_template"] = c.Default
		}
		// The id names the template's digest: a folder whose template
		// changes has no golden entry until -update (it is still compared
		// live where transformers.js is installed).
		sum := sha256.Sum256([]byte(fmt.Sprint(cfg["chat_template"])))
		id := fmt.Sprintf("folder:%s@%x", filepath.ToSlash(rel), sum[:4])
		cases = append(cases, tmplCase{ID: id, Config: cfg, chat: c})
	}
	special := map[string]any{"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}
	add := func(id, text string) {
		cfg := map[string]any{"chat_template": text}
		for k, v := range special {
			cfg[k] = v
		}
		data, _ := json.Marshal(cfg)
		c, err := FromTokenizerConfig(data)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tmplCase{ID: id, Config: cfg, chat: c})
	}
	var feats []struct{ ID, Template string }
	readJSON(t, filepath.Join("testdata", "features.json"), &feats)
	for _, f := range feats {
		add("feature:"+f.ID, f.Template)
	}
	// A list of named templates (the default one is rendered) and special
	// tokens written as AddedToken objects.
	named := map[string]any{
		"chat_template": []any{
			map[string]any{"name": "tool_use", "template": "TOOLS {{ tools }}"},
			map[string]any{"name": "default", "template": "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content if m.content is string else m.content | length }}{{ eos_token }}{% endfor %}{{ '<assistant>' if add_generation_prompt }}"},
		},
		"bos_token": map[string]any{"__type": "AddedToken", "content": "<|begin|>", "lstrip": false},
		"eos_token": map[string]any{"__type": "AddedToken", "content": "<|end|>"},
		"unk_token": nil,
		"pad_token": "",
	}
	data, _ := json.Marshal(named)
	nc, err := FromTokenizerConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, tmplCase{ID: "named:default", Config: named, chat: nc})
	var corpus struct {
		Templates []struct {
			Models   []string
			Template string
		}
	}
	readJSON(t, filepath.Join("testdata", "ollama-utils-0.0.18.json"), &corpus)
	for i, c := range corpus.Templates {
		// The mapping has several templates for some tags: the index keeps ids unique.
		add(fmt.Sprintf("ollama:%02d:%s", i, c.Models[0]), c.Template)
	}
	return cases
}

// reference runs transformers.js, or returns nil when it is not installed
// (scripts/setup-transformersjs.sh); VLMRUN_REQUIRE_TJS=1 (CI) or -update
// make a missing installation a failure.
func reference(t *testing.T, cases []tmplCase, convs []conversation) map[string]refOut {
	t.Helper()
	repo := testenv.Repo(t)
	dir := filepath.Join(repo, "scripts", "transformersjs-ref")
	_, errNode := exec.LookPath("node")
	_, errMod := os.Stat(filepath.Join(dir, "node_modules", "@huggingface", "transformers", "package.json"))
	if errNode != nil || errMod != nil {
		if os.Getenv("VLMRUN_REQUIRE_TJS") != "" || *update {
			t.Fatalf("transformers.js reference not installed (run scripts/setup-transformersjs.sh): node: %v, module: %v", errNode, errMod)
		}
		t.Logf("transformers.js not installed (scripts/setup-transformersjs.sh): comparing with testdata/golden.json only")
		return nil
	}
	tmp := t.TempDir()
	spec, err := json.Marshal(map[string]any{
		"tokenizer_json": filepath.Join(repo, "models", "smolvlm", "testdata", "smolvlm-twin", "tokenizer.json"),
		"templates":      cases,
		"conversations":  convs,
	})
	if err != nil {
		t.Fatal(err)
	}
	in, out := filepath.Join(tmp, "cases.json"), filepath.Join(tmp, "out.json")
	if err := os.WriteFile(in, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "chattemplate.js", in, out)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=en_US.UTF-8", "LANG=en_US.UTF-8")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("transformers.js reference run failed: %v\n%s", err, b)
	}
	res := map[string]refOut{}
	readJSON(t, out, &res)
	return res
}

// messages converts a conversation to Message values where it has the
// shape Message can hold (role + string or text/image parts).
func messages(raw json.RawMessage) ([]Message, bool) {
	var ms []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &ms) != nil {
		return nil, false
	}
	var keys []map[string]any
	_ = json.Unmarshal(raw, &keys)
	for _, k := range keys {
		if len(k) != 2 { // other fields (tool_calls, name): not a Message
			return nil, false
		}
	}
	var out []Message
	for _, m := range ms {
		msg := Message{Role: m.Role}
		if json.Unmarshal(m.Content, &msg.Content) != nil {
			var parts []struct{ Type, Text string }
			if json.Unmarshal(m.Content, &parts) != nil {
				return nil, false
			}
			msg.Parts = []Part{}
			for _, p := range parts {
				msg.Parts = append(msg.Parts, Part{Type: p.Type, Text: p.Text})
			}
		}
		out = append(out, msg)
	}
	return out, true
}

// TestMatchesTransformersJS renders every template × conversation ×
// add_generation_prompt with this package and with transformers.js 4.3.1
// (or the committed golden) and compares them string for string; where
// the reference throws, the Go rendering must fail too.
func TestMatchesTransformersJS(t *testing.T) {
	var convs []conversation
	readJSON(t, filepath.Join("testdata", "conversations.json"), &convs)
	cases := templates(t)
	goldenPath := filepath.Join("testdata", "golden.json")
	ref := reference(t, cases, convs)
	if ref == nil {
		readJSON(t, goldenPath, &ref)
	}
	var matched, bothErr, missing int
	var errMsgDiff []string
	for _, c := range cases {
		for _, conv := range convs {
			for _, gen := range []bool{false, true} {
				key := fmt.Sprintf("%s|%s|%s", c.ID, conv.Name, map[bool]string{false: "nogen", true: "gen"}[gen])
				r, ok := ref[key]
				if !ok {
					missing++
					t.Logf("%s: no reference result (new template folder? run with -update)", key)
					continue
				}
				opt := Options{AddGenerationPrompt: gen, Now: fixedNow}
				if conv.Tools != nil {
					opt.Tools = conv.Tools
				}
				got, err := c.chat.ApplyJSON(conv.Messages, opt)
				if ms, ok := messages(conv.Messages); ok {
					got2, err2 := c.chat.Apply(ms, opt)
					if got2 != got || (err == nil) != (err2 == nil) {
						t.Errorf("%s: Apply(Message) = %q, %v; ApplyJSON = %q, %v", key, got2, err2, got, err)
					}
				}
				switch {
				case r.Text == nil && err == nil:
					t.Errorf("%s: transformers.js fails (%s), vlmrun renders %q", key, r.Error, got)
				case r.Text == nil:
					bothErr++
					if !strings.Contains(err.Error(), r.Error) {
						errMsgDiff = append(errMsgDiff, fmt.Sprintf("%s: tjs %q, vlmrun %q", key, r.Error, err))
					}
				case err != nil:
					t.Errorf("%s: vlmrun fails: %v\n tjs: %q", key, err, *r.Text)
				case got != *r.Text:
					t.Errorf("%s: rendering differs\n vlmrun %q\n tjs    %q", key, got, *r.Text)
				default:
					matched++
				}
			}
		}
	}
	t.Logf("%d templates × %d conversations × 2: %d renderings identical, %d fail in both, %d without reference",
		len(cases), len(convs), matched, bothErr, missing)
	for _, d := range errMsgDiff {
		t.Logf("error text differs: %s", d)
	}
	if *update && ref != nil {
		keys := make([]string, 0, len(ref))
		for k := range ref {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("{\n")
		for i, k := range keys {
			fmt.Fprintf(&b, "%s: %s", marshal(t, k), marshal(t, ref[k]))
			if i < len(keys)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString("}\n")
		if err := os.WriteFile(goldenPath, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// marshal is json.Marshal without HTML escaping (the golden stays readable).
func marshal(t *testing.T, v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
