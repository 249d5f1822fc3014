package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/tokenizer"
)

// cmdTokenize implements "vlmrun tokenize --tokenizer FILE [--special]": it
// reads UTF-8 text from stdin (all of it, trailing newline included) and
// prints its token ids as a JSON array.
func cmdTokenize(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("tokenize", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("tokenizer", "", "tokenizer.json, or a model folder holding one (required)")
	special := fs.Bool("special", false, "add the special tokens of the post-processor (e.g. BOS)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vlmrun tokenize --tokenizer FILE [--special] < text")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	fail := func(err error) int { return exitCode(stderr, "tokenize", err) }
	tk, err := openTokenizer(*path)
	if err != nil {
		return fail(err)
	}
	text, err := io.ReadAll(stdin)
	if err != nil {
		return fail(fmt.Errorf("read stdin: %w", err))
	}
	ids, err := tk.Encode(string(text), *special)
	if err != nil {
		return fail(err)
	}
	out, err := json.Marshal(append([]int{}, ids...))
	if err != nil {
		return fail(err)
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", out); err != nil {
		return fail(err)
	}
	return 0
}

// cmdDetokenize implements "vlmrun detokenize --tokenizer FILE
// [--skip-special]": it reads a JSON array of ids from stdin and prints their
// text exactly (no newline is added), so that tokenize | detokenize gives
// the input back for lossless tokenizers.
func cmdDetokenize(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("detokenize", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("tokenizer", "", "tokenizer.json, or a model folder holding one (required)")
	skip := fs.Bool("skip-special", false, "leave special tokens out of the text")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vlmrun detokenize --tokenizer FILE [--skip-special] < ids.json")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	fail := func(err error) int { return exitCode(stderr, "detokenize", err) }
	tk, err := openTokenizer(*path)
	if err != nil {
		return fail(err)
	}
	var ids []int
	dec := json.NewDecoder(stdin)
	if err := dec.Decode(&ids); err != nil {
		return fail(fmt.Errorf("read ids: want a JSON array of integers: %w", err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fail(errors.New("read ids: unexpected data after the JSON array"))
	}
	text, err := tk.Decode(ids, *skip)
	if err != nil {
		return fail(err)
	}
	if _, err := io.WriteString(stdout, text); err != nil {
		return fail(err)
	}
	return 0
}

// parseFlags parses args; done reports that the command should return code
// right away (help was asked for, or the flags were wrong: one line, exit 2).
func parseFlags(fs *pflag.FlagSet, args []string) (code int, done bool) {
	if code, done := parseCommand(fs, args); done {
		return code, true
	}
	if fs.NArg() > 0 {
		return exitCode(fs.Output(), fs.Name(), usagef("unexpected argument %q (text is read from stdin)", fs.Arg(0))), true
	}
	return 0, false
}

// openTokenizer loads a tokenizer.json file, or a model folder with
// tokenizer.json and its configuration files.
func openTokenizer(path string) (*tokenizer.Tokenizer, error) {
	if path == "" {
		return nil, usagef("--tokenizer is required (a tokenizer.json or a model folder)")
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return tokenizer.Load(path)
	}
	return tokenizer.LoadFile(path)
}
