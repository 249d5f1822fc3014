package chattemplate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Part is one element of a message's content list: {type: "text", text}
// or {type: "image"} (as transformers.js processors pass images).
type Part struct {
	Type string
	Text string
}

// Message is one chat turn. Content is a string unless Parts is non-nil,
// in which case the template sees the list of parts.
type Message struct {
	Role    string
	Content string
	Parts   []Part
}

// TextPart and ImagePart build the two part kinds.
func TextPart(s string) Part { return Part{Type: "text", Text: s} }
func ImagePart() Part        { return Part{Type: "image"} }

func (m Message) object() Object {
	o := Object{{"role", m.Role}}
	if m.Parts == nil {
		return append(o, Field{"content", m.Content})
	}
	parts := make([]any, len(m.Parts))
	for i, p := range m.Parts {
		po := Object{{"type", p.Type}}
		if p.Type == "text" || p.Text != "" {
			po = append(po, Field{"text", p.Text})
		}
		parts[i] = po
	}
	return append(o, Field{"content", parts})
}

// ErrNoTemplate is returned by Load when the folder has no chat template.
var ErrNoTemplate = errors.New("chat template: the model folder has none (tokenizer_config.json chat_template, chat_template.jinja, chat_template.json)")

// Chat is a model folder's chat template(s) and the special tokens the
// template sees.
type Chat struct {
	// Default is the single template, or "" when the folder has named
	// templates only (Named).
	Default string
	// Named are the named templates of a list-valued chat_template.
	Named map[string]string
	// Source is the file the template came from.
	Source string
	// Special are the special tokens passed as variables (bos_token,
	// eos_token, unk_token, sep_token, pad_token, cls_token, mask_token
	// where tokenizer_config.json sets them to a non-empty string).
	Special Object

	mu    sync.Mutex
	cache map[string]*Template
}

