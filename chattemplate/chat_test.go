package chattemplate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadSources(t *testing.T) {
	msgs := []Message{{Role: "user", Content: "hi"}}
	tpl := "{{ bos_token }}{% for m in messages %}{{ m.role }}={{ m.content }}{% endfor %}{% if add_generation_prompt %}>{% endif %}"

	// tokenizer_config.json wins; the special tokens come from it.
	dir := t.TempDir()
	write(t, dir, "tokenizer_config.json", `{"bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>", "chat_template": "A`+tpl+`"}`)
	write(t, dir, "chat_template.jinja", "J"+tpl)
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Apply(msgs, Options{AddGenerationPrompt: true}); err != nil || got != "A<s>user=hi>" {
		t.Errorf("tokenizer_config.json: %q, %v", got, err)
	}

	// chat_template.jinja, then chat_template.json, when the config has none.
	dir = t.TempDir()
	write(t, dir, "tokenizer_config.json", `{"bos_token": "<b>"}`)
	write(t, dir, "chat_template.json", `{"chat_template": "S`+strings.ReplaceAll(tpl, `"`, `\"`)+`"}`)
	c, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Apply(msgs, Options{}); got != "S<b>user=hi" {
		t.Errorf("chat_template.json: %q", got)
	}
	write(t, dir, "chat_template.jinja", "J"+tpl+"\n")
	c, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Apply(msgs, Options{}); got != "J<b>user=hi" || filepath.Base(c.Source) != "chat_template.jinja" {
		t.Errorf("chat_template.jinja: %q from %s", got, c.Source)
	}

	// No template anywhere.
	dir = t.TempDir()
	write(t, dir, "tokenizer_config.json", `{"bos_token": "<b>"}`)
	if _, err := Load(dir); !errors.Is(err, ErrNoTemplate) {
		t.Errorf("no template: %v", err)
	}
}

func TestNamedTemplates(t *testing.T) {
	c, err := FromTokenizerConfig([]byte(`{"chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T{{ tools | length }}"}, {"name": "rag", "template": "R"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{}, "D"},
		{Options{Tools: []any{"x", "y"}}, "T2"},
		{Options{Template: "rag"}, "R"},
		{Options{Template: "inline {{ 1 + 1 }}"}, "inline 2"},
	} {
		if got, err := c.Apply(nil, tc.o); err != nil || got != tc.want {
			t.Errorf("%+v: %q, %v; want %q", tc.o, got, err, tc.want)
		}
	}
	if _, err := FromTokenizerConfig([]byte(`{"chat_template": [{"name": "x"}]}`)); err == nil {
		t.Error("a list entry without template was accepted")
	}
}

func TestRenderErrorsAndClock(t *testing.T) {
	tp, err := Parse("{{ raise_exception('bad ' ~ messages | length) }}")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tp.Render(Vars{{"messages", []any{}}}, nil)
	var re *RaiseError
	if !errors.As(err, &re) || re.Message != "bad 0" {
		t.Errorf("raise_exception: %v", err)
	}
	if _, err := Parse("{% if x %}never closed"); err == nil {
		t.Error("unclosed if parsed")
	}
	tp, _ = Parse("{{ strftime_now('%d %b %Y %H:%M') }}")
	got, err := tp.Render(nil, func() time.Time { return time.Date(2025, 3, 4, 5, 6, 0, 0, time.UTC) })
	if err != nil || got != "04 Mar 2025 05:06" {
		t.Errorf("strftime_now: %q, %v", got, err)
	}
	if _, err := tp.Render(Vars{{"true", 1}}, nil); err == nil {
		t.Error("redeclaring a global was accepted")
	}
}

func TestDecodeJSONKeyOrder(t *testing.T) {
	v, err := DecodeJSON([]byte(`{"b": 1, "10": 2, "a": {"y": [1.5, null, true]}, "2": 3, "b": 4}`))
	if err != nil {
		t.Fatal(err)
	}
	tp, _ := Parse("{{ x | tojson }}")
	got, err := tp.Render(Vars{{"x", v}}, nil)
	if want := `{"2": 3, "10": 2, "b": 4, "a": {"y": [1.5, null, true]}}`; err != nil || got != want {
		t.Errorf("got %s, %v; want %s", got, err, want)
	}
}
