package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a piece of text before pre-tokenization. atStart says
// whether the first character of s maps to offset 0 of the original input;
// the returned bool says the same of the result (it turns false when leading
// characters are deleted, as Rust's alignment tracking would report).
type normalizer interface {
	normalize(s string, atStart bool) (string, bool, error)
}

// unicodeNormalizer applies one of the four Unicode normalization forms.
type unicodeNormalizer struct{ form norm.Form }

func (n unicodeNormalizer) normalize(s string, atStart bool) (string, bool, error) {
	return normalizeV9(n.form, s), atStart, nil
}

// lowercaseNormalizer lower-cases every character with its full Unicode
// mapping, character by character (no context rules), like Rust's
// char::to_lowercase.
type lowercaseNormalizer struct{}

func (lowercaseNormalizer) normalize(s string, atStart bool) (string, bool, error) {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r == 'İ' { // the only unconditional multi-character lowercase mapping
			b.WriteString("i\u0307")
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String(), atStart, nil
}

// stripNormalizer removes leading and/or trailing whitespace.
type stripNormalizer struct{ left, right bool }

func (n stripNormalizer) normalize(s string, atStart bool) (string, bool, error) {
	if n.left {
		t := strings.TrimLeftFunc(s, unicode.IsSpace)
		if len(t) != len(s) {
			atStart = false
		}
		s = t
	}
	if n.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s, atStart, nil
}

// stripAccentsNormalizer removes combining marks.
type stripAccentsNormalizer struct{}

func (stripAccentsNormalizer) normalize(s string, atStart bool) (string, bool, error) {
	var b strings.Builder
	for i, r := range s {
		if isCombiningMarkV9(r) {
			if i == 0 || b.Len() == 0 {
				atStart = false
			}
			continue
		}
		b.WriteRune(r)
	}
	return b.String(), atStart, nil
}

// replaceNormalizer replaces every match of a pattern with content.
type replaceNormalizer struct {
	pattern finder
	content string
}

func (n replaceNormalizer) normalize(s string, atStart bool) (string, bool, error) {
	out, first, err := replaceAll(s, n.pattern, n.content)
	if err != nil {
		return "", false, err
	}
	if first && n.content == "" {
		atStart = false
	}
	return out, atStart, nil
}

// replaceAll replaces every match of f in s with content. It also reports
// whether a match started at offset 0.
func replaceAll(s string, f finder, content string) (string, bool, error) {
	matches, err := f.findAll(s)
	if err != nil || len(matches) == 0 {
		return s, false, err
	}
	var b strings.Builder
	b.Grow(len(s) + len(matches)*len(content))
	prev := 0
	for _, m := range matches {
		b.WriteString(s[prev:m[0]])
		b.WriteString(content)
		prev = m[1]
	}
	b.WriteString(s[prev:])
	return b.String(), matches[0][0] == 0, nil
}

// prependNormalizer adds a prefix to non-empty text.
type prependNormalizer struct{ prefix string }

func (n prependNormalizer) normalize(s string, atStart bool) (string, bool, error) {
	if s == "" {
		return s, atStart, nil
	}
	return n.prefix + s, atStart, nil
}

// byteLevelNormalizer maps every byte to its ByteLevel character.
type byteLevelNormalizer struct{}

func (byteLevelNormalizer) normalize(s string, atStart bool) (string, bool, error) {
	return byteLevelEncode(s), atStart, nil
}

// sequenceNormalizer applies normalizers in order.
type sequenceNormalizer []normalizer

func (seq sequenceNormalizer) normalize(s string, atStart bool) (string, bool, error) {
	var err error
	for _, n := range seq {
		if s, atStart, err = n.normalize(s, atStart); err != nil {
			return "", false, err
		}
	}
	return s, atStart, nil
}

// patternJSON is the {"String": ...} or {"Regex": ...} object used by Split,
// Replace and the Replace decoder.
type patternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

// compile builds a finder for the pattern.
func (p patternJSON) compile() (finder, error) {
	switch {
	case p.String != nil && p.Regex == nil:
		return literalFinder(*p.String), nil
	case p.Regex != nil && p.String == nil:
		return compileRegex(*p.Regex)
	}
	return nil, fmt.Errorf("pattern must have exactly one of String or Regex")
}

// parseNormalizer builds a normalizer from its tokenizer.json object. A JSON
// null gives a nil normalizer.
func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var head struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
		Pattern     patternJSON       `json:"pattern"`
		Content     *string           `json:"content"`
		Prepend     *string           `json:"prepend"`
		Left        *bool             `json:"strip_left"`
		Right       *bool             `json:"strip_right"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	switch head.Type {
	case "NFC":
		return unicodeNormalizer{norm.NFC}, nil
	case "NFD":
		return unicodeNormalizer{norm.NFD}, nil
	case "NFKC":
		return unicodeNormalizer{norm.NFKC}, nil
	case "NFKD":
		return unicodeNormalizer{norm.NFKD}, nil
	case "Lowercase":
		return lowercaseNormalizer{}, nil
	case "StripAccents":
		return stripAccentsNormalizer{}, nil
	case "ByteLevel":
		return byteLevelNormalizer{}, nil
	case "Strip":
		if head.Left == nil || head.Right == nil {
			return nil, fmt.Errorf("normalizer Strip: missing strip_left or strip_right")
		}
		return stripNormalizer{left: *head.Left, right: *head.Right}, nil
	case "Prepend":
		if head.Prepend == nil {
			return nil, fmt.Errorf("normalizer Prepend: missing prepend")
		}
		return prependNormalizer{prefix: *head.Prepend}, nil
	case "Replace":
		if head.Content == nil {
			return nil, fmt.Errorf("normalizer Replace: missing content")
		}
		f, err := head.Pattern.compile()
		if err != nil {
			return nil, fmt.Errorf("normalizer Replace: %w", err)
		}
		return replaceNormalizer{pattern: f, content: *head.Content}, nil
	case "Sequence":
		if head.Normalizers == nil {
			return nil, fmt.Errorf("normalizer Sequence: missing normalizers")
		}
		seq := make(sequenceNormalizer, 0, len(head.Normalizers))
		for i, r := range head.Normalizers {
			n, err := parseNormalizer(r)
			if err != nil {
				return nil, fmt.Errorf("normalizer Sequence[%d]: %w", i, err)
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		return seq, nil
	case "":
		return nil, fmt.Errorf("normalizer: missing type")
	}
	return nil, fmt.Errorf("normalizer %q is not supported", head.Type)
}

// isNull reports whether raw is absent or the JSON null.
func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}
