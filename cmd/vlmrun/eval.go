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
	fs := pflag.NewFlagSet("eval", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vlmrun eval [flags]   (captions generated held-out scenes and scores them)")
		fmt.Fprintln(stderr, "  sweep: comma lists in --prune and --keep run the unpruned baseline, then every method × budget")
		fmt.Fprintln(stderr, "  dataset: --data FILE.jsonl, lines {\"image\": PATH, \"captions\": [...]}: BLEU-4, CIDEr-D, agreement with the unpruned output")
		fs.PrintDefaults()
	}
	var mf modelFlags
	var gf genFlags
	var pf pruneFlags
	mf.register(fs)
	gf.register(fs)
	pf.register(fs)
	count := fs.Int("count", 1000, "number of scenes")
	seed := fs.Uint64("scene-seed", eval.HeldOutSeed, "scene generator seed (1000 = the held-out set)")
	start := fs.Int("start", 0, "first scene index")
	size := fs.Int("size", 300, "rendered image side in pixels")
	blank := fs.Bool("blank", false, "render only the background (a check that the model looks)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	errors := fs.Int("show-errors", 0, "print up to N wrong captions")
	data := fs.String("data", "", "JSONL dataset of image paths and reference captions to score instead of the scenes (a sweep)")
	asCSV := fs.Bool("csv", false, "print the sweep as CSV (implies sweep mode)")
	save := fs.String("save", "", "also write the sweep's JSON report to this file (implies sweep mode)")
	questions := fs.String("questions", "both", "scenes-vqa models: single, sequence or both (held-out questions per kind: --count)")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return 0
		}
		return 2
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
		fmt.Fprintf(stderr, "vlmrun eval: %v\n", err)
		return 2
	}
	p, err := mf.open()
	if err != nil {
		fmt.Fprintf(stderr, "vlmrun eval: %v\n", err)
		return 1
	}
	defer p.Close()
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
