package decoder

import "math"

// Processors are the logits processors transformers.js applies from a
// model's generation config, in its order: no-repeat n-grams, forced BOS,
// forced EOS. A negative token id (or a zero size) disables one.
type Processors struct {
	// NoRepeatNGram bans any token that would repeat an n-gram of this size
	// already in the id list (the decoder start token included).
	NoRepeatNGram int
	// ForcedBOS is the only token allowed while the id list has length 1.
	ForcedBOS int
	// ForcedEOS is the only token allowed when the id list has length
	// max_length − 1 (max_length = start + max new tokens).
	ForcedEOS int
}

// NoProcessors disables every processor.
var NoProcessors = Processors{ForcedBOS: -1, ForcedEOS: -1}

// apply edits one row of logits for the ids so far.
func (p Processors) apply(ids []int, maxLen int, logits []float32) {
	inf := float32(math.Inf(-1))
	if n := p.NoRepeatNGram; n > 0 && len(ids)+1 >= n {
		tail := ids[len(ids)-(n-1):]
		for j := 0; j+n <= len(ids); j++ {
			match := true
			for k := 0; k < n-1; k++ {
				if ids[j+k] != tail[k] {
					match = false
					break
				}
			}
			if match {
				logits[ids[j+n-1]] = inf
			}
		}
	}
	force := func(id int) {
		if id < 0 || id >= len(logits) {
			return
		}
		for i := range logits {
			logits[i] = inf
		}
		logits[id] = 0
	}
	if len(ids) == 1 {
		force(p.ForcedBOS)
	}
	if len(ids) == maxLen-1 {
		force(p.ForcedEOS)
	}
}
