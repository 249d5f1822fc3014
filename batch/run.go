// Package batch captions many images into a JSON Lines file: one line per
// image (its caption, token counts, timings and pruning method, or its
// error), resumable (images already in the file are skipped) and sharded
// (Shard splits the input deterministically across machines).
package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/vlmrun/vlmrun/pipeline"
)

// Captioner captions one image; *pipeline.Pipeline and *pipeline.Pool are
// Captioners.
type Captioner interface {
	Caption(ctx context.Context, name string, r io.Reader, req pipeline.Request,
		stream func(string) error) (*pipeline.Result, error)
}

// Config is one batch run.
type Config struct {
	Paths       []string // images, as Expand returns them
	Out         string   // JSONL output file, appended to
	Shard       Shard
	Model       Captioner
	Req         pipeline.Request
	Prune       pipeline.PruneSpec // recorded in each line (Req already applies it)
	Workers     int                // images captioned at once (>= 1; use a Pool of as many replicas)
	RetryErrors bool               // caption again the images whose lines are errors
	Progress    io.Writer          // where the bar is drawn; nil for none
}

// Summary counts what a run did.
type Summary struct {
	Total     int // images in the shard
	Skipped   int // already in the output
	Captioned int
	Failed    int // error lines written
	Previous  *Previous
}

// Run captions the shard's images that the output does not hold yet,
// appending one line per image. A failing image gets an error line and the
// run goes on. When ctx is cancelled, Run stops after the images in
// progress (which get no line) and returns ctx's error: running the same
// command again resumes. Other errors are the output's.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	var sum Summary
	if cfg.Model == nil || cfg.Out == "" {
		return sum, fmt.Errorf("batch: no model or no output file")
	}
	prev, err := ReadPrevious(cfg.Out)
	if err != nil {
		return sum, err
	}
	sum.Previous = prev
	paths := cfg.Shard.Select(cfg.Paths)
	sum.Total = len(paths)
	var todo []string
	for _, p := range paths {
		if prev.Done(p, cfg.RetryErrors) {
			sum.Skipped++
		} else {
			todo = append(todo, p)
		}
	}
	f, err := os.OpenFile(cfg.Out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return sum, fmt.Errorf("batch: open output: %w", err)
	}
	defer f.Close()
	out := &writer{w: f}
	bar := newProgress(cfg.Progress, sum.Total, sum.Skipped)
	method, keep := cfg.Prune.Method, cfg.Prune.Keep
	if method == "" {
		method = "none"
	}
	var mu sync.Mutex
	var werr error
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range max(cfg.Workers, 1) {
		wg.Go(func() {
			for path := range jobs {
				rec, ok := captionFile(ctx, cfg.Model, path, cfg.Req)
				if !ok {
					continue // cancelled: no line, the next run redoes it
				}
				rec.Method, rec.Keep = method, keep
				err := out.write(rec)
				mu.Lock()
				if err != nil && werr == nil {
					werr = err
				}
				if rec.Error != "" {
					sum.Failed++
				} else {
					sum.Captioned++
				}
				mu.Unlock()
				bar.add(rec.Error != "")
			}
		})
	}
feed:
	for _, p := range todo {
		mu.Lock()
		stop := werr != nil
		mu.Unlock()
		if stop {
			break
		}
		select {
		case jobs <- p:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	bar.finish()
	if err := f.Sync(); err != nil && werr == nil {
		werr = fmt.Errorf("batch: sync output: %w", err)
	}
	if werr != nil {
		return sum, werr
	}
	return sum, ctx.Err()
}

// captionFile captions one file. ok is false when ctx ended the caption.
func captionFile(ctx context.Context, m Captioner, path string, req pipeline.Request) (Record, bool) {
	rec := Record{SchemaVersion: pipeline.SchemaVersion, Path: path}
	f, err := os.Open(path)
	if err != nil {
		rec.Error = fmt.Sprintf("encoder: %v", err)
		return rec, ctx.Err() == nil
	}
	defer f.Close()
	res, err := m.Caption(ctx, path, f, req, nil)
	if err != nil {
		if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			return rec, false
		}
		rec.Error = err.Error()
		return rec, true
	}
	rec.Caption = &res.Caption
	rec.FinishReason = res.FinishReason
	rec.Tokens = &Tokens{Prompt: len(res.PromptIDs), Generated: len(res.GeneratedIDs),
		VisualBefore: res.Visual.Before, VisualAfter: res.Visual.AfterPre, LayerRows: res.Visual.LayerRows}
	rec.Timings = &res.Timings
	rec.Image = &res.Image
	return rec, true
}
