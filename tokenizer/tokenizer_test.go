package tokenizer

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func loadTestFile(t testing.TB, name string) *Tokenizer {
	t.Helper()
	tk, err := LoadFile(filepath.Join("testdata", "tokenizers", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestWordLevelWhitespace pins the behaviour of the project's own kind of
// tokenizer: WordLevel, WhitespaceSplit, no decoder (tokens joined with one
// space), TemplateProcessing adding <bos> ... <eos>.
func TestWordLevelWhitespace(t *testing.T) {
	tk := loadTestFile(t, "wordlevel_ws")
	tests := []struct {
		text    string
		special bool
		want    []int
		decoded string
	}{
		{"a photo of a cat", false, []int{5, 8, 9, 5, 10}, "a photo of a cat"},
		{"a photo of a cat", true, []int{1, 5, 8, 9, 5, 10, 2}, "<bos> a photo of a cat <eos>"},
		{"  a\t\nphoto  ", false, []int{5, 8}, "a photo"},
		{"<image><image> describe", true, []int{1, 4, 4, 19, 2}, "<bos> <image> <image> describe <eos>"},
		{"zebra a", false, []int{3, 5}, "<unk> a"},
		{"", true, []int{1, 2}, "<bos> <eos>"},
	}
	for _, tc := range tests {
		got, err := tk.Encode(tc.text, tc.special)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q, %v) = %v, %v; want %v", tc.text, tc.special, got, err, tc.want)
			continue
		}
		if dec, err := tk.Decode(got, false); err != nil || dec != tc.decoded {
			t.Errorf("Decode(%v) = %q, %v; want %q", got, dec, err, tc.decoded)
		}
	}
	if dec, _ := tk.Decode([]int{1, 5, 4, 8, 2}, true); dec != "a photo" {
		t.Errorf("Decode(skip special) = %q; want %q", dec, "a photo")
	}
}

func TestLoadModelFolder(t *testing.T) {
	tk, err := Load(filepath.Join("..", "models", "scenes-tiny"))
	if err != nil {
		t.Fatalf("the committed embedded model's tokenizer does not load: %v", err)
	}
	sp := tk.Specials()
	if sp.BOS != 1 || sp.PAD != 0 || !slices.Equal(sp.EOS, []int{2}) {
		t.Errorf("Specials() = %+v; want BOS 1, PAD 0, EOS [2]", sp)
	}
	if tok, id, ok := tk.ConfigToken("image_token"); !ok || tok != "<image>" || id < 0 {
		t.Errorf("ConfigToken(image_token) = %q, %d, %v", tok, id, ok)
	}
}

func TestSpecialsFromConfig(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "tokenizers", "wordlevel_ws.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		files  map[string]string
		want   Specials
		wantIm int
	}{
		{"eos list in generation_config", map[string]string{
			"tokenizer_config.json":  `{"bos_token": {"content": "<bos>", "lstrip": false}, "eos_token": "<eos>", "pad_token": null, "image_token": "<image>"}`,
			"generation_config.json": `{"eos_token_id": [2, 4]}`,
		}, Specials{BOS: 1, PAD: -1, UNK: 3, EOS: []int{2, 4}}, 4},
		{"eos from tokenizer_config", map[string]string{
			"tokenizer_config.json": `{"eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}`,
		}, Specials{BOS: -1, PAD: 0, UNK: 3, EOS: []int{2}}, -1},
		{"special_tokens_map only", map[string]string{
			"special_tokens_map.json": `{"bos_token": "<bos>", "eos_token": {"content": "<eos>"}, "additional_special_tokens": ["<image>"]}`,
		}, Specials{BOS: 1, PAD: -1, UNK: 3, EOS: []int{2}}, -1},
		{"ids from generation_config", map[string]string{
			"generation_config.json": `{"bos_token_id": 1, "pad_token_id": 0, "eos_token_id": 2}`,
		}, Specials{BOS: 1, PAD: 0, UNK: 3, EOS: []int{2}}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{"tokenizer.json": string(src)}
			for k, v := range tc.files {
				files[k] = v
			}
			for name, data := range files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tk, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			got := tk.Specials()
			if got.BOS != tc.want.BOS || got.PAD != tc.want.PAD || got.UNK != tc.want.UNK || !slices.Equal(got.EOS, tc.want.EOS) {
				t.Errorf("Specials() = %+v; want %+v", got, tc.want)
			}
			_, id, _ := tk.ConfigToken("image_token")
			if id != tc.wantIm {
				t.Errorf("ConfigToken(image_token) id = %d; want %d", id, tc.wantIm)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	wl := `"model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}`
	tests := []struct {
		name, json, want string
	}{
		{"not json", `{`, "parse json"},
		{"no model", `{"added_tokens": []}`, "missing model"},
		{"unigram", `{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}`, `model type "Unigram" is not supported`},
		{"wordpiece", `{"model": {"type": "WordPiece", "vocab": {"a": 0}}}`, `model type "WordPiece" is not supported`},
		{"merge not in vocab", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}`, "not in vocab"},
		{"bad merge line", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b c"]}}`, "not two space-separated"},
		{"negative id", `{"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}}`, "invalid id"},
		{"dropout", `{"model": {"type": "BPE", "dropout": 0.1, "vocab": {"a": 0}, "merges": []}}`, "dropout"},
		{"unknown normalizer", `{"normalizer": {"type": "Precompiled"}, ` + wl + `}`, `normalizer "Precompiled" is not supported`},
		{"unknown pre-tokenizer", `{"pre_tokenizer": {"type": "UnicodeScripts"}, ` + wl + `}`, `pre_tokenizer "UnicodeScripts" is not supported`},
		{"bad regex", `{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "("}, "behavior": "Isolated"}, ` + wl + `}`, "compile regex"},
		{"bad behavior", `{"pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"}, ` + wl + `}`, "unknown split behavior"},
		{"missing template token", `{"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}], "special_tokens": {}}, ` + wl + `}`, "missing special token"},
		{"unknown decoder", `{"decoder": {"type": "CTC"}, ` + wl + `}`, `decoder "CTC" is not supported`},
		{"bad strip content", `{"decoder": {"type": "Strip", "content": "ab", "start": 1, "stop": 0}, ` + wl + `}`, "want one character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse() error = %v; want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := LoadFile(filepath.Join("testdata", "no-such-file.json")); err == nil || !strings.HasPrefix(err.Error(), "tokenizer: load ") {
		t.Errorf("LoadFile(missing) error = %v; want a \"tokenizer: load\" error", err)
	}
}

func TestEncodeInvalidUTF8(t *testing.T) {
	tk := loadTestFile(t, "gpt2_small")
	if _, err := tk.Encode("ok \xff", false); !errors.Is(err, ErrInvalidUTF8) {
		t.Errorf("Encode(invalid UTF-8) error = %v; want ErrInvalidUTF8", err)
	}
}

// TestLossy pins Rust's String::from_utf8_lossy: one U+FFFD per maximal
// invalid subsequence.
func TestLossy(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", "abc"},
		{"\xe2\x82", "\ufffd"},
		{"\xe2\x82A", "\ufffdA"},
		{"\xf0\x90\x80", "\ufffd"},
		{"\xf0\x90\x80\xf0\x90\x80\x80", "\ufffd𐀀"},
		{"\xc0\x80", "\ufffd\ufffd"},
		{"\xed\xa0\x80", "\ufffd\ufffd\ufffd"},
		{"\xe0\x80\x80", "\ufffd\ufffd\ufffd"},
		{"\xf4\x90\x80\x80", "\ufffd\ufffd\ufffd\ufffd"},
		{"\xff中", "\ufffd中"},
	}
	for _, tc := range tests {
		if got := lossyString([]byte(tc.in)); got != tc.want {
			t.Errorf("lossyString(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestSplitBehaviors(t *testing.T) {
	// "a--b-c" split on '-'.
	text := "a--b-c"
	matches := charMatches(text, func(r rune) bool { return r == '-' })
	tests := []struct {
		b      behavior
		invert bool
		want   []string
	}{
		{behaviorRemoved, false, []string{"a", "b", "c"}},
		{behaviorIsolated, false, []string{"a", "-", "-", "b", "-", "c"}},
		{behaviorMergedWithPrevious, false, []string{"a-", "-", "b-", "c"}},
		{behaviorMergedWithNext, false, []string{"a", "-", "-b", "-c"}},
		{behaviorContiguous, false, []string{"a", "--", "b", "-", "c"}},
		{behaviorRemoved, true, []string{"-", "-", "-"}},
	}
	for _, tc := range tests {
		var got []string
		for _, p := range splitPiece(piece{text: text}, matches, tc.b, tc.invert, nil) {
			got = append(got, p.text)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("behavior %d invert %v: %q; want %q", tc.b, tc.invert, got, tc.want)
		}
	}
}

func TestTokenLookups(t *testing.T) {
	tk := loadTestFile(t, "smollm_small")
	id, ok := tk.TokenID("<image>")
	if !ok {
		t.Fatal("TokenID(<image>) not found")
	}
	if tok, ok := tk.IDToken(id); !ok || tok != "<image>" {
		t.Errorf("IDToken(%d) = %q, %v", id, tok, ok)
	}
	if !tk.IsSpecial(id) {
		t.Errorf("IsSpecial(%d) = false", id)
	}
	if hello, _ := tk.TokenID("hello"); tk.IsSpecial(hello) {
		t.Errorf("IsSpecial(hello) = true")
	}
	if _, ok := tk.IDToken(-1); ok {
		t.Error("IDToken(-1) found")
	}
	if _, ok := tk.IDToken(1 << 30); ok {
		t.Error("IDToken(1<<30) found")
	}
}

// TestConcurrentUse encodes and decodes from several goroutines at once
// (run with -race).
func TestConcurrentUse(t *testing.T) {
	strs := loadStrings(t).Strings[:300]
	for _, name := range []string{"split_mixed", "smollm_small", "llama_metaspace_first"} {
		tk := loadTestFile(t, name)
		want := make([][]int, len(strs))
		for i, s := range strs {
			want[i], _ = tk.Encode(s, true)
		}
		errs := make(chan error, 4)
		for g := 0; g < 4; g++ {
			go func() {
				for i, s := range strs {
					got, err := tk.Encode(s, true)
					if err == nil && !slices.Equal(got, want[i]) {
						err = errors.New("different ids for " + s)
					}
					if err == nil {
						_, err = tk.Decode(got, g%2 == 0)
					}
					if err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for g := 0; g < 4; g++ {
			if err := <-errs; err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}
