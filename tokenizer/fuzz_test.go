package tokenizer

import (
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds arbitrary bytes to Parse: malformed tokenizer.json must
// give an error, never a panic. Whatever loads must encode and decode
// without panicking too.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"wordlevel_ws", "wordlevel_punct", "bpe_prefix", "bpe_suffix"} {
		data, err := os.ReadFile(filepath.Join("testdata", "tokenizers", name+".json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<0x41>": 3}, "merges": [["a", "b"]], "byte_fallback": true, "unk_token": "?"},
		"added_tokens": [{"id": 9, "content": "<x>", "lstrip": true, "rstrip": true, "single_word": true, "normalized": true, "special": true}],
		"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Prepend", "prepend": "_"}]},
		"pre_tokenizer": {"type": "Metaspace", "replacement": "_", "prepend_scheme": "first", "split": true},
		"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>"}}, {"Sequence": {"id": "A"}}], "special_tokens": {"<x>": {"ids": [9]}}},
		"decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Strip", "content": "_", "start": 3, "stop": 2}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := Parse(data)
		if err != nil {
			return
		}
		for _, s := range []string{"", "ab a <x>b", " \t\n中😀\u0301", "<0x41>"} {
			ids, err := tk.Encode(s, true)
			if err != nil {
				continue
			}
			if _, err := tk.Decode(append(ids, -1, 1<<31), false); err != nil {
				t.Fatalf("Decode: %v", err)
			}
		}
	})
}

// fuzzTokenizers are lossless: decode(encode(s)) == s for any valid UTF-8.
var fuzzTokenizers = []string{"gpt2_small", "smollm_small"}

// FuzzEncode checks that encoding never panics or fails on valid UTF-8,
// that byte-level tokenizers round-trip, and that streaming gives the same
// text as decoding at once.
func FuzzEncode(f *testing.F) {
	for _, s := range loadStrings(f).Strings[:200] {
		f.Add(s)
	}
	tks := map[string]*Tokenizer{}
	for _, name := range append(fuzzTokenizers, "llama_legacy_small", "bytelevel_prefix", "wordlevel_punct", "metaspace_split_unk") {
		tks[name] = loadTestFile(f, name)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			if _, err := tks["gpt2_small"].Encode(s, false); err == nil {
				t.Fatal("Encode accepted invalid UTF-8")
			}
			return
		}
		for name, tk := range tks {
			ids, err := tk.Encode(s, true)
			if err != nil {
				t.Fatalf("%s: Encode(%q): %v", name, s, err)
			}
			dec, err := tk.Decode(ids, false)
			if err != nil {
				t.Fatalf("%s: Decode: %v", name, err)
			}
			if got := streamAll(t, tk, ids, false); got != dec {
				t.Fatalf("%s: stream %q != decode %q", name, got, dec)
			}
			for _, lossless := range fuzzTokenizers {
				if name == lossless && dec != s {
					t.Fatalf("%s: decode(encode(%q)) = %q", name, s, dec)
				}
			}
		}
	})
}

// FuzzDecode decodes arbitrary id sequences, at once and streamed.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 250, 251, 252})
	f.Add([]byte{7, 7, 7, 0xff, 0xff})
	tks := []*Tokenizer{loadTestFile(f, "llama_legacy_small"), loadTestFile(f, "gpt2_small"), loadTestFile(f, "wordlevel_ws")}
	f.Fuzz(func(t *testing.T, data []byte) {
		ids := make([]int, 0, len(data)/2)
		for i := 0; i+1 < len(data); i += 2 {
			ids = append(ids, int(data[i])<<8|int(data[i+1])-64)
		}
		for _, tk := range tks {
			for _, skip := range []bool{false, true} {
				dec, err := tk.Decode(ids, skip)
				if err != nil {
					t.Fatal(err)
				}
				if got := streamAll(t, tk, ids, skip); got != dec && utf8.ValidString(dec) && !containsReplacement(dec) {
					t.Fatalf("stream %q != decode %q", got, dec)
				}
			}
		}
	})
}

func containsReplacement(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError {
			return true
		}
	}
	return false
}
