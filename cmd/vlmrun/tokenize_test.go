package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokenizeCLI(t *testing.T) {
	wl := filepath.Join("..", "..", "tokenizer", "testdata", "tokenizers", "wordlevel_ws.json")
	gpt := filepath.Join("..", "..", "tokenizer", "testdata", "tokenizers", "gpt2_small.json")
	tests := []struct {
		name     string
		cmd      func(args []string, stdin *strings.Reader, stdout, stderr *bytes.Buffer) int
		args     []string
		stdin    string
		code     int
		stdout   string
		stderrIn string
	}{
		{"tokenize", tokenizeCmd, []string{"--tokenizer", wl}, "a photo of a cat\n", 0, "[5,8,9,5,10]\n", ""},
		{"tokenize special", tokenizeCmd, []string{"--tokenizer", wl, "--special"}, "a cat", 0, "[1,5,10,2]\n", ""},
		{"tokenize empty", tokenizeCmd, []string{"--tokenizer", wl}, "", 0, "[]\n", ""},
		{"tokenize model folder", tokenizeCmd, []string{"--tokenizer", filepath.Join("..", "..", "models", "scenes-tiny"), "--special"}, "", 0, "[1]\n", ""},
		{"tokenize no flag", tokenizeCmd, nil, "x", 2, "", "vlmrun tokenize: --tokenizer is required (a tokenizer.json or a model folder)\n"},
		{"tokenize missing file", tokenizeCmd, []string{"--tokenizer", "nope.json"}, "x", 1, "", "vlmrun tokenize: tokenizer: load nope.json:"},
		{"tokenize bad utf8", tokenizeCmd, []string{"--tokenizer", gpt}, "\xff", 1, "", "vlmrun tokenize: tokenizer: encode: input is not valid UTF-8\n"},
		{"tokenize bad flag", tokenizeCmd, []string{"--nope"}, "", 2, "", "unknown flag"},
		{"tokenize help", tokenizeCmd, []string{"--help"}, "", 0, "", "usage: vlmrun tokenize"},
		{"detokenize", detokenizeCmd, []string{"--tokenizer", wl}, "[1, 5, 10, 2]", 0, "<bos> a cat <eos>", ""},
		{"detokenize skip", detokenizeCmd, []string{"--tokenizer", wl, "--skip-special"}, " [1,5,10,2]\n", 0, "a cat", ""},
		{"detokenize bytelevel", detokenizeCmd, []string{"--tokenizer", gpt}, "[39, 68, 75, 75, 78]", 0, "Hello", ""},
		{"detokenize not json", detokenizeCmd, []string{"--tokenizer", wl}, "1 2 3", 1, "", "vlmrun detokenize: read ids: want a JSON array of integers"},
		{"detokenize trailing", detokenizeCmd, []string{"--tokenizer", wl}, "[1] [2]", 1, "", "unexpected data after the JSON array"},
		{"detokenize strings", detokenizeCmd, []string{"--tokenizer", wl}, `["a"]`, 1, "", "want a JSON array of integers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := tc.cmd(tc.args, strings.NewReader(tc.stdin), &out, &errb)
			if code != tc.code || out.String() != tc.stdout || !strings.Contains(errb.String(), tc.stderrIn) {
				t.Errorf("code %d, stdout %q, stderr %q; want %d, %q, stderr containing %q",
					code, out.String(), errb.String(), tc.code, tc.stdout, tc.stderrIn)
			}
		})
	}
}

func tokenizeCmd(args []string, stdin *strings.Reader, stdout, stderr *bytes.Buffer) int {
	return cmdTokenize(args, stdin, stdout, stderr)
}

func detokenizeCmd(args []string, stdin *strings.Reader, stdout, stderr *bytes.Buffer) int {
	return cmdDetokenize(args, stdin, stdout, stderr)
}

// TestTokenizeRoundTrip pipes tokenize into detokenize.
func TestTokenizeRoundTrip(t *testing.T) {
	gpt := filepath.Join("..", "..", "tokenizer", "testdata", "tokenizers", "gpt2_small.json")
	text := "Hello, wörld!\n  <|endoftext|> 中文 😀\r\n"
	var ids, out, errb bytes.Buffer
	if code := cmdTokenize([]string{"--tokenizer", gpt}, strings.NewReader(text), &ids, &errb); code != 0 {
		t.Fatalf("tokenize: %d %s", code, errb.String())
	}
	if code := cmdDetokenize([]string{"--tokenizer", gpt}, &ids, &out, &errb); code != 0 {
		t.Fatalf("detokenize: %d %s", code, errb.String())
	}
	if out.String() != text {
		t.Errorf("round trip = %q; want %q", out.String(), text)
	}
}
