package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/unicode/rangetable"
)

// The Rust tokenizers crate takes its Unicode data from several crates of
// different ages. Where that data is older than Go's, we restrict Go's
// tables to the characters that existed then:
//   - normalization (NFC/NFD/NFKC/NFKD) and StripAccents' combining marks
//     come from unicode-normalization-alignments, Unicode 9.0: newer
//     characters are neither decomposed, composed nor reordered;
//   - the Punctuation and Bert pre-tokenizers use unicode_categories,
//     Unicode 8.0.
//
// (Where Rust's data is newer than Go's Unicode 15.0 — its regex engines
// use 16.0 and its standard library 17.0 — characters added after 15.0 may
// be classified differently; see the package documentation.)
var (
	unicode8 = rangetable.Assigned("8.0.0")
	unicode9 = rangetable.Assigned("9.0.0")
)

// normalizeV9 applies form to s as a Unicode 9.0 implementation would:
// characters unassigned in 9.0 pass through unchanged and block
// composition and reordering across them.
func normalizeV9(form norm.Form, s string) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if !unicode.Is(unicode9, r) {
			break
		}
		i += n
	}
	if i == len(s) {
		return form.String(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	start := 0
	for j, r := range s {
		if r >= utf8.RuneSelf && !unicode.Is(unicode9, r) {
			b.WriteString(form.String(s[start:j]))
			b.WriteRune(r)
			start = j + utf8.RuneLen(r)
		}
	}
	b.WriteString(form.String(s[start:]))
	return b.String()
}

// isCombiningMarkV9 reports whether r is a combining mark in Unicode 9.0.
func isCombiningMarkV9(r rune) bool {
	return unicode.IsMark(r) && unicode.Is(unicode9, r)
}
