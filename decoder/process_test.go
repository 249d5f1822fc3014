package decoder

import (
	"math"
	"testing"
)

// TestProcessors checks the no-repeat n-gram ban and the forced tokens
// against hand-worked cases (transformers.js's processors).
func TestProcessors(t *testing.T) {
	inf := float32(math.Inf(-1))
	cases := []struct {
		name   string
		p      Processors
		ids    []int
		maxLen int
		banned []int // ids that must be -inf
		only   int   // if >= 0, the only allowed id
	}{
		{"ngram3 bans the token after a repeated bigram", Processors{NoRepeatNGram: 3, ForcedBOS: -1, ForcedEOS: -1},
			[]int{2, 5, 6, 7, 5, 6}, 20, []int{7}, -1},
		{"ngram3 with two continuations", Processors{NoRepeatNGram: 3, ForcedBOS: -1, ForcedEOS: -1},
			[]int{5, 6, 1, 5, 6, 3, 5, 6}, 20, []int{1, 3}, -1},
		{"ngram3 too short", Processors{NoRepeatNGram: 3, ForcedBOS: -1, ForcedEOS: -1}, []int{5}, 20, nil, -1},
		{"ngram1 bans every seen id", Processors{NoRepeatNGram: 1, ForcedBOS: -1, ForcedEOS: -1},
			[]int{2, 4}, 20, []int{2, 4}, -1},
		{"forced BOS at length 1", Processors{ForcedBOS: 0, ForcedEOS: 2}, []int{2}, 20, nil, 0},
		{"forced EOS at max_length-1", Processors{ForcedBOS: 0, ForcedEOS: 2}, []int{2, 0, 7}, 4, nil, 2},
		{"nothing forced in between", Processors{ForcedBOS: 0, ForcedEOS: 2}, []int{2, 0}, 4, nil, -1},
	}
	for _, c := range cases {
		logits := make([]float32, 10)
		for i := range logits {
			logits[i] = float32(i)
		}
		c.p.apply(c.ids, c.maxLen, logits)
		for _, b := range c.banned {
			if logits[b] != inf {
				t.Errorf("%s: id %d not banned: %v", c.name, b, logits)
			}
		}
		nBanned := 0
		for _, v := range logits {
			if v == inf {
				nBanned++
			}
		}
		switch {
		case c.only >= 0 && (logits[c.only] != 0 || nBanned != len(logits)-1):
			t.Errorf("%s: want only %d allowed: %v", c.name, c.only, logits)
		case c.only < 0 && nBanned != len(c.banned):
			t.Errorf("%s: %d banned, want %d: %v", c.name, nBanned, len(c.banned), logits)
		}
	}
}
