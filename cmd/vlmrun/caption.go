package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/pipeline"
)

// captionRecord is the --json output for one image.
type captionRecord struct {
	SchemaVersion int    `json:"schema_version"` // pipeline.SchemaVersion
	Path          string `json:"path"`
	*pipeline.Result
	Error string `json:"error,omitempty"`
}

func cmdCaption(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("caption", stderr, func(fs *pflag.FlagSet) {
		fmt.Fprintln(stderr, "usage: vlmrun caption [flags] IMAGE...   (IMAGE may be - for stdin)")
		fmt.Fprintln(stderr, "       vlmrun caption --jsonl OUT.jsonl [--shard i/N] [flags] DIR|GLOB|IMAGE...   (batch mode)")
		fmt.Fprintln(stderr, "exit status: 0 done, 1 an image or the model failed, 2 a usage error (bad flag or value)")
	})
	var mf modelFlags
	var gf genFlags
	var pf pruneFlags
	var bf batchFlags
	mf.register(fs)
	gf.register(fs)
	pf.register(fs)
	bf.register(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per image (caption, ids, finish_reason, visual tokens, timings); not with --jsonl")
	quiet := fs.BoolP("quiet", "q", false, "do not print timings on stderr")
	if code, done := parseCommand(fs, args); done {
		return code
	}
	images := fs.Args()
	fail := func(err error) int { return exitCode(stderr, "caption", err) }
	if len(images) == 0 {
		return fail(usagef("no image given (usage: vlmrun caption [flags] IMAGE...; see --help)"))
	}
	if *asJSON && bf.jsonl != "" {
		return fail(usagef("--json and --jsonl exclude each other (--jsonl already writes one JSON object per image, to its file)"))
	}
	req, err := gf.request()
	if err == nil {
		err = asUsage(pf.apply(&req))
	}
	if err == nil {
		err = bf.check()
	}
	if err != nil {
		return fail(err)
	}
	if bf.jsonl != "" {
		return runBatch(ctx, images, &mf, req, &pf, &bf, *quiet, stderr)
	}
	p, err := mf.open()
	if err != nil {
		return fail(err)
	}
	// the in-decoder method must fit this model's depth: a usage error
	if req, err = p.FitRequest(req); err != nil {
		p.Close()
		return fail(asUsage(err))
	}
	defer p.Close()
	status := 0
	enc := json.NewEncoder(stdout)
	for _, path := range images {
		res, err := captionOne(ctx, p, path, stdin, stdout, req, *asJSON, len(images) > 1)
		if err != nil {
			status = 1
			fmt.Fprintf(stderr, "vlmrun caption: %v\n", err)
			if *asJSON {
				enc.Encode(captionRecord{SchemaVersion: pipeline.SchemaVersion, Path: path, Error: err.Error()})
			}
			continue
		}
		if *asJSON {
			if err := enc.Encode(captionRecord{SchemaVersion: pipeline.SchemaVersion, Path: path, Result: res}); err != nil {
				fmt.Fprintf(stderr, "vlmrun caption: %v\n", err)
				return 1
			}
			continue
		}
		if !*quiet {
			printTimings(stderr, res)
		}
	}
	return status
}

func captionOne(ctx context.Context, p *pipeline.Pipeline, path string, stdin io.Reader, stdout io.Writer,
	req pipeline.Request, asJSON, prefix bool) (*pipeline.Result, error) {
	var r io.Reader
	name := path
	if path == "-" {
		name = "stdin"
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		r = bytes.NewReader(data)
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("encoder: %w", err)
		}
		defer f.Close()
		r = f
	}
	var stream func(string) error
	started := false
	if !asJSON {
		stream = func(s string) error {
			if !started && prefix {
				fmt.Fprintf(stdout, "%s: ", path)
			}
			started = true
			_, err := io.WriteString(stdout, s)
			return err
		}
	}
	res, err := p.Caption(ctx, name, r, req, stream)
	if err != nil {
		if started {
			fmt.Fprintln(stdout)
		}
		return nil, err
	}
	if !asJSON {
		if !started && prefix {
			fmt.Fprintf(stdout, "%s: ", path)
		}
		fmt.Fprintln(stdout)
	}
	return res, nil
}

func printTimings(w io.Writer, r *pipeline.Result) {
	t := r.Timings
	fmt.Fprintf(w, "  image %s %dx%d | visual tokens %d -> %d | decoder %s\n",
		r.Image.Format, r.Image.Width, r.Image.Height, r.Visual.Before, r.Visual.AfterPre, t.DecoderForm)
	fmt.Fprintf(w, "  decode-image %.1f ms | preprocess %.1f ms | encode %.1f ms | prune %.2f ms | prefill (TTFT) %.1f ms | decode %.1f ms (%d tokens, %.0f tok/s) | total %.1f ms\n",
		t.ImageDecode, t.Preprocess, t.Encode, t.Prune, t.Prefill, t.Decode, t.GeneratedTokens,
		t.DecodeTokensPerSec, t.Total)
	fmt.Fprintf(w, "  inside ONNX Runtime %.1f ms (%d runs), runner overhead %.1f%% | KV cache %d B | peak RSS %.1f MiB\n",
		t.ORTMs, t.ORTCalls, 100*t.OverheadFrac, t.KVBytes, float64(t.PeakRSSBytes)/(1<<20))
}
