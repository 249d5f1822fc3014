package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Specials holds the ids of the special tokens a runner needs. Each is -1
// (EOS: empty) when the configuration does not name it or the named token
// is not in the vocabulary.
type Specials struct {
	BOS int
	PAD int
	UNK int
	// EOS lists every id that ends generation: generation_config.json's
	// eos_token_id (an int or a list), else tokenizer_config.json's
	// eos_token.
	EOS []int
}

// Load loads a model folder: tokenizer.json plus tokenizer_config.json,
// generation_config.json and special_tokens_map.json when present. Special
// tokens are looked up by the names these files give.
func Load(dir string) (*Tokenizer, error) {
	t, err := LoadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return nil, err
	}
	var tc, stm, gc map[string]json.RawMessage
	for _, f := range []struct {
		name string
		dst  *map[string]json.RawMessage
	}{
		{"tokenizer_config.json", &tc},
		{"special_tokens_map.json", &stm},
		{"generation_config.json", &gc},
	} {
		data, err := os.ReadFile(filepath.Join(dir, f.name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			err = json.Unmarshal(data, f.dst)
		}
		if err != nil {
			return nil, fmt.Errorf("tokenizer: load %s: %w", filepath.Join(dir, f.name), err)
		}
	}
	if err := t.applyConfig(tc, stm, gc); err != nil {
		return nil, fmt.Errorf("tokenizer: load %s: %w", dir, err)
	}
	return t, nil
}

// applyConfig fills Specials and the named-token table from the parsed
// configuration files (any of which may be nil).
func (t *Tokenizer) applyConfig(tc, stm, gc map[string]json.RawMessage) error {
	t.config = map[string]string{}
	// special_tokens_map.json first, so tokenizer_config.json wins.
	for _, m := range []map[string]json.RawMessage{stm, tc} {
		for key, raw := range m {
			if key == "extra_special_tokens" {
				var extra map[string]json.RawMessage
				if json.Unmarshal(raw, &extra) == nil {
					for k, r := range extra {
						if s, ok := tokenString(r); ok {
							t.config[k] = s
						}
					}
				}
				continue
			}
			if !strings.HasSuffix(key, "_token") {
				continue
			}
			if s, ok := tokenString(raw); ok {
				t.config[key] = s
			}
		}
	}
	lookup := func(key string) int {
		if _, id, ok := t.ConfigToken(key); ok {
			return id
		}
		return -1
	}
	genID := func(key string) []int {
		ids, _ := intList(gc[key])
		return ids
	}
	if id := lookup("bos_token"); id >= 0 {
		t.specials.BOS = id
	} else if ids := genID("bos_token_id"); len(ids) > 0 {
		t.specials.BOS = ids[0]
	}
	if id := lookup("pad_token"); id >= 0 {
		t.specials.PAD = id
	} else if ids := genID("pad_token_id"); len(ids) > 0 {
		t.specials.PAD = ids[0]
	}
	if id := lookup("unk_token"); id >= 0 {
		t.specials.UNK = id
	}
	if raw, ok := gc["eos_token_id"]; ok && !isNull(raw) {
		ids, err := intList(raw)
		if err != nil {
			return fmt.Errorf("generation_config.json: eos_token_id: %w", err)
		}
		t.specials.EOS = ids
	} else if id := lookup("eos_token"); id >= 0 {
		t.specials.EOS = []int{id}
	}
	return nil
}

// ConfigKeys lists the keys ConfigToken knows, sorted.
func (t *Tokenizer) ConfigKeys() []string {
	keys := make([]string, 0, len(t.config))
	for k := range t.config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// tokenString reads a token given as a string or as an AddedToken object
// ({"content": ...}).
func tokenString(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, s != ""
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Content != nil && *obj.Content != "" {
		return *obj.Content, true
	}
	return "", false
}

// intList reads an int or a list of ints.
func intList(raw json.RawMessage) ([]int, error) {
	if isNull(raw) {
		return nil, nil
	}
	var one int
	if json.Unmarshal(raw, &one) == nil {
		return []int{one}, nil
	}
	var many []int
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("want an int or a list of ints: %w", err)
	}
	return many, nil
}
