package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/decoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"
)

// captionRecord is the --json output for one image.
type captionRecord struct {
	SchemaVersion int    `json:"schema_version"` // pipeline.SchemaVersion
	Path          string `json:"path"`
	*pipeline.Result
	Error string `json:"error,omitempty"`
	// DTypes is the dtype of each ONNX file opened (by role), Open the
	// time opening them took, and ProcessMs the time from the process's
	// start to this record's result (with --max-new-tokens 1: process
	// start → first token, the cold-start figure).
	DTypes    map[string]string     `json:"dtypes,omitempty"`
	Open      *pipeline.OpenTimings `json:"open,omitempty"`
	ProcessMs float64               `json:"process_elapsed_ms,omitempty"`
}

func cmdCaption(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if streamArgs(args) {
		return cmdStreamVideo(ctx, args, stdin, stdout, stderr) // stream.go
	}
	fs := newFlagSet("caption", stderr, func(fs *pflag.FlagSet) {
		fmt.Fprintln(stderr, "usage: vlmrun caption [flags] IMAGE...   (IMAGE may be - for stdin)")
		fmt.Fprintln(stderr, "       vlmrun caption --jsonl OUT.jsonl [--shard i/N] [flags] DIR|GLOB|IMAGE...   (batch mode)")
		fmt.Fprintln(stderr, "       vlmrun caption --stream-video [flags] < FRAMES.png-stream   (frames as they arrive; see --stream-video --help)")
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
	system := fs.String("system", "", "system message: each image is asked as a conversation (this message, then the image and --prompt) through the model's chat template; models without a chat format refuse it (see vlmrun chat)")
	if code, done := parseCommand(fs, args); done {
		return code
	}
	images := fs.Args()
	fail := func(err error) int { return exitCode(stderr, "caption", err) }
	if len(images) == 0 {
		return fail(usagef("no image given (usage: vlmrun caption [flags] IMAGE...; see --help; for text alone: vlmrun chat --prompt TEXT)"))
	}
	if *asJSON && bf.jsonl != "" {
		return fail(usagef("--json and --jsonl exclude each other (--jsonl already writes one JSON object per image, to its file)"))
	}
	if *system != "" && bf.jsonl != "" {
		return fail(usagef("--system is not supported with --jsonl (batch captioning uses the model's plain prompt)"))
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
	// a request without an in-decoder method runs the merged decoder: its
	// session is created while the vision session is
	mf.preload = req.In == nil && req.Form != decoder.FormLayers
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
	var conv models.Conversation
	if *system != "" {
		conv = models.UserTurn(*system, req.Prompt, 1)
		if err := pipeline.CheckChat(p.Spec, conv); err != nil {
			return fail(usagef("--system: %v", err))
		}
	}
	status := 0
	enc := json.NewEncoder(stdout)
	for _, path := range images {
		res, err := captionOne(ctx, p, path, stdin, stdout, req, conv, *asJSON, len(images) > 1)
		if err != nil {
			status = 1
			fmt.Fprintf(stderr, "vlmrun caption: %v\n", err)
			if *asJSON {
				enc.Encode(captionRecord{SchemaVersion: pipeline.SchemaVersion, Path: path, Error: err.Error()})
			}
			continue
		}
		if *asJSON {
			rec := captionRecord{SchemaVersion: pipeline.SchemaVersion, Path: path, Result: res,
				DTypes: fileDTypes(p.Spec), Open: &p.Opened, ProcessMs: sinceStart()}
			if err := enc.Encode(rec); err != nil {
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

// captionOne captions one image: with req.Prompt, or as conv (one image
// part) when conv is not nil.
func captionOne(ctx context.Context, p *pipeline.Pipeline, path string, stdin io.Reader, stdout io.Writer,
	req pipeline.Request, conv models.Conversation, asJSON, prefix bool) (*pipeline.Result, error) {
	img, err := openImage(path, stdin)
	if err != nil {
		return nil, err
	}
	defer img.close()
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
	var res *pipeline.Result
	if conv != nil {
		res, err = p.Chat(ctx, conv, []pipeline.Frame{img.Frame}, req, stream)
	} else {
		res, err = p.Caption(ctx, img.Name, img.R, req, stream)
	}
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

// openedImage is an image file (or stdin) opened for the pipeline.
type openedImage struct {
	pipeline.Frame
	close func()
}

// openImage opens path, or reads stdin for "-".
func openImage(path string, stdin io.Reader) (openedImage, error) {
	if path == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return openedImage{}, fmt.Errorf("read stdin: %w", err)
		}
		return openedImage{pipeline.Frame{Name: "stdin", R: bytes.NewReader(data)}, func() {}}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return openedImage{}, fmt.Errorf("encoder: %w", err)
	}
	return openedImage{pipeline.Frame{Name: path, R: f}, func() { f.Close() }}, nil
}

func printTimings(w io.Writer, r *pipeline.Result) {
	t := r.Timings
	if r.Image.Format == "" {
		fmt.Fprintf(w, "  text only | decoder %s\n", t.DecoderForm)
	} else {
		fmt.Fprintf(w, "  image %s %dx%d | visual tokens %d -> %d | decoder %s\n",
			r.Image.Format, r.Image.Width, r.Image.Height, r.Visual.Before, r.Visual.AfterPre, t.DecoderForm)
	}
	fmt.Fprintf(w, "  decode-image %.1f ms | preprocess %.1f ms | encode %.1f ms | prune %.2f ms | prefill (TTFT) %.1f ms | decode %.1f ms (%d tokens, %.0f tok/s) | total %.1f ms\n",
		t.ImageDecode, t.Preprocess, t.Encode, t.Prune, t.Prefill, t.Decode, t.GeneratedTokens,
		t.DecodeTokensPerSec, t.Total)
	fmt.Fprintf(w, "  inside ONNX Runtime %.1f ms (%d runs), runner overhead %.1f%% | KV cache %d B | peak RSS %.1f MiB\n",
		t.ORTMs, t.ORTCalls, 100*t.OverheadFrac, t.KVBytes, float64(t.PeakRSSBytes)/(1<<20))
}

// fileDTypes maps each role's ONNX file to its dtype (models.DTypeOf).
func fileDTypes(s *models.Spec) map[string]string {
	out := map[string]string{}
	for role, f := range map[string]string{"vision": s.Files.Vision, "embed": s.Files.Embed,
		"encoder": s.Files.Encoder, "decoder": s.Files.Decoder} {
		if f != "" {
			out[role] = models.DTypeOf(f)
		}
	}
	return out
}
