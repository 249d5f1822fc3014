package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// componentJSON has every field any pre-tokenizer, decoder or
// post-processor of tokenizer.json uses; each parser reads the ones it needs.
type componentJSON struct {
	Type           string            `json:"type"`
	AddPrefixSpace *bool             `json:"add_prefix_space"`
	UseRegex       *bool             `json:"use_regex"`
	Pattern        *patternJSON      `json:"pattern"`
	Behavior       *string           `json:"behavior"`
	Invert         bool              `json:"invert"`
	Replacement    *string           `json:"replacement"`
	PrependScheme  *string           `json:"prepend_scheme"`
	Split          *bool             `json:"split"`
	Individual     bool              `json:"individual_digits"`
	Delimiter      *string           `json:"delimiter"`
	PreTokenizers  []json.RawMessage `json:"pretokenizers"`
	Decoders       []json.RawMessage `json:"decoders"`
	Processors     []json.RawMessage `json:"processors"`
	Content        *string           `json:"content"`
	Start          int               `json:"start"`
	Stop           int               `json:"stop"`
	Prefix         *string           `json:"prefix"`
	Cleanup        *bool             `json:"cleanup"`
	Suffix         *string           `json:"suffix"`
	Single         []templatePiece   `json:"single"`
	Pair           []templatePiece   `json:"pair"`
	SpecialTokens  map[string]struct {
		IDs []int `json:"ids"`
	} `json:"special_tokens"`
	Sep *[2]json.RawMessage `json:"sep"`
	Cls *[2]json.RawMessage `json:"cls"`
}

// templatePiece is one item of a TemplateProcessing template.
type templatePiece struct {
	Sequence *struct {
		ID string `json:"id"`
	} `json:"Sequence"`
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
}

func decodeComponent(raw json.RawMessage, kind string) (*componentJSON, error) {
	var c componentJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	if c.Type == "" {
		return nil, fmt.Errorf("%s: missing type", kind)
	}
	return &c, nil
}

// parsePreTokenizer builds a pre-tokenizer; JSON null gives nil.
func parsePreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := decodeComponent(raw, "pre_tokenizer")
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "ByteLevel":
		b := &byteLevelPre{addPrefixSpace: boolOr(c.AddPrefixSpace, true)}
		if boolOr(c.UseRegex, true) {
			if b.re, err = compileRegex(gpt2Pattern); err != nil {
				return nil, err
			}
		}
		return b, nil
	case "Split":
		if c.Pattern == nil || c.Behavior == nil {
			return nil, fmt.Errorf("pre_tokenizer Split: missing pattern or behavior")
		}
		f, err := c.Pattern.compile()
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split: %w", err)
		}
		b, err := parseBehavior(*c.Behavior)
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split: %w", err)
		}
		return &splitPre{pattern: f, behavior: b, invert: c.Invert}, nil
	case "Metaspace":
		r, err := singleRune(c.Replacement, "pre_tokenizer Metaspace: replacement")
		if err != nil {
			return nil, err
		}
		scheme, err := parsePrependScheme(c)
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Metaspace: %w", err)
		}
		return &metaspacePre{replacement: r, rep: string(r), scheme: scheme, split: boolOr(c.Split, true)}, nil
	case "Digits":
		return digitsPre{individual: c.Individual}, nil
	case "Whitespace":
		return whitespacePre{}, nil
	case "WhitespaceSplit":
		return charSplitPre{pred: unicode.IsSpace, behavior: behaviorRemoved}, nil
	case "Punctuation":
		b := behaviorIsolated
		if c.Behavior != nil {
			if b, err = parseBehavior(*c.Behavior); err != nil {
				return nil, fmt.Errorf("pre_tokenizer Punctuation: %w", err)
			}
		}
		return charSplitPre{pred: isPunctuation, behavior: b}, nil
	case "BertPreTokenizer":
		return sequencePre{
			charSplitPre{pred: unicode.IsSpace, behavior: behaviorRemoved},
			charSplitPre{pred: isPunctuation, behavior: behaviorIsolated},
		}, nil
	case "CharDelimiterSplit":
		d, err := singleRune(c.Delimiter, "pre_tokenizer CharDelimiterSplit: delimiter")
		if err != nil {
			return nil, err
		}
		return charSplitPre{pred: func(r rune) bool { return r == d }, behavior: behaviorRemoved}, nil
	case "Sequence":
		if c.PreTokenizers == nil {
			return nil, fmt.Errorf("pre_tokenizer Sequence: missing pretokenizers")
		}
		seq := make(sequencePre, 0, len(c.PreTokenizers))
		for i, r := range c.PreTokenizers {
			p, err := parsePreTokenizer(r)
			if err != nil {
				return nil, fmt.Errorf("pre_tokenizer Sequence[%d]: %w", i, err)
			}
			if p == nil {
				return nil, fmt.Errorf("pre_tokenizer Sequence[%d]: null", i)
			}
			seq = append(seq, p)
		}
		return seq, nil
	}
	return nil, fmt.Errorf("pre_tokenizer %q is not supported", c.Type)
}

