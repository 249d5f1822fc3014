package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/vlmrun/vlmrun/batch"
	"github.com/vlmrun/vlmrun/pipeline"
)

// batchFlags are caption's batch-mode flags (--jsonl and what goes with it).
type batchFlags struct {
	jsonl    string
	shard    string
	retry    bool
	repair   bool
	parallel int
}

func (b *batchFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&b.jsonl, "jsonl", "", "batch mode: append one JSON line per image to this file, skipping images already in it; arguments may be folders and globs")
	checkedFlag(fs, &b.shard, "shard", "", "i/N with 0 <= i < N, e.g. 0/4", func(s string) error {
		_, err := batch.ParseShard(s)
		return err
	}, "batch mode: caption only shard i of N (0-based), a deterministic split by path")
	fs.BoolVar(&b.repair, "jsonl-repair", false, "batch mode: before the run, rewrite --jsonl without its lines that are not records (atomically); without it such a file is refused")
	fs.BoolVar(&b.retry, "retry-errors", false, "batch mode: caption again images whose line in --jsonl is an error")
	intFlag(fs, &b.parallel, "parallel", 1, 1, maxReplicas, "", "batch mode: images captioned at once (model replicas)")
}

// check refuses batch-only flags without --jsonl and a bad --parallel.
func (b *batchFlags) check() error {
	if b.jsonl == "" && (b.shard != "" || b.retry || b.repair || b.parallel != 1) {
		return usagef("--shard, --retry-errors, --jsonl-repair and --parallel need --jsonl")
	}
	if b.parallel < 1 {
		return usagef("--parallel must be >= 1")
	}
	return nil
}

// runBatch captions the images the arguments name into --jsonl. The exit
// status is 0 when every image got a line (failed images are error lines,
// counted in the summary), 1 when the run could not finish (model, output,
// interrupt: rerun the same command to resume), 2 for usage errors.
func runBatch(ctx context.Context, args []string, mf *modelFlags, req pipeline.Request, pf *pruneFlags,
	bf *batchFlags, quiet bool, stderr io.Writer) int {
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "vlmrun caption: %v\n", err)
		return code
	}
	var shard batch.Shard
	if bf.shard != "" {
		s, err := batch.ParseShard(bf.shard)
		if err != nil {
			return fail(2, err)
		}
		shard = s
	}
	for _, a := range args {
		if a == "-" {
			return fail(2, errors.New("--jsonl reads files, not stdin (-)"))
		}
	}
	paths, err := batch.Expand(args)
	if err != nil {
		return fail(2, err)
	}
	if mf.threads == 0 && bf.parallel > 1 {
		mf.threads = max(1, runtime.NumCPU()/bf.parallel)
	}
	// Check the output before the model loads, so a bad --jsonl is the
	// only line printed (no summary of a run that never started).
	if bf.repair {
		n, err := batch.Repair(bf.jsonl)
		if err != nil {
			return fail(1, err)
		}
		if n > 0 {
			fmt.Fprintf(stderr, "vlmrun caption: --jsonl-repair dropped %d bad line(s) from %s\n", n, bf.jsonl)
		}
	}
	if err := batch.CheckOutput(bf.jsonl); err != nil {
		return fail(1, err)
	}
	pool, err := openPool(mf, bf.parallel)
	if err != nil {
		return exitCode(stderr, "caption", err)
	}
	defer pool.Close()
	// the in-decoder method must fit the model: a usage error, not an
	// error line per image
	if req, err = pool.FitRequest(req); err != nil {
		return exitCode(stderr, "caption", asUsage(err))
	}
	var bar io.Writer
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !quiet {
		bar = stderr
	}
	start := time.Now()
	sum, err := batch.Run(ctx, batch.Config{Paths: paths, Out: bf.jsonl, Shard: shard, Model: pool, Req: req,
		Prune: pf.spec(), Workers: bf.parallel, RetryErrors: bf.retry, Progress: bar})
	if sum.Previous != nil && sum.Previous.Truncated {
		fmt.Fprintf(stderr, "vlmrun caption: cut an incomplete last line off %s (an interrupted run)\n", bf.jsonl)
	}
	started := err == nil || ctx.Err() != nil || sum.Captioned+sum.Failed > 0
	if started && (!quiet || err != nil) {
		el := time.Since(start).Seconds()
		fmt.Fprintf(stderr, "vlmrun caption: shard %s: %d images; %d captioned, %d failed (error lines), %d already in %s; %.1f s (%.1f img/s)\n",
			shard, sum.Total, sum.Captioned, sum.Failed, sum.Skipped, bf.jsonl, el, float64(sum.Captioned+sum.Failed)/max(el, 1e-9))
	}
	if err != nil {
		if ctx.Err() != nil {
			return fail(1, fmt.Errorf("interrupted; run the same command again to resume"))
		}
		return fail(1, err)
	}
	return 0
}
