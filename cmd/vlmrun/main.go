// Command vlmrun runs vision-language models on ONNX Runtime.
//
//	vlmrun caption [flags] IMAGE...     caption images (default: the embedded model)
//	vlmrun bench [flags] IMAGE...       time every stage over a pruning sweep
//	vlmrun plot --bench B --eval E      charts from bench and eval sweeps
//	vlmrun caption --jsonl OUT DIR|GLOB...   batch-caption folders, resumable, sharded
//	vlmrun chat [flags] [IMAGE...]      one answer through the chat template (--system; no image: text only)
//	vlmrun video [flags] VIDEO|IMAGE...  one prompt over a video's sampled frames
//	vlmrun serve [flags]                OpenAI-compatible HTTP server
//	vlmrun graph inspect FILE.onnx      inputs, outputs, ops per layer, whether a decoder splits
//	vlmrun version                      print versions and the ONNX Runtime library used
//	vlmrun tokenize / detokenize        debug a tokenizer.json
//
// Run "vlmrun COMMAND --help" for a command's flags.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
)

// version is vlmrun's version, overridable at link time with
// -ldflags "-X main.version=...".
var version = "0.1.0-dev"

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"caption", "caption images, streaming the text and timing every stage", cmdCaption},
		{"chat", "answer --prompt about several images, or text alone, through the model's chat template (--system)", cmdChat},
		{"video", "answer one prompt over a video's frames (GIF in pure Go, other formats through ffmpeg) or several images", cmdVideo},
		{"serve", "serve the model over an OpenAI-compatible HTTP API (chat completions)", cmdServe},
		{"eval", "caption generated held-out scenes and score them (exact match, object F1)", cmdEval},
		{"bench", "time every stage over a sweep of pruning methods × budgets × images", cmdBench},
		{"plot", "draw PNG charts from bench and eval sweep reports", cmdPlot},
		{"prune", "list the pruning methods (vlmrun prune list)", cmdPrune},
		{"explain", "draw the visual tokens a pruning method keeps over the image (PNG)", cmdExplain},
		{"graph", "inspect an ONNX file: inputs, outputs, operators, decoder layers (vlmrun graph inspect FILE)", cmdGraph},
		{"version", "print vlmrun's version and the ONNX Runtime library it loads", cmdVersion},
		{"tokenize", "print the ids of stdin's text as a JSON array", func(_ context.Context, a []string, in io.Reader, out, errw io.Writer) int {
			return cmdTokenize(a, in, out, errw)
		}},
		{"detokenize", "print the text of a JSON array of ids read from stdin", func(_ context.Context, a []string, in io.Reader, out, errw io.Writer) int {
			return cmdDetokenize(a, in, out, errw)
		}},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: vlmrun COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nrun \"vlmrun COMMAND --help\" for a command's flags")
}

// run dispatches to a subcommand and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	case "--version", "-v":
		args = []string{"version"}
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "vlmrun: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