// parseDecoder builds a decoder; JSON null gives nil.
func parseDecoder(raw json.RawMessage) (decoder, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := decodeComponent(raw, "decoder")
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "ByteLevel":
		return byteLevelDec{}, nil
	case "ByteFallback":
		return byteFallbackDec{}, nil
	case "Fuse":
		return fuseDec{}, nil
	case "Replace":
		if c.Pattern == nil || c.Content == nil {
			return nil, fmt.Errorf("decoder Replace: missing pattern or content")
		}
		f, err := c.Pattern.compile()
		if err != nil {
			return nil, fmt.Errorf("decoder Replace: %w", err)
		}
		return replaceDec{pattern: f, content: *c.Content}, nil
	case "Strip":
		r, err := singleRune(c.Content, "decoder Strip: content")
		if err != nil {
			return nil, err
		}
		if c.Start < 0 || c.Stop < 0 {
			return nil, fmt.Errorf("decoder Strip: negative start or stop")
		}
		return stripDec{content: r, start: c.Start, stop: c.Stop}, nil
	case "Metaspace":
		r, err := singleRune(c.Replacement, "decoder Metaspace: replacement")
		if err != nil {
			return nil, err
		}
		scheme, err := parsePrependScheme(c)
		if err != nil {
			return nil, fmt.Errorf("decoder Metaspace: %w", err)
		}
		return metaspaceDec{replacement: r, scheme: scheme}, nil
	case "WordPiece":
		prefix := "##"
		if c.Prefix != nil {
			prefix = *c.Prefix
		}
		return wordPieceDec{prefix: prefix, cleanup: boolOr(c.Cleanup, true)}, nil
	case "BPEDecoder":
		suffix := "</w>"
		if c.Suffix != nil {
			suffix = *c.Suffix
		}
		return bpeDec{suffix: suffix}, nil
	case "Sequence":
		if c.Decoders == nil {
			return nil, fmt.Errorf("decoder Sequence: missing decoders")
		}
		seq := make(sequenceDec, 0, len(c.Decoders))
		for i, r := range c.Decoders {
			d, err := parseDecoder(r)
			if err != nil {
				return nil, fmt.Errorf("decoder Sequence[%d]: %w", i, err)
			}
			if d == nil {
				return nil, fmt.Errorf("decoder Sequence[%d]: null", i)
			}
			seq = append(seq, d)
		}
		return seq, nil
	}
	return nil, fmt.Errorf("decoder %q is not supported", c.Type)
}

