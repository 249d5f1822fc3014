package tokenizer

import (
	"path/filepath"
	"testing"
)

// benchTokenizer loads a big tokenizer file fetched by
// scripts/setup-tokenizer-ref.sh, or skips.
func benchTokenizer(b *testing.B, name string) *Tokenizer {
	b.Helper()
	path, ok := refTokenizerPath("files:" + name)
	if !ok {
		b.Skipf("%s not present; run scripts/setup-tokenizer-ref.sh", path)
	}
	tk, err := LoadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return tk
}

// BenchmarkLoad measures loading tokenizer.json files, the 11 MB Qwen3 one
// and the largest, Gemma-3's 33 MB.
func BenchmarkLoad(b *testing.B) {
	for _, name := range []string{"qwen3", "gemma3"} {
		b.Run(name, func(b *testing.B) {
			path, ok := refTokenizerPath("files:" + name)
			if !ok {
				b.Skipf("%s not present; run scripts/setup-tokenizer-ref.sh", path)
			}
			for b.Loop() {
				if _, err := LoadFile(path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncode encodes the ~1,000-character chat prompt of
// testdata/strings.json.
func BenchmarkEncode(b *testing.B) {
	prompt := loadStrings(b).ChatPrompt
	names := []string{"qwen3", "llama3", "gemma3", "llama2", "smollm_like"}
	for _, name := range names {
		b.Run(name, func(b *testing.B) {
			tk := benchTokenizer(b, name)
			b.SetBytes(int64(len(prompt)))
			for b.Loop() {
				if _, err := tk.Encode(prompt, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("wordlevel_ws", func(b *testing.B) {
		tk, err := LoadFile(filepath.Join("testdata", "tokenizers", "wordlevel_ws.json"))
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := tk.Encode(prompt, true); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecode decodes the ids of the chat prompt.
func BenchmarkDecode(b *testing.B) {
	prompt := loadStrings(b).ChatPrompt
	for _, name := range []string{"qwen3", "llama2"} {
		b.Run(name, func(b *testing.B) {
			tk := benchTokenizer(b, name)
			ids, err := tk.Encode(prompt, true)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := tk.Decode(ids, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
