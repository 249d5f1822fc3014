package tokenizer

// postProcessor adds the special tokens a model expects around a sequence.
type postProcessor interface {
	process(ids []int, addSpecial bool) []int
}

// templatePost follows a TemplateProcessing "single" template: a list of
// special-token id lists and one slot ($A) for the sequence.
type templatePost struct {
	// items holds, in order, the ids to insert; a nil item is the sequence.
	items [][]int
}

func (t *templatePost) process(ids []int, addSpecial bool) []int {
	if !addSpecial {
		return ids
	}
	n := len(ids)
	for _, it := range t.items {
		n += len(it)
	}
	out := make([]int, 0, n)
	for _, it := range t.items {
		if it == nil {
			out = append(out, ids...)
		} else {
			out = append(out, it...)
		}
	}
	return out
}

// noopPost is the ByteLevel post-processor: it only trims offsets, which
// this package does not track.
type noopPost struct{}

func (noopPost) process(ids []int, _ bool) []int { return ids }

// sequencePost applies post-processors in order.
type sequencePost []postProcessor

func (seq sequencePost) process(ids []int, addSpecial bool) []int {
	for _, p := range seq {
		ids = p.process(ids, addSpecial)
	}
	return ids
}
