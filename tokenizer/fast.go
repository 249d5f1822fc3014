package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Split patterns common enough to deserve a hand-written matcher. Each one
// reproduces the leftmost-first backtracking semantics of its regex exactly
// (TestFastFinders and FuzzFastFinders compare them with regexp2) and runs
// several times faster.
const (
	// qwenPattern is the pre-tokenizer regex of Qwen2/Qwen3 (and others).
	qwenPattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// llama3Pattern is the same with runs of up to three digits (Llama 3,
	// SmolLM3 and others).
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// fastFinder returns a hand-written matcher for a known split pattern, or
// nil.
func fastFinder(pattern string) finder {
	switch pattern {
	case gpt2Pattern:
		return gpt2Finder{}
	case qwenPattern:
		return qwenFinder{maxDigits: 1}
	case llama3Pattern:
		return qwenFinder{maxDigits: 3}
	}
	return nil
}

// Character classes, with the same Unicode tables regexp2 uses.
func isL(r rune) bool { return unicode.IsLetter(r) }
func isN(r rune) bool { return unicode.IsNumber(r) }
func isS(r rune) bool { return unicode.IsSpace(r) }

// isOther is [^\s\p{L}\p{N}].
func isOther(r rune) bool { return !isS(r) && !isL(r) && !isN(r) }

func isNL(r rune) bool { return r == '\r' || r == '\n' }

// at decodes the rune at byte offset i of s; size 0 means the end.
func at(s string, i int) (rune, int) {
	if i >= len(s) {
		return 0, 0
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// run returns the end of the run of characters satisfying f from i.
func run(s string, i int, f func(rune) bool) int {
	for {
		r, n := at(s, i)
		if n == 0 || !f(r) {
			return i
		}
		i += n
	}
}

// contraction matches 's|'t|'re|'ve|'m|'ll|'d at i (case-insensitively with
// fold) and returns the end, or -1.
func contraction(s string, i int, fold bool) int {
	if i >= len(s) || s[i] != '\'' {
		return -1
	}
	lower := func(j int) (rune, int) {
		r, n := at(s, j)
		if fold && n > 0 {
			r = unicode.ToLower(r)
		}
		return r, n
	}
	r1, n1 := lower(i + 1)
	switch r1 {
	case 's', 't', 'm', 'd':
		return i + 1 + n1
	case 'r', 'v', 'l':
		want := 'e'
		if r1 == 'l' {
			want = 'l'
		}
		if r2, n2 := lower(i + 1 + n1); n2 > 0 && r2 == want {
			return i + 1 + n1 + n2
		}
	}
	return -1
}

// spaceRuns matches \s+(?!\S)|\s+ at i, where s[i] is whitespace.
func spaceRuns(s string, i int) int {
	j := run(s, i, isS)
	if j == len(s) {
		return j
	}
	// Give back the last whitespace character so that (?!\S) holds, if
	// that leaves at least one.
	_, n := utf8.DecodeLastRuneInString(s[i:j])
	if j-n > i {
		return j - n
	}
	return j
}

// findAllWith collects consecutive matches; both patterns match at every
// position, so the matches tile the string.
func findAllWith(s string, next func(s string, i int) int) [][2]int {
	out := make([][2]int, 0, len(s)/4+1)
	for i := 0; i < len(s); {
		j := next(s, i)
		out = append(out, [2]int{i, j})
		i = j
	}
	return out
}

// gpt2Finder matches gpt2Pattern:
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
type gpt2Finder struct{}

func (gpt2Finder) findAll(s string) ([][2]int, error) {
	return findAllWith(s, gpt2Next), nil
}

func gpt2Next(s string, i int) int {
	if j := contraction(s, i, false); j >= 0 {
		return j
	}
	r, n := at(s, i)
	k := i // start of the class run, after an optional space
	if r == ' ' {
		if r2, n2 := at(s, i+n); n2 > 0 && !isS(r2) {
			r, k = r2, i+n
		}
	}
	switch {
	case isL(r):
		return run(s, k, isL)
	case isN(r):
		return run(s, k, isN)
	case !isS(r):
		return run(s, k, isOther)
	}
	return spaceRuns(s, i)
}

// qwenFinder matches qwenPattern (maxDigits 1) or llama3Pattern (3).
type qwenFinder struct{ maxDigits int }

func (q qwenFinder) findAll(s string) ([][2]int, error) {
	return findAllWith(s, q.next), nil
}

func (q qwenFinder) next(s string, i int) int {
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if j := contraction(s, i, true); j >= 0 {
		return j
	}
	r, n := at(s, i)
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isL(r) {
		return run(s, i, isL)
	}
	if !isNL(r) && !isN(r) {
		if r2, _ := at(s, i+n); isL(r2) {
			return run(s, i+n, isL)
		}
	}
	// \p{N}{1,max}
	if isN(r) {
		j := i
		for d := 0; d < q.maxDigits; d++ {
			r2, n2 := at(s, j)
			if n2 == 0 || !isN(r2) {
				break
			}
			j += n2
		}
		return j
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	k := i
	if r == ' ' {
		if r2, _ := at(s, i+n); isOther(r2) {
			k = i + n
		}
	}
	if r2, _ := at(s, k); isOther(r2) {
		return run(s, run(s, k, isOther), isNL)
	}
	// \s*[\r\n]+ : up to and including the last \r or \n of the run.
	j := run(s, i, isS)
	lastNL := -1
	for p := i; p < j; {
		c, m := at(s, p)
		if isNL(c) {
			lastNL = p + m
		}
		p += m
	}
	if lastNL >= 0 {
		return lastNL
	}
	return spaceRuns(s, i)
}
