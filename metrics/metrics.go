// Package metrics scores generated captions against reference captions with
// the two standard captioning metrics, following the definitions of the
// COCO caption evaluation code (pycocoevalcap):
//
//   - BLEU-4 (Papineni et al., 2002): corpus-level, clipped n-gram
//     precisions for n = 1..4 summed over the corpus, geometric mean with
//     uniform weights, times the brevity penalty exp(1 − r/c) when the
//     candidate length c is below the effective reference length r. r is
//     the sum over captions of the reference length closest to the
//     candidate's (ties to the shorter), as pycocoevalcap's "closest"
//     option. No smoothing: a corpus with no matching 4-gram scores 0.
//   - CIDEr-D (Vedantam et al., 2015): TF-IDF weighted n-gram vectors
//     (n = 1..4) with document frequencies counted over the references of
//     the scored corpus, clipped cosine similarity, a Gaussian length
//     penalty with σ = 6, the mean over n, the mean over references, times
//     10; the corpus score is the mean over images.
//
// Both take captions already split into tokens; Tokenize gives the
// tokenization used by vlmrun (lower case, punctuation removed).
package metrics

import (
	"strings"
	"unicode"
)

// Tokenize lower-cases s and splits it into words: runs of letters and
// digits, with an apostrophe allowed inside a word ("don't"). Every other
// character separates words and is dropped, as the COCO evaluation drops
// punctuation tokens after its PTB tokenizer. It is a simplification of
// that tokenizer: "don't" stays one token where PTB makes "do" "n't".
func Tokenize(s string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			out = append(out, strings.TrimRight(b.String(), "'"))
			b.Reset()
		}
	}
	for _, r := range strings.ToLower(s) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		case (r == '\'' || r == '’') && b.Len() > 0:
			b.WriteRune('\'')
		default:
			flush()
		}
	}
	flush()
	return out
}

// ngram is an n-gram joined with a separator that Tokenize never emits.
type ngram = string

const sep = "\x00"

// counts returns the n-gram counts of words for n = 1..maxN, indexed by
// n−1.
func counts(words []string, maxN int) []map[ngram]int {
	c := make([]map[ngram]int, maxN)
	for n := 1; n <= maxN; n++ {
		m := map[ngram]int{}
		for i := 0; i+n <= len(words); i++ {
			m[strings.Join(words[i:i+n], sep)]++
		}
		c[n-1] = m
	}
	return c
}
