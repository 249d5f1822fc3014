package tokenizer

// postProcessor adds the special tokens a model expects around one
// sequence, or around a pair of sequences.
type postProcessor interface {
	process(ids []int, addSpecial bool) []int
	processPair(a, b []int, addSpecial bool) []int
}

// templatePost follows a TemplateProcessing template (or the fixed layout
// of BertProcessing/RobertaProcessing): a list of special-token id lists and
// slots for the sequences.
type templatePost struct {
	single, pair []templateItem
}

// templateItem is either a run of special-token ids or a sequence slot
// ('A' or 'B').
type templateItem struct {
	ids []int
	seq byte
}

func (t *templatePost) process(ids []int, addSpecial bool) []int {
	if !addSpecial {
		return ids
	}
	return fillTemplate(t.single, ids, nil)
}

func (t *templatePost) processPair(a, b []int, addSpecial bool) []int {
	if !addSpecial {
		return append(append([]int{}, a...), b...)
	}
	return fillTemplate(t.pair, a, b)
}

func fillTemplate(items []templateItem, a, b []int) []int {
	out := make([]int, 0, len(a)+len(b)+8)
	for _, it := range items {
		switch it.seq {
		case 'A':
			out = append(out, a...)
		case 'B':
			out = append(out, b...)
		default:
			out = append(out, it.ids...)
		}
	}
	return out
}

// noopPost is the ByteLevel post-processor: it only trims offsets, which
// this package does not track.
type noopPost struct{}

func (noopPost) process(ids []int, _ bool) []int { return ids }

func (noopPost) processPair(a, b []int, _ bool) []int {
	return append(append([]int{}, a...), b...)
}

// sequencePost applies post-processors in order. As in Rust, the first one
// that joins a pair does so; later ones see a single sequence.
type sequencePost []postProcessor

func (seq sequencePost) process(ids []int, addSpecial bool) []int {
	for _, p := range seq {
		ids = p.process(ids, addSpecial)
	}
	return ids
}

func (seq sequencePost) processPair(a, b []int, addSpecial bool) []int {
	for i, p := range seq {
		if _, ok := p.(noopPost); ok {
			continue
		}
		return sequencePost(seq[i+1:]).process(p.processPair(a, b, addSpecial), addSpecial)
	}
	return append(append([]int{}, a...), b...)
}
