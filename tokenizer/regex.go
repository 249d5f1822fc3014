package tokenizer

import (
	"fmt"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// finder finds the non-overlapping matches of a pattern in a string and
// returns them as byte ranges, left to right.
type finder interface {
	findAll(s string) ([][2]int, error)
}

// literalFinder matches a fixed string.
type literalFinder string

func (l literalFinder) findAll(s string) ([][2]int, error) {
	return literalMatches(s, string(l)), nil
}

// regexFinder matches a regular expression with the backtracking engine
// regexp2, which (unlike Go's regexp) supports the lookahead that tokenizer
// patterns such as `\s+(?!\S)` rely on.
type regexFinder struct {
	re *regexp2.Regexp
}

// compileRegex compiles an Oniguruma-style pattern from tokenizer.json. A
// pattern with a hand-written equivalent gets that instead (same matches,
// much faster).
func compileRegex(pattern string) (finder, error) {
	if f := fastFinder(pattern); f != nil {
		return f, nil
	}
	return compileRegexp2(pattern)
}

// compileRegexp2 compiles pattern with regexp2 only.
func compileRegexp2(pattern string) (*regexFinder, error) {
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("compile regex %q: %w", pattern, err)
	}
	return &regexFinder{re: re}, nil
}

// findAll follows the iteration rule of the Rust onig crate: an empty match
// directly after the previous match is skipped and the search moves on by
// one character.
// s must be valid UTF-8 (the tokenizer checks its input).
func (f *regexFinder) findAll(s string) ([][2]int, error) {
	if s == "" {
		return nil, nil
	}
	runes := []rune(s)
	// byteAt[i] is the byte offset of rune i.
	byteAt := make([]int, len(runes)+1)
	off := 0
	for i, r := range runes {
		byteAt[i] = off
		off += utf8.RuneLen(r)
	}
	byteAt[len(runes)] = off
	var out [][2]int
	pos := 0
	lastMatchEnd := -1
	for pos <= len(runes) {
		m, err := f.re.FindRunesMatchStartingAt(runes, pos)
		if err != nil {
			return nil, fmt.Errorf("regex %q: %w", f.re.String(), err)
		}
		if m == nil {
			break
		}
		st, en := m.Index, m.Index+m.Length
		if st == en && en == lastMatchEnd {
			pos++
			continue
		}
		out = append(out, [2]int{byteAt[st], byteAt[en]})
		pos = en
		lastMatchEnd = en
	}
	return out, nil
}