// parsePostProcessor builds a post-processor; JSON null gives nil. tokenID
// resolves the token strings of Bert/Roberta processors.
func parsePostProcessor(raw json.RawMessage) (postProcessor, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := decodeComponent(raw, "post_processor")
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "ByteLevel":
		return noopPost{}, nil
	case "TemplateProcessing":
		return parseTemplate(c)
	case "BertProcessing", "RobertaProcessing":
		if c.Cls == nil || c.Sep == nil {
			return nil, fmt.Errorf("post_processor %s: missing cls or sep", c.Type)
		}
		var cls, sep int
		if err := json.Unmarshal(c.Cls[1], &cls); err != nil {
			return nil, fmt.Errorf("post_processor %s: cls: %w", c.Type, err)
		}
		if err := json.Unmarshal(c.Sep[1], &sep); err != nil {
			return nil, fmt.Errorf("post_processor %s: sep: %w", c.Type, err)
		}
		t := &templatePost{
			single: []templateItem{{ids: []int{cls}}, {seq: 'A'}, {ids: []int{sep}}},
			pair:   []templateItem{{ids: []int{cls}}, {seq: 'A'}, {ids: []int{sep}}, {seq: 'B'}, {ids: []int{sep}}},
		}
		if c.Type == "RobertaProcessing" {
			t.pair = []templateItem{{ids: []int{cls}}, {seq: 'A'}, {ids: []int{sep}}, {ids: []int{sep}}, {seq: 'B'}, {ids: []int{sep}}}
		}
		return t, nil
	case "Sequence":
		if c.Processors == nil {
			return nil, fmt.Errorf("post_processor Sequence: missing processors")
		}
		seq := make(sequencePost, 0, len(c.Processors))
		for i, r := range c.Processors {
			p, err := parsePostProcessor(r)
			if err != nil {
				return nil, fmt.Errorf("post_processor Sequence[%d]: %w", i, err)
			}
			if p == nil {
				return nil, fmt.Errorf("post_processor Sequence[%d]: null", i)
			}
			seq = append(seq, p)
		}
		return seq, nil
	}
	return nil, fmt.Errorf("post_processor %q is not supported", c.Type)
}

// parseTemplate reads the single and pair templates of a
// TemplateProcessing.
func parseTemplate(c *componentJSON) (postProcessor, error) {
	if c.Single == nil {
		return nil, fmt.Errorf("post_processor TemplateProcessing: missing single")
	}
	single, err := templateItems(c, c.Single, "single", "A")
	if err != nil {
		return nil, err
	}
	pair := []templateItem{{seq: 'A'}, {seq: 'B'}}
	if c.Pair != nil {
		if pair, err = templateItems(c, c.Pair, "pair", "AB"); err != nil {
			return nil, err
		}
	}
	return &templatePost{single: single, pair: pair}, nil
}

// templateItems converts one template, allowing the sequence ids in seqs.
func templateItems(c *componentJSON, pieces []templatePiece, name, seqs string) ([]templateItem, error) {
	items := make([]templateItem, 0, len(pieces))
	for i, p := range pieces {
		switch {
		case p.Sequence != nil && p.SpecialToken == nil:
			id := p.Sequence.ID
			if len(id) != 1 || !strings.Contains(seqs, id) {
				return nil, fmt.Errorf("post_processor TemplateProcessing: %s[%d]: sequence %q not allowed", name, i, id)
			}
			items = append(items, templateItem{seq: id[0]})
		case p.SpecialToken != nil && p.Sequence == nil:
			st, ok := c.SpecialTokens[p.SpecialToken.ID]
			if !ok {
				return nil, fmt.Errorf("post_processor TemplateProcessing: missing special token %q", p.SpecialToken.ID)
			}
			items = append(items, templateItem{ids: append([]int{}, st.IDs...)})
		default:
			return nil, fmt.Errorf("post_processor TemplateProcessing: %s[%d]: want one of Sequence or SpecialToken", name, i)
		}
	}
	return items, nil
}

// parsePrependScheme reads prepend_scheme, or the older add_prefix_space.
func parsePrependScheme(c *componentJSON) (prependScheme, error) {
	if c.PrependScheme != nil {
		switch *c.PrependScheme {
		case "always":
			return prependAlways, nil
		case "first":
			return prependFirst, nil
		case "never":
			return prependNever, nil
		}
		return 0, fmt.Errorf("unknown prepend_scheme %q", *c.PrependScheme)
	}
	if boolOr(c.AddPrefixSpace, true) {
		return prependAlways, nil
	}
	return prependNever, nil
}

func singleRune(s *string, what string) (rune, error) {
	if s == nil {
		return 0, fmt.Errorf("%s: missing", what)
	}
	r, n := utf8.DecodeRuneInString(*s)
	if n == 0 || n != len(*s) || r == utf8.RuneError {
		return 0, fmt.Errorf("%s: want one character, got %q", what, *s)
	}
	return r, nil
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}
