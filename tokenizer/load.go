package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"
)

// fileJSON is the top level of a tokenizer.json, with the model already
// parsed and the other components kept as raw JSON.
type fileJSON struct {
	AddedTokens   json.RawMessage
	Normalizer    json.RawMessage
	PreTokenizer  json.RawMessage
	PostProcessor json.RawMessage
	Decoder       json.RawMessage
	Model         *modelJSON
}

// modelJSON has the fields of the BPE and WordLevel models.
type modelJSON struct {
	Type                    *string
	Vocab                   map[string]int
	VocabIsObject           bool
	Merges                  [][2]string
	HasMerges               bool
	UnkToken                *string
	ContinuingSubwordPrefix *string
	EndOfWordSuffix         *string
	FuseUnk                 bool
	ByteFallback            bool
	IgnoreMerges            bool
	Dropout                 *float64
}

// LoadFile loads a tokenizer.json. Special-token ids from configuration
// files are not available this way (see Load); Specials reports only the
// model's unknown token.
func LoadFile(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: load %s: %w", path, err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: load %s: %w", path, err)
	}
	return t, nil
}

// Parse builds a Tokenizer from the contents of a tokenizer.json. Errors
// are not prefixed with the package name; LoadFile and Load add it.
func Parse(data []byte) (*Tokenizer, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("parse json: not valid UTF-8")
	}
	f, err := scanFile(data)
	if err != nil {
		return nil, fmt.Errorf("parse json: %w", err)
	}
	if f.Model == nil {
		return nil, fmt.Errorf("missing model")
	}
	t := &Tokenizer{specials: Specials{BOS: -1, PAD: -1, UNK: -1}}
	var unk string
	if t.model, unk, err = buildModel(f.Model); err != nil {
		return nil, err
	}
	if t.normalizer, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if t.pre, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if t.post, err = parsePostProcessor(f.PostProcessor); err != nil {
		return nil, err
	}
	if t.decoder, err = parseDecoder(f.Decoder); err != nil {
		return nil, err
	}
	var added []addedToken
	if !isNull(f.AddedTokens) {
		if err := json.Unmarshal(f.AddedTokens, &added); err != nil {
			return nil, fmt.Errorf("added_tokens: %w", err)
		}
	}
	if t.added, err = newAddedVocab(added, t.model, t.normalizer); err != nil {
		return nil, fmt.Errorf("added_tokens: %w", err)
	}
	if unk != "" {
		if id, ok := t.TokenID(unk); ok {
			t.specials.UNK = id
		}
	}
	return t, nil
}