var specialTokenAttributes = []string{"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}

// Load reads a model folder's chat template. transformers.js 4.3.1 reads
// the template from tokenizer_config.json (chat_template: a string, or a
// list of {name, template}); Load does the same and, when that has none,
// falls back to chat_template.jinja and then chat_template.json
// ({"chat_template": ...}), where newer exports keep it. The special
// tokens always come from tokenizer_config.json. A folder without any
// template gives ErrNoTemplate.
func Load(dir string) (*Chat, error) {
	c := &Chat{}
	cfgPath := filepath.Join(dir, "tokenizer_config.json")
	if data, err := os.ReadFile(cfgPath); err == nil {
		if err := c.readTokenizerConfig(data); err != nil {
			return nil, fmt.Errorf("%s: %w", cfgPath, err)
		}
		if c.Default != "" || c.Named != nil {
			c.Source = cfgPath
			return c, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if data, err := os.ReadFile(filepath.Join(dir, "chat_template.jinja")); err == nil {
		c.Default = string(data)
		c.Source = filepath.Join(dir, "chat_template.jinja")
		return c, nil
	}
	p := filepath.Join(dir, "chat_template.json")
	if data, err := os.ReadFile(p); err == nil {
		var v struct {
			ChatTemplate json.RawMessage `json:"chat_template"`
		}
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if err := c.setTemplate(v.ChatTemplate); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if c.Default != "" || c.Named != nil {
			c.Source = p
			return c, nil
		}
	}
	return nil, ErrNoTemplate
}

// FromTokenizerConfig builds a Chat from tokenizer_config.json's bytes
// (chat_template may be absent: Apply then needs Options.Template).
func FromTokenizerConfig(data []byte) (*Chat, error) {
	c := &Chat{}
	if err := c.readTokenizerConfig(data); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Chat) readTokenizerConfig(data []byte) error {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(data, &cfg); err != nil {
		return err
	}
	for _, k := range specialTokenAttributes {
		raw, ok := cfg[k]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if s != "" {
				c.Special = append(c.Special, Field{k, s})
			}
			continue
		}
		var tok struct {
			Content *string `json:"content"`
		}
		if json.Unmarshal(raw, &tok) == nil && tok.Content != nil {
			if *tok.Content != "" {
				c.Special = append(c.Special, Field{k, *tok.Content})
			}
		}
		// null, false and other falsy values: no variable (as getTokenFromConfig)
	}
	return c.setTemplate(cfg["chat_template"])
}

func (c *Chat) setTemplate(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		c.Default = s
		return nil
	}
	var list []struct {
		Name     *string `json:"name"`
		Template *string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("chat_template must be a string or a list of {name, template}: %w", err)
	}
	c.Named = map[string]string{}
	for _, t := range list {
		if t.Name == nil || t.Template == nil {
			return errors.New("Chat template must be a list of objects with \"name\" and \"template\" properties")
		}
		c.Named[*t.Name] = *t.Template
	}
	return nil
}

// Options are apply_chat_template's options.
type Options struct {
	// AddGenerationPrompt is add_generation_prompt.
	AddGenerationPrompt bool
	// Template is chat_template: the name of one of the folder's named
	// templates, or a template text used instead of the folder's.
	Template string
	// Tools and Documents are passed as tools and documents (nil: none).
	Tools, Documents any
	// Extra are further variables (kwargs), after the special tokens.
	Extra Object
	// Now is strftime_now's clock (nil: time.Now).
	Now func() time.Time
}

// Select is get_chat_template: the template text Apply renders.
func (c *Chat) Select(o Options) (string, error) {
	name := o.Template
	if c.Named != nil {
		if name != "" {
			if t, ok := c.Named[name]; ok {
				return t, nil
			}
			return name, nil
		}
		if t, ok := c.Named["tool_use"]; ok && o.Tools != nil {
			return t, nil
		}
		if t, ok := c.Named["default"]; ok {
			return t, nil
		}
		return "", errors.New("chat template: this model has multiple chat templates with no default specified; pass Options.Template")
	}
	if name != "" {
		return name, nil
	}
	if c.Default == "" {
		return "", ErrNoTemplate
	}
	return c.Default, nil
}

// Template returns the parsed template text (parsed once).
func (c *Chat) Template(text string) (*Template, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.cache[text]; ok {
		return t, nil
	}
	t, err := Parse(text)
	if err != nil {
		return nil, err
	}
	if c.cache == nil {
		c.cache = map[string]*Template{}
	}
	c.cache[text] = t
	return t, nil
}

// Apply renders the conversation as transformers.js's
// tokenizer.apply_chat_template(messages, {tokenize: false,
// add_generation_prompt, ...}) does: variables messages,
// add_generation_prompt, tools, documents, the special tokens, then Extra
// (a later key replaces an earlier one).
func (c *Chat) Apply(msgs []Message, o Options) (string, error) {
	text, err := c.Select(o)
	if err != nil {
		return "", err
	}
	t, err := c.Template(text)
	if err != nil {
		return "", err
	}
	list := make([]any, len(msgs))
	for i, m := range msgs {
		list[i] = m.object()
	}
	return t.Render(c.Vars(list, o), o.Now)
}

// Vars builds the variables of one rendering from messages given as
// template values ([]any of Object, or json.RawMessage).
func (c *Chat) Vars(messages any, o Options) Vars {
	var v Vars
	put := func(k string, x any) {
		for i := range v {
			if v[i].Key == k {
				v[i].Value = x
				return
			}
		}
		v = append(v, Field{k, x})
	}
	put("messages", messages)
	put("add_generation_prompt", o.AddGenerationPrompt)
	put("tools", o.Tools)
	put("documents", o.Documents)
	for _, f := range c.Special {
		put(f.Key, f.Value)
	}
	for _, f := range o.Extra {
		put(f.Key, f.Value)
	}
	return v
}

// ApplyJSON is Apply with the messages given as JSON (any shape the
// template expects; key order kept).
func (c *Chat) ApplyJSON(messages []byte, o Options) (string, error) {
	text, err := c.Select(o)
	if err != nil {
		return "", err
	}
	t, err := c.Template(text)
	if err != nil {
		return "", err
	}
	m, err := DecodeJSON(messages)
	if err != nil {
		return "", fmt.Errorf("chat template: messages: %w", err)
	}
	return t.Render(c.Vars(m, o), o.Now)
}
