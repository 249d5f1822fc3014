package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// piece is one part of the text on its way through the pipeline: a normalized
// string, and whether it starts at offset 0 of the original input (Metaspace
// with prepend_scheme "first" needs to know).
type piece struct {
	text    string
	atStart bool
}

// span is a half-open byte range of a piece; match reports whether the range
// was matched by a pattern or lies between matches.
type span struct {
	start, end int
	match      bool
}

// behavior says what a split does with the matched delimiters, mirroring the
// Rust SplitDelimiterBehavior.
type behavior int

const (
	behaviorRemoved behavior = iota
	behaviorIsolated
	behaviorMergedWithPrevious
	behaviorMergedWithNext
	behaviorContiguous
)

// parseBehavior maps the tokenizer.json spelling to a behavior.
func parseBehavior(s string) (behavior, error) {
	switch strings.ToLower(s) {
	case "removed":
		return behaviorRemoved, nil
	case "isolated":
		return behaviorIsolated, nil
	case "merged_with_previous", "mergedwithprevious":
		return behaviorMergedWithPrevious, nil
	case "merged_with_next", "mergedwithnext":
		return behaviorMergedWithNext, nil
	case "contiguous":
		return behaviorContiguous, nil
	}
	return 0, fmt.Errorf("unknown split behavior %q", s)
}

// coverSpans turns a list of non-overlapping matches into spans that cover
// the whole text, with the gaps marked as non-matches, like the Rust Pattern
// trait's find_matches.
func coverSpans(n int, matches [][2]int, dst []span) []span {
	if n == 0 {
		return append(dst, span{0, 0, false})
	}
	prev := 0
	for _, m := range matches {
		if m[0] != prev {
			dst = append(dst, span{prev, m[0], false})
		}
		dst = append(dst, span{m[0], m[1], true})
		prev = m[1]
	}
	if prev != n {
		dst = append(dst, span{prev, n, false})
	}
	return dst
}

// applyBehavior merges or drops spans according to b and reports the
// resulting ranges (all marked as non-matches, some possibly empty).
func applyBehavior(spans []span, b behavior) []span {
	out := spans[:0:0]
	switch b {
	case behaviorIsolated:
		return spans
	case behaviorRemoved:
		for _, s := range spans {
			if !s.match {
				out = append(out, s)
			}
		}
	case behaviorMergedWithPrevious:
		prevMatch := false
		for _, s := range spans {
			if s.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].end = s.end
			} else {
				out = append(out, span{s.start, s.end, false})
			}
			prevMatch = s.match
		}
	case behaviorMergedWithNext:
		prevMatch := false
		for i := len(spans) - 1; i >= 0; i-- {
			s := spans[i]
			if s.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].start = s.start
			} else {
				out = append(out, span{s.start, s.end, false})
			}
			prevMatch = s.match
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	case behaviorContiguous:
		prevMatch := false
		for _, s := range spans {
			if s.match == prevMatch && len(out) > 0 {
				out[len(out)-1].end = s.end
			} else {
				out = append(out, span{s.start, s.end, false})
			}
			prevMatch = s.match
		}
	}
	return out
}

// invertSpans swaps matches and non-matches.
func invertSpans(spans []span) {
	for i := range spans {
		spans[i].match = !spans[i].match
	}
}

// splitPiece cuts p at the given matches with behavior b and appends the
// non-empty results to dst.
func splitPiece(p piece, matches [][2]int, b behavior, invert bool, dst []piece) []piece {
	spans := coverSpans(len(p.text), matches, nil)
	if invert {
		invertSpans(spans)
	}
	for _, s := range applyBehavior(spans, b) {
		if s.end > s.start {
			dst = append(dst, piece{text: p.text[s.start:s.end], atStart: p.atStart && s.start == 0})
		}
	}
	return dst
}

// charMatches returns one single-character match for every rune of s that
// satisfies f, like the Rust Pattern implementation for closures.
func charMatches(s string, f func(rune) bool) [][2]int {
	var out [][2]int
	for i, r := range s {
		if f(r) {
			out = append(out, [2]int{i, i + utf8.RuneLen(r)})
		}
	}
	return out
}

// literalMatches returns the non-overlapping occurrences of lit in s, left to
// right. An empty literal matches the empty string at every character
// boundary, as the escaped regex would in Rust.
func literalMatches(s, lit string) [][2]int {
	var out [][2]int
	if lit == "" {
		for i := range s {
			out = append(out, [2]int{i, i})
		}
		return append(out, [2]int{len(s), len(s)})
	}
	for i := 0; i <= len(s)-len(lit); {
		j := strings.Index(s[i:], lit)
		if j < 0 {
			break
		}
		out = append(out, [2]int{i + j, i + j + len(lit)})
		i += j + len(lit)
	}
	return out
}
