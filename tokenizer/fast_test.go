package tokenizer

import (
	"slices"
	"testing"
	"unicode/utf8"
)

var fastPatterns = []string{gpt2Pattern, qwenPattern, llama3Pattern}

var fastEdgeCases = []string{
	"", " ", "  ", "a", " a", "  a", "a  ", "\n", "\r\n", " \n ", "\t\n\t", "x \n\n y", "  \r\n  z", "'s", "'S", "'ſ", "'Re",
	"'ll've'LL", "''s", "' s", "a's", "1234567", " 12", "a1b2", "..a", " .!?\n\n", "?\r\n\r\nx", "\u00a0a", "\u3000\u3000b",
	"\u2028", "x\u0085y", "'", "'l", "'r", "e\u0301", "\u0301a", "👍🏽 ok", "٣٤٥", " ⅫⅫ", "\t\tx", "end  ",
}

func checkFast(t *testing.T, s string) {
	t.Helper()
	for _, p := range fastPatterns {
		slow, err := compileRegexp2(p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := slow.findAll(s)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := fastFinder(p).findAll(s)
		if !slices.Equal(got, want) {
			t.Fatalf("pattern %q on %q:\n fast %v\n want %v", p, s, got, want)
		}
	}
}

// TestFastFinders compares the hand-written matchers with regexp2 on edge
// cases and on every input of the differential test.
func TestFastFinders(t *testing.T) {
	for _, s := range fastEdgeCases {
		checkFast(t, s)
	}
	for _, s := range loadStrings(t).Strings {
		checkFast(t, s)
	}
}

func FuzzFastFinders(f *testing.F) {
	for _, s := range fastEdgeCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		checkFast(t, s)
	})
}
