package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/vlmrun/vlmrun/eval"
)

func cmdEval(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("eval", stderr, func(*pflag.FlagSet) {
		fmt.Fprintln(stderr, "usage: vlmrun eval [flags]   (captions generated held-out scenes and scores them)")
		fmt.Fprintln(stderr, "  sweep: comma lists in --prune and --keep run the unpruned baseline, then every method × budget")
		fmt.Fprintln(stderr, "  dataset: --data FILE.jsonl, lines {\"image\": PATH, \"captions\": [...]}: BLEU-4, CIDEr-D, agreement with the unpruned output")
		fmt.Fprintln(stderr, "exit status: 0 done, 1 a runtime error, 2 a usage error (bad flag or value)")
	})
	var mf modelFlags
	var gf genFlags
	var pf pruneFlags
	mf.register(fs)
	gf.register(fs)
	pf.register(fs)
	var countN, startN, sizeN, errorsN int
	intFlag(fs, &countN, "count", 1000, 1, 10_000_000, "", "number of scenes")
	seed := fs.Uint64("scene-seed", eval.HeldOutSeed, "scene generator seed (1000 = the held-out set); allowed: an integer from 0 to 2^64-1")
	intFlag(fs, &startN, "start", 0, 0, 1_000_000_000, "", "first scene index")
	intFlag(fs, &sizeN, "size", 300, 16, 8192, "", "rendered image side in pixels")
	count, start, size := &countN, &startN, &sizeN
	blank := fs.Bool("blank", false, "render only the background (a check that the model looks)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	intFlag(fs, &errorsN, "show-errors", 0, 0, 1_000_000, "", "print up to N wrong captions")
	errors := &errorsN
	data := fs.String("data", "", "JSONL dataset of image paths and reference captions to score instead of the scenes (a sweep)")
	asCSV := fs.Bool("csv", false, "print the sweep as CSV (implies sweep mode)")
	save := fs.String("save", "", "also write the sweep's JSON report to this file (implies sweep mode)")
	questions := fs.String("questions", "both", "scenes-vqa models: single, sequence or both (held-out questions per kind: --count)")
	if code, done := parseCommand(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return exitCode(stderr, "eval", usagef("unexpected argument %q (eval takes only flags; --data names a dataset)", fs.Arg(0)))
	}
	if *data == "" && isVQAModel(&mf) {
		return evalVQAMain(ctx, &mf, &gf, &pf, *seed, *start, *count, *size, *questions, *save, *asJSON, *asCSV, *errors, stdout, stderr)
	}
	if *data != "" || *asCSV || *save != "" || isSweep(pf.method, pf.keep) {
		return evalSweepMain(ctx, &mf, &gf, &pf, eval.ScenesConfig{Seed: *seed, Start: *start, Count: *count,
			Size: *size, Blank: *blank}, *data, *save, *asJSON, *asCSV, stdout, stderr)
	}
	req, err := gf.request()
	oracle := 0
	if err == nil {
		if strings.HasPrefix(pf.method, "oracle") {
			// The generator's geometry oracle: not a pruning method, an eval tool.
			oracle, err = pf.count(64)
		} else {
			err = pf.apply(&req)
		}
	}
	if err != nil {
		return exitCode(stderr, "eval", asUsage(err))
	}
	p, err := mf.open()
	if err != nil {
		return exitCode(stderr, "eval", err)
	}
	defer p.Close()
	if req, err = p.FitRequest(req); err != nil { // in-decoder layers must fit the model
		return exitCode(stderr, "eval", asUsage(err))
	}
	if oracle > 0 {
		oracle, err = pf.count(p.Spec.TokensPerImage)
		if err != nil {
			fmt.Fprintf(stderr, "vlmrun eval: %v\n", err)
			return 2
		}
	}
	cfg := eval.ScenesConfig{Seed: *seed, Start: *start, Count: *count, Size: *size, Blank: *blank,
		Request: req, Oracle: oracle}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		cfg.Progress = func(done, total int) {
			fmt.Fprintf(stderr, "\r%d/%d", done, total)
			if done == total {
				fmt.Fprintln(stderr)
			}
		}
	}
	rep, err := eval.Scenes(ctx, p, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "vlmrun eval: %v\n", err)
		return 1
	}
	if *asJSON {
		out := map[string]any{
			"seed": *seed, "start": *start, "count": *count, "size": *size, "blank": *blank,
			"prune": pf.method, "keep": pf.keep, "resizer": p.Spec.Preprocess.Resizer, "mean_visual_tokens": rep.MeanKept, "mean_visual_tokens_last_layer": rep.MeanKeptLast,
			"exact_match": rep.Score.ExactRate(), "object_f1": rep.Score.F1(),
			"mean_total_ms": rep.TotalMs / float64(*count),
		}
		by := map[string]any{}
		for n, c := range rep.Score.ByObjects {
			if c.Captions > 0 {
				by[fmt.Sprint(n)] = map[string]any{"captions": c.Captions, "exact_match": c.ExactRate(), "object_f1": c.F1()}
			}
		}
		out["by_objects"] = by
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "vlmrun eval: %v\n", err)
			return 1
		}
	} else {
		fmt.Fprintf(stdout, "scenes seed %d, %d images at %d px, prune %s keep %s (mean %.1f visual tokens), mean %.1f ms/image\n",
			*seed, *count, *size, pf.method, pf.keep, rep.MeanKept, rep.TotalMs/float64(*count))
		fmt.Fprint(stdout, rep.Score.String())
	}
	shown := 0
	for _, s := range rep.Samples {
		if shown >= *errors {
			break
		}
		if !s.Exact {
			fmt.Fprintf(stdout, "scene %d\n  ref  %s\n  got  %s\n", s.Index, s.Reference, s.Caption)
			shown++
		}
	}
	return 0
}
