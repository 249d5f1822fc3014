package tokenizer

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalidUTF8 is returned by Encode for input that is not valid UTF-8.
var ErrInvalidUTF8 = errors.New("input is not valid UTF-8")

// Tokenizer encodes text to token ids and back, following a Hugging Face
// tokenizer.json exactly like the Rust tokenizers crate. It is safe for
// concurrent use.
type Tokenizer struct {
	model      model
	normalizer normalizer
	pre        preTokenizer
	post       postProcessor
	decoder    decoder
	added      *addedVocab
	specials   Specials
	config     map[string]string // string-valued *_token entries of the configs
}

// Encode returns the token ids of text. With addSpecial, the post-processor
// adds its special tokens (for example a BOS token); special tokens written
// in text are always recognised.
func (t *Tokenizer) Encode(text string, addSpecial bool) ([]int, error) {
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("tokenizer: encode: %w", ErrInvalidUTF8)
	}
	ids, err := t.encode(text)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: encode: %w", err)
	}
	if t.post != nil {
		ids = t.post.process(ids, addSpecial)
	}
	return ids, nil
}

// EncodePair encodes two sequences as one input (as for sentence-pair
// models): each is tokenized separately, then the post-processor's pair
// template joins them; without special tokens they are concatenated.
func (t *Tokenizer) EncodePair(a, b string, addSpecial bool) ([]int, error) {
	if !utf8.ValidString(a) || !utf8.ValidString(b) {
		return nil, fmt.Errorf("tokenizer: encode: %w", ErrInvalidUTF8)
	}
	ia, err := t.encode(a)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: encode: %w", err)
	}
	ib, err := t.encode(b)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: encode: %w", err)
	}
	if t.post == nil {
		return append(ia, ib...), nil
	}
	return t.post.processPair(ia, ib, addSpecial), nil
}

// encode runs added-token extraction, normalization, pre-tokenization and
// the model, without post-processing.
func (t *Tokenizer) encode(text string) ([]int, error) {
	segs := t.added.split(t.added.raw, text, true, make([]segment, 0, 4))
	var parts []segment
	for _, s := range segs {
		if s.id >= 0 {
			parts = append(parts, s)
			continue
		}
		norm, atStart := s.text, s.atStart
		if t.normalizer != nil {
			var err error
			if norm, atStart, err = t.normalizer.normalize(norm, atStart); err != nil {
				return nil, err
			}
		}
		parts = t.added.split(t.added.norm, norm, atStart, parts)
	}
	ids := make([]int, 0, len(text)/3+4)
	var words []piece
	var sc scratch
	for _, s := range parts {
		if s.id >= 0 {
			ids = append(ids, s.id)
			continue
		}
		p := piece{text: s.text, atStart: s.atStart}
		words = words[:0]
		if t.pre != nil {
			var err error
			if words, err = t.pre.preTokenize(p, words); err != nil {
				return nil, err
			}
		} else {
			words = append(words, p)
		}
		for _, w := range words {
			var err error
			if ids, err = t.model.tokenize(w.text, ids, &sc); err != nil {
				return nil, err
			}
		}
	}
	return ids, nil
}

// Decode turns ids back into text. Ids that are not in the vocabulary are
// skipped, as in Rust; with skipSpecial, special tokens are skipped too.
// Without a decoder the tokens are joined with single spaces.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) (string, error) {
	tokens := make([]string, 0, len(ids))
	for _, id := range ids {
		tok, ok := t.IDToken(id)
		if !ok || (skipSpecial && t.added.special[tok]) {
			continue
		}
		tokens = append(tokens, tok)
	}
	if t.decoder == nil {
		return strings.Join(tokens, " "), nil
	}
	return strings.Join(t.decoder.decodeChain(tokens), ""), nil
}

// TokenID returns the id of a token string (added tokens first, then the
// model vocabulary).
func (t *Tokenizer) TokenID(tok string) (int, bool) {
	if id, ok := t.added.byContent[tok]; ok {
		return id, true
	}
	return t.model.tokenToID(tok)
}

// IDToken returns the token string of an id.
func (t *Tokenizer) IDToken(id int) (string, bool) {
	if tok, ok := t.added.text[id]; ok {
		return tok, true
	}
	return t.model.idToToken(id)
}

// IsSpecial reports whether id is a special token (one that Decode skips
// with skipSpecial).
func (t *Tokenizer) IsSpecial(id int) bool {
	tok, ok := t.IDToken(id)
	return ok && t.added.special[tok]
}

// VocabSize returns the number of ids in use: the model vocabulary plus
// added tokens that are not part of it.
func (t *Tokenizer) VocabSize() int {
	n := t.model.vocabSize()
	for tok := range t.added.byContent {
		if _, ok := t.model.tokenToID(tok); !ok {
			n++
		}
	}
	return n
}

// Specials returns the special-token ids read from the configuration files.
func (t *Tokenizer) Specials() Specials {
	s := t.specials
	s.EOS = append([]int(nil), s.EOS...)
	return s
}

// ConfigToken looks up a token named in tokenizer_config.json or
// special_tokens_map.json by its key, such as "image_token" or "boi_token",
// and returns its string and id.
func (t *Tokenizer) ConfigToken(key string) (string, int, bool) {
	tok, ok := t.config[key]
	if !ok {
		return "", -1, false
	}
	id, ok := t.TokenID(tok)
	if !ok {
		return tok, -1, false
	}
	return tok, id, true
}
