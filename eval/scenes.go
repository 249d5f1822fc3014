// Package eval measures captioning accuracy through the full vlmrun
// pipeline. Scenes evaluation renders held-out scenes with the Go scene
// generator, encodes each as a PNG file in memory (so image decoding and
// resizing are part of what is measured), captions it and scores the
// caption against the generator's ground truth.
package eval

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"sort"

	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
	"github.com/vlmrun/vlmrun/scenes"
)

// HeldOutSeed is the generator seed of the held-out set. The training
// script draws its scenes from numpy with seeds (1, step), a different
// generator altogether, so no held-out image was seen in training.
const HeldOutSeed = 1000

// ScenesConfig says which scenes to caption and how.
type ScenesConfig struct {
	Seed  uint64
	Start int // first scene index
	Count int
	Size  int  // rendered image side in pixels
	Blank bool // render the background only (the model must not see objects)
	// Request is the base request; Oracle, when > 0, overrides its
	// pre-decoder method with the generator's geometry oracle keeping that
	// many tokens (the visual tokens that overlap objects most).
	Request pipeline.Request
	Oracle  int
	// Progress, if not nil, is called after each scene.
	Progress func(done, total int)
}

// Sample is one captioned scene.
type Sample struct {
	Index     int
	Reference string
	Caption   string
	Exact     bool
	Kept      int
}

// ScenesReport is the outcome of a scenes evaluation.
type ScenesReport struct {
	Score   scenes.Score
	Samples []Sample
	// MeanKept is the average number of visual tokens given to the decoder;
	// MeanKeptLast the average number left in the last decoder layer (lower
	// than MeanKept for in-decoder methods).
	MeanKept     float64
	MeanKeptLast float64
	// TotalMs sums the per-image pipeline totals.
	TotalMs float64
}

// Scenes captions cfg.Count generated scenes and scores them.
func Scenes(ctx context.Context, p *pipeline.Pipeline, cfg ScenesConfig) (*ScenesReport, error) {
	if cfg.Count <= 0 || cfg.Size <= 0 {
		return nil, fmt.Errorf("eval: count and size must be positive")
	}
	rep := &ScenesReport{}
	grid := p.Spec.GridH
	keptSum, lastSum := 0, 0
	for i := 0; i < cfg.Count; i++ {
		idx := cfg.Start + i
		sc := scenes.Generate(cfg.Seed, idx)
		img := sc.Render(cfg.Size)
		if cfg.Blank {
			img = sc.Blank(cfg.Size)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			return nil, fmt.Errorf("eval: encode scene %d: %w", idx, err)
		}
		req := cfg.Request
		if cfg.Oracle > 0 {
			if grid <= 0 || grid != p.Spec.GridW {
				return nil, fmt.Errorf("eval: the oracle needs a square token grid")
			}
			req.Pre = &Oracle{Scores: sc.Coverage(grid)}
			req.Keep = fixed(cfg.Oracle)
		}
		if r, ok := req.Pre.(pruning.Random); ok {
			r.Seed += uint64(idx) // a different random subset for every scene
			req.Pre = r
		}
		res, err := p.Caption(ctx, fmt.Sprintf("scene-%05d.png", idx), &buf, req, nil)
		if err != nil {
			return nil, fmt.Errorf("eval: scene %d: %w", idx, err)
		}
		ref := sc.Caption()
		rep.Score.Add(res.Caption, ref)
		rep.Samples = append(rep.Samples, Sample{Index: idx, Reference: ref, Caption: res.Caption,
			Exact: scenes.ExactMatch(res.Caption, ref), Kept: res.Visual.AfterPre})
		keptSum += res.Visual.AfterPre
		if rows := res.Visual.LayerRows; len(rows) > 0 {
			text := len(res.PromptIDs) - res.Visual.Before
			lastSum += rows[len(rows)-1] - text
		}
		rep.TotalMs += res.Timings.Total
		if cfg.Progress != nil {
			cfg.Progress(i+1, cfg.Count)
		}
	}
	rep.MeanKept = float64(keptSum) / float64(cfg.Count)
	rep.MeanKeptLast = float64(lastSum) / float64(cfg.Count)
	return rep, nil
}

type fixed int

func (f fixed) Count(n int) (int, error) {
	if int(f) > n {
		return n, nil
	}
	return int(f), nil
}

// Oracle keeps the visual tokens with the highest given scores (the
// fraction of each patch covered by objects, from the generator's
// geometry). Ties go to the lower index. It is an evaluation tool, not a
// pruning method: real images carry no such scores.
type Oracle struct{ Scores []float64 }

// Name implements pruning.PreDecoder.
func (o *Oracle) Name() string { return "oracle" }

// Needs implements pruning.PreDecoder.
func (o *Oracle) Needs() pruning.Need { return pruning.NeedFeatures }

// Apply implements pruning.PreDecoder.
func (o *Oracle) Apply(v *pruning.Visual, keep int) (pruning.Result, error) {
	n := v.Features.Rows
	if len(o.Scores) != n {
		return pruning.Result{}, fmt.Errorf("eval: oracle has %d scores for %d tokens", len(o.Scores), n)
	}
	if keep < 1 || keep > n {
		return pruning.Result{}, fmt.Errorf("eval: oracle keep %d outside 1..%d", keep, n)
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return o.Scores[idx[a]] > o.Scores[idx[b]] })
	sel := append([]int(nil), idx[:keep]...)
	sort.Ints(sel)
	return pruning.Result{Source: sel, Features: pruning.Gather(v.Features, sel), Positions: pruning.KeepOriginal}, nil
}
