package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// fileJSON is the top level of a tokenizer.json.
type fileJSON struct {
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

// modelJSON has the fields of the BPE and WordLevel models.
type modelJSON struct {
	Type                    *string         `json:"type"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	Dropout                 *float64        `json:"dropout"`
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
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse json: %w", err)
	}
	if isNull(f.Model) {
		return nil, fmt.Errorf("missing model")
	}
	t := &Tokenizer{specials: Specials{BOS: -1, PAD: -1, UNK: -1}}
	var err error
	var unk string
	if t.model, unk, err = parseModel(f.Model); err != nil {
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
	if t.added, err = newAddedVocab(f.AddedTokens, t.model, t.normalizer); err != nil {
		return nil, fmt.Errorf("added_tokens: %w", err)
	}
	if unk != "" {
		if id, ok := t.TokenID(unk); ok {
			t.specials.UNK = id
		}
	}
	return t, nil
}

// parseModel builds the model and returns its unknown-token string.
func parseModel(raw json.RawMessage) (model, string, error) {
	var m modelJSON
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "", fmt.Errorf("model: %w", err)
	}
	typ := ""
	if m.Type != nil {
		typ = *m.Type
	} else if !isNull(m.Merges) {
		typ = "BPE" // Rust accepts an untagged BPE model
	}
	unk := ""
	if m.UnkToken != nil {
		unk = *m.UnkToken
	}
	switch typ {
	case "BPE":
		b, err := buildBPE(&m)
		if err != nil {
			return nil, "", fmt.Errorf("model BPE: %w", err)
		}
		return b, unk, nil
	case "WordLevel":
		vocab, err := parseVocab(m.Vocab)
		if err != nil {
			return nil, "", fmt.Errorf("model WordLevel: %w", err)
		}
		v, err := newVocabulary(vocab)
		if err != nil {
			return nil, "", fmt.Errorf("model WordLevel: %w", err)
		}
		if m.UnkToken == nil {
			unk = "<unk>" // the Rust default
		}
		return &wordLevel{vocabulary: v, unk: unk}, unk, nil
	case "":
		return nil, "", fmt.Errorf("model: missing type")
	}
	return nil, "", fmt.Errorf("model type %q is not supported (only BPE and WordLevel are)", typ)
}

// parseVocab decodes a {"token": id} object.
func parseVocab(raw json.RawMessage) (map[string]int, error) {
	if isNull(raw) {
		return nil, fmt.Errorf("missing vocab")
	}
	var vocab map[string]int
	if err := json.Unmarshal(raw, &vocab); err != nil {
		return nil, fmt.Errorf("vocab: %w", err)
	}
	return vocab, nil
}

// parseMerges decodes merges given either as "a b" strings or as ["a", "b"]
// pairs.
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		rest := bytes.TrimLeft(trimmed[1:], " \t\r\n")
		if len(rest) > 0 && rest[0] == '[' {
			var pairs [][]string
			if err := json.Unmarshal(raw, &pairs); err != nil {
				return nil, fmt.Errorf("merges: %w", err)
			}
			out := make([][2]string, len(pairs))
			for i, p := range pairs {
				if len(p) != 2 {
					return nil, fmt.Errorf("merges: entry %d has %d parts, want 2", i, len(p))
				}
				out[i] = [2]string{p[0], p[1]}
			}
			return out, nil
		}
	}
	var lines []string
	if err := json.Unmarshal(raw, &lines); err != nil {
		return nil, fmt.Errorf("merges: %w", err)
	}
	out := make([][2]string, 0, len(lines))
	for i, l := range lines {
		if strings.HasPrefix(l, "#version") {
			continue
		}
		a, b, ok := strings.Cut(l, " ")
		if !ok || strings.Contains(b, " ") {
			return nil, fmt.Errorf("merges: entry %d (%q) is not two space-separated tokens", i, l)
		}
		out = append(out, [2]string{a, b})
	}
	return out, nil
}

// buildBPE checks and indexes a BPE model like Rust's BpeBuilder.
func buildBPE(m *modelJSON) (*bpe, error) {
	if m.Dropout != nil && *m.Dropout > 0 {
		return nil, fmt.Errorf("dropout %v is not supported", *m.Dropout)
	}
	vocab, err := parseVocab(m.Vocab)
	if err != nil {
		return nil, err
	}
	merges, err := parseMerges(m.Merges)
	if err != nil {
		return nil, err
	}
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
