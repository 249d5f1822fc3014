package tokenizer

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestScannerStrings compares string decoding with encoding/json.
func TestScannerStrings(t *testing.T) {
	for _, in := range []string{
		`""`, `"abc"`, `"a\"b\\c\/d"`, `"\b\f\n\r\t"`, `"\u00e9\u4e2d"`, `"\ud83d\ude00"`, `"\ud83dx"`, `"\ude00"`,
		`"\ud83d\u0041"`, `"Ġhello▁"`, `"<0x0A>"`,
	} {
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("encoding/json rejects %s: %v", in, err)
		}
		s := &jsonScanner{b: []byte(in)}
		got, err := s.str()
		if err != nil || got != want || s.end() != nil {
			t.Errorf("str(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestScannerErrors(t *testing.T) {
	for _, in := range []string{
		`{`, `{"model": }`, `{"model": {"type": "BPE", "vocab": {"a": 1.5}, "merges": []}}`,
		`{"model": {"type": "BPE", "vocab": {"a": -3}, "merges": []}}`, `{"a": tru}`, `{"a": "x\q"}`, `{"a": "\u12"}`,
		`{"a": 1} x`, `{"a": [1, 2,]}`, `{"model": {"type": "BPE", "vocab": {}, "merges": ["a b", ["a", "b"]]}}`,
		`{"model": {"type": "BPE", "vocab": {}, "merges": [["a", "b", "c"]]}}`, `{"a": "` + "\x01" + `"}`,
		strings.Repeat(`{"a": [`, 200) + strings.Repeat(`]}`, 200), "{\"a\": \"\xff\"}",
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%.60q) succeeded; want an error", in)
		}
	}
}
