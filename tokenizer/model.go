package tokenizer

import (
	"fmt"
	"math"
)

// model turns one pre-tokenized word into token ids.
type model interface {
	// tokenize appends the ids of word to dst; sc holds reusable buffers.
	tokenize(word string, dst []int, sc *scratch) ([]int, error)
	tokenToID(tok string) (int, bool)
	idToToken(id int) (string, bool)
	// vocabSize is the number of entries in the model vocabulary (what
	// Rust uses to number added tokens that are not in it).
	vocabSize() int
}

// vocabulary is a token↔id table shared by the BPE and WordLevel models.
type vocabulary struct {
	ids     map[string]int
	tokens  []string // dense id→token table, when ids are not too large
	present []bool   // present[id] is false for holes in tokens
	sparse  map[int]string
}

// maxDenseID bounds the id→token slice; vocabularies with larger ids fall
// back to a map so that a malformed file cannot make us allocate gigabytes.
const maxDenseID = 1 << 22

// newVocabulary builds the reverse table for ids. Rust keeps an arbitrary
// one of several tokens sharing an id; we keep the smallest string so that
// the choice is at least deterministic.
func newVocabulary(ids map[string]int) (*vocabulary, error) {
	v := &vocabulary{ids: ids}
	maxID := -1
	for tok, id := range ids {
		if id < 0 || id > math.MaxUint32 {
			return nil, fmt.Errorf("token %q has invalid id %d", tok, id)
		}
		maxID = max(maxID, id)
	}
	if maxID < maxDenseID {
		v.tokens = make([]string, maxID+1)
		v.present = make([]bool, maxID+1)
		for tok, id := range ids {
			if !v.present[id] || tok < v.tokens[id] {
				v.tokens[id] = tok
				v.present[id] = true
			}
		}
		return v, nil
	}
	v.sparse = make(map[int]string, len(ids))
	for tok, id := range ids {
		if old, ok := v.sparse[id]; !ok || tok < old {
			v.sparse[id] = tok
		}
	}
	return v, nil
}

func (v *vocabulary) tokenToID(tok string) (int, bool) {
	id, ok := v.ids[tok]
	return id, ok
}

func (v *vocabulary) idToToken(id int) (string, bool) {
	if v.sparse == nil {
		if id < 0 || id >= len(v.tokens) || !v.present[id] {
			return "", false
		}
		return v.tokens[id], true
	}
	tok, ok := v.sparse[id]
	return tok, ok
}

func (v *vocabulary) vocabSize() int { return len(v.ids) }

// scratch holds buffers reused while encoding one text.
type scratch struct {
	bpe bpeScratch
}

// wordLevel maps each word to its id, or to the unknown token.
type wordLevel struct {
	*vocabulary
	unk string
}

func (w *wordLevel) tokenize(word string, dst []int, _ *scratch) ([]int, error) {
	if id, ok := w.ids[word]; ok {
		return append(dst, id), nil
	}
	if id, ok := w.ids[w.unk]; ok {
		return append(dst, id), nil
	}
	return nil, fmt.Errorf("WordLevel: unknown token %q and no usable unk_token", word)
}