// scanFile reads the top-level object, parsing the model on the way.
func scanFile(data []byte) (*fileJSON, error) {
	s := &jsonScanner{b: data}
	f := &fileJSON{}
	err := s.object(func(key string) error {
		var err error
		switch key {
		case "model":
			if s.peek() == 'n' {
				_, err = s.skip(0)
				return err
			}
			f.Model, err = scanModel(s)
			if err != nil {
				return fmt.Errorf("model: %w", err)
			}
			return nil
		case "added_tokens":
			f.AddedTokens, err = s.skip(0)
		case "normalizer":
			f.Normalizer, err = s.skip(0)
		case "pre_tokenizer":
			f.PreTokenizer, err = s.skip(0)
		case "post_processor":
			f.PostProcessor, err = s.skip(0)
		case "decoder":
			f.Decoder, err = s.skip(0)
		default:
			_, err = s.skip(0)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return f, s.end()
}

// scanModel reads the model object; vocab and merges are parsed directly,
// the small fields with encoding/json.
func scanModel(s *jsonScanner) (*modelJSON, error) {
	m := &modelJSON{}
	err := s.object(func(key string) error {
		switch key {
		case "vocab":
			if s.peek() != '{' {
				_, err := s.skip(0)
				return err
			}
			m.VocabIsObject = true
			return scanVocab(s, m)
		case "merges":
			if s.peek() == 'n' {
				_, err := s.skip(0)
				return err
			}
			m.HasMerges = true
			return scanMerges(s, m)
		}
		raw, err := s.skip(0)
		if err != nil {
			return err
		}
		field := map[string]any{
			"type": &m.Type, "unk_token": &m.UnkToken, "continuing_subword_prefix": &m.ContinuingSubwordPrefix,
			"end_of_word_suffix": &m.EndOfWordSuffix, "fuse_unk": &m.FuseUnk, "byte_fallback": &m.ByteFallback,
			"ignore_merges": &m.IgnoreMerges, "dropout": &m.Dropout,
		}[key]
		if field == nil {
			return nil
		}
		if err := json.Unmarshal(raw, field); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	})
	return m, err
}

// scanVocab reads a {"token": id} object.
func scanVocab(s *jsonScanner, m *modelJSON) error {
	m.Vocab = make(map[string]int, 1024)
	err := s.object(func(tok string) error {
		id, err := s.id()
		if err != nil {
			return err
		}
		m.Vocab[tok] = id
		return nil
	})
	if err != nil {
		return fmt.Errorf("vocab: %w", err)
	}
	return nil
}

// scanMerges reads merges given either as "a b" strings (skipping
// "#version" lines, as Rust does) or as ["a", "b"] pairs.
func scanMerges(s *jsonScanner, m *modelJSON) error {
	pairs := -1 // unknown until the first element
	err := s.array(func() error {
		isPair := s.peek() == '['
		if pairs == -1 {
			pairs = map[bool]int{false: 0, true: 1}[isPair]
		} else if isPair != (pairs == 1) {
			return s.errorf("merges mix strings and pairs")
		}
		if isPair {
			var p [2]string
			n := 0
			err := s.array(func() error {
				str, err := s.str()
				if err == nil && n < 2 {
					p[n] = str
				}
				n++
				return err
			})
			if err != nil {
				return err
			}
			if n != 2 {
				return s.errorf("merge %d has %d parts, want 2", len(m.Merges), n)
			}
			m.Merges = append(m.Merges, p)
			return nil
		}
		line, err := s.str()
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "#version") {
			return nil
		}
		a, b, ok := strings.Cut(line, " ")
		if !ok || strings.Contains(b, " ") {
			return s.errorf("merge %q is not two space-separated tokens", line)
		}
		m.Merges = append(m.Merges, [2]string{a, b})
		return nil
	})
	if err != nil {
		return fmt.Errorf("merges: %w", err)
	}
	return nil
}

// buildModel builds the model and returns its unknown-token string.
func buildModel(m *modelJSON) (model, string, error) {
	typ := ""
	if m.Type != nil {
		typ = *m.Type
	} else if m.HasMerges {
		typ = "BPE" // Rust accepts an untagged BPE model
	}
	unk := ""
	if m.UnkToken != nil {
		unk = *m.UnkToken
	}
	switch typ {
	case "BPE", "WordLevel":
		if !m.VocabIsObject {
			return nil, "", fmt.Errorf("model %s: vocab must be an object", typ)
		}
	case "":
		return nil, "", fmt.Errorf("model: missing type")
	default:
		return nil, "", fmt.Errorf("model type %q is not supported (only BPE and WordLevel are)", typ)
	}
	if typ == "BPE" {
		b, err := buildBPE(m)
		if err != nil {
			return nil, "", fmt.Errorf("model BPE: %w", err)
		}
		return b, unk, nil
	}
	v, err := newVocabulary(m.Vocab)
	if err != nil {
		return nil, "", fmt.Errorf("model WordLevel: %w", err)
	}
	if m.UnkToken == nil {
		unk = "<unk>" // the Rust default
	}
	return &wordLevel{vocabulary: v, unk: unk}, unk, nil
}

// buildBPE checks and indexes a BPE model like Rust's BpeBuilder.
func buildBPE(m *modelJSON) (*bpe, error) {
	if m.Dropout != nil && *m.Dropout > 0 {
		return nil, fmt.Errorf("dropout %v is not supported", *m.Dropout)
	}
	vocab, merges := m.Vocab, m.Merges
	v, err := newVocabulary(vocab)
	if err != nil {
		return nil, err
	}
	b := &bpe{
		vocabulary:   v,
		merges:       make(map[uint64]uint64, len(merges)),
		fuseUnk:      m.FuseUnk,
		byteFallback: m.ByteFallback,
		ignoreMerges: m.IgnoreMerges,
	}
	if m.UnkToken != nil {
		b.unk, b.hasUnk = *m.UnkToken, true
	}
	if m.ContinuingSubwordPrefix != nil {
		b.prefix = *m.ContinuingSubwordPrefix
	}
	if m.EndOfWordSuffix != nil {
		b.suffix = *m.EndOfWordSuffix
	}
	for i := range b.byteIDs {
		b.byteIDs[i] = -1
		if id, ok := vocab[fmt.Sprintf("<0x%02X>", i)]; ok {
			b.byteIDs[i] = id
		}
	}
	b.indexChars()
	for rank, mg := range merges {
		a, ok1 := vocab[mg[0]]
		c, ok2 := vocab[mg[1]]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("merge %d (%q %q): token not in vocab", rank, mg[0], mg[1])
		}
		if len(mg[1]) < len(b.prefix) {
			return nil, fmt.Errorf("merge %d (%q %q): second token shorter than the subword prefix", rank, mg[0], mg[1])
		}
		merged := mg[0] + mg[1][len(b.prefix):]
		id, ok := vocab[merged]
		if !ok {
			return nil, fmt.Errorf("merge %d (%q %q): result %q not in vocab", rank, mg[0], mg[1], merged)
		}
		b.merges[pairKey(a, c)] = uint64(rank)<<32 | uint64(uint32(id))
	}
	return b, nil
}
