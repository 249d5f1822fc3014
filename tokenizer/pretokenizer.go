package tokenizer

import (
	"strings"
	"unicode"
)

// preTokenizer cuts a normalized piece into the words the model sees,
// appending them to dst. Empty words are never appended.
type preTokenizer interface {
	preTokenize(p piece, dst []piece) ([]piece, error)
}

// gpt2Pattern is the split regex of the ByteLevel pre-tokenizer.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// byteLevelPre optionally adds a leading space, optionally splits with the
// GPT-2 regex, then maps every byte to its ByteLevel character.
type byteLevelPre struct {
	addPrefixSpace bool
	re             finder // nil when use_regex is false
}

func (b *byteLevelPre) preTokenize(p piece, dst []piece) ([]piece, error) {
	if b.addPrefixSpace && p.text != "" && !strings.HasPrefix(p.text, " ") {
		p.text = " " + p.text
	}
	n := len(dst)
	if b.re != nil {
		m, err := b.re.findAll(p.text)
		if err != nil {
			return nil, err
		}
		dst = splitPiece(p, m, behaviorIsolated, false, dst)
	} else if p.text != "" {
		dst = append(dst, p)
	}
	for i := n; i < len(dst); i++ {
		dst[i].text = byteLevelEncode(dst[i].text)
	}
	return dst, nil
}

// splitPre splits on a literal or regex pattern.
type splitPre struct {
	pattern  finder
	behavior behavior
	invert   bool
}

func (s *splitPre) preTokenize(p piece, dst []piece) ([]piece, error) {
	m, err := s.pattern.findAll(p.text)
	if err != nil {
		return nil, err
	}
	return splitPiece(p, m, s.behavior, s.invert, dst), nil
}

// prependScheme says when Metaspace adds the replacement character in front
// of a piece.
type prependScheme int

const (
	prependAlways prependScheme = iota
	prependFirst
	prependNever
)

// metaspacePre replaces spaces with a visible character (▁), optionally
// prepends it, and optionally splits in front of each occurrence.
type metaspacePre struct {
	replacement rune
	rep         string
	scheme      prependScheme
	split       bool
}

func (m *metaspacePre) preTokenize(p piece, dst []piece) ([]piece, error) {
	p.text = strings.ReplaceAll(p.text, " ", m.rep)
	if p.text != "" && !strings.HasPrefix(p.text, m.rep) {
		if m.scheme == prependAlways || (m.scheme == prependFirst && p.atStart) {
			p.text = m.rep + p.text
		}
	}
	if !m.split {
		if p.text != "" {
			dst = append(dst, p)
		}
		return dst, nil
	}
	r := m.replacement
	return splitPiece(p, charMatches(p.text, func(c rune) bool { return c == r }), behaviorMergedWithNext, false, dst), nil
}

// digitsPre isolates digits, one by one or in runs.
type digitsPre struct{ individual bool }

func (d digitsPre) preTokenize(p piece, dst []piece) ([]piece, error) {
	b := behaviorContiguous
	if d.individual {
		b = behaviorIsolated
	}
	return splitPiece(p, charMatches(p.text, unicode.IsNumber), b, false, dst), nil
}

// charSplitPre splits on every character that satisfies pred.
type charSplitPre struct {
	pred     func(rune) bool
	behavior behavior
}

func (c charSplitPre) preTokenize(p piece, dst []piece) ([]piece, error) {
	return splitPiece(p, charMatches(p.text, c.pred), c.behavior, false, dst), nil
}

// whitespacePre keeps runs of word characters and runs of other
// non-space characters, dropping whitespace (Rust: `\w+|[^\w\s]+`).
type whitespacePre struct{}

func (whitespacePre) preTokenize(p piece, dst []piece) ([]piece, error) {
	const (
		space = iota
		word
		other
	)
	class := func(r rune) int {
		switch {
		case isRustWord(r):
			return word
		case unicode.IsSpace(r):
			return space
		}
		return other
	}
	start, cur := 0, space
	for i, r := range p.text {
		c := class(r)
		if c == cur {
			continue
		}
		if cur != space && i > start {
			dst = append(dst, piece{text: p.text[start:i], atStart: p.atStart && start == 0})
		}
		start, cur = i, c
	}
	if cur != space && len(p.text) > start {
		dst = append(dst, piece{text: p.text[start:], atStart: p.atStart && start == 0})
	}
	return dst, nil
}

// sequencePre applies pre-tokenizers in order, each to every piece the
// previous one produced.
type sequencePre []preTokenizer

func (seq sequencePre) preTokenize(p piece, dst []piece) ([]piece, error) {
	cur := []piece{p}
	var next []piece
	var err error
	for _, pt := range seq {
		next = next[:0]
		for _, q := range cur {
			if next, err = pt.preTokenize(q, next); err != nil {
				return nil, err
			}
		}
		cur, next = next, cur
	}
	return append(dst, cur...), nil
}

// isRustWord reports whether r matches `\w` in the Rust regex crate:
// Alphabetic, marks, decimal digits, connector punctuation, join controls.
func isRustWord(r rune) bool {
	if r < 0x80 {
		return r == '_' || (r >= '0' && r <= '9') || (r|0x20 >= 'a' && r|0x20 <= 'z')
	}
	return unicode.IsLetter(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Other_Alphabetic, r) ||
		unicode.IsMark(r) || unicode.Is(unicode.Nd, r) || unicode.Is(unicode.Pc, r) || unicode.Is(unicode.Join_Control, r)
}

// isPunctuation reports whether r is ASCII punctuation or in a Unicode
// (8.0) punctuation category, like the Punctuation and Bert pre-tokenizers.
func isPunctuation(r rune) bool {
	if r < 0x80 {
		return (r >= '!' && r <= '/') || (r >= ':' && r <= '@') || (r >= '[' && r <= '`') || (r >= '{' && r <= '~')
	}
	return unicode.IsPunct(r) && unicode.Is(unicode8, r)
}
