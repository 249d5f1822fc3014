package eval

import (
	"context"
	"fmt"
	"strings"

	"github.com/vlmrun/vlmrun/bench"
	"github.com/vlmrun/vlmrun/dataset"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
)

// SweepRow is one cell of an eval sweep. Metrics holds exact_match and
// object_f1 (scenes) or bleu4, cider_d and bleu4_vs_unpruned (a JSONL
// dataset), and agreement_with_unpruned (both): the share of images whose
// caption equals the unpruned pipeline's.
type SweepRow struct {
	bench.Variant
	// KeepRatio is the mean visual-token count in the last decoder layer
	// over the encoder's count.
	KeepRatio     float64            `json:"keep_ratio"`
	MeanVisual    float64            `json:"mean_visual_tokens"`
	Metrics       map[string]float64 `json:"metrics"`
	MeanPrefillMs float64            `json:"mean_prefill_ms,omitempty"`
	MeanTotalMs   float64            `json:"mean_total_ms"`
}

// SweepReport is `vlmrun eval --json` in sweep mode; `vlmrun plot` and
// internal/plot read it.
type SweepReport struct {
	Dataset string `json:"dataset"` // "scenes" or the JSONL path
	Count   int    `json:"count"`
	Seed    uint64 `json:"scene_seed,omitempty"`
	Size    int    `json:"scene_size,omitempty"`
	Model   string `json:"model"`
	// Primary is the accuracy metric charts use by default.
	Primary string     `json:"primary_metric"`
	Rows    []SweepRow `json:"rows"`
	Metrics []string   `json:"metric_names"`
}

// HasMetric reports whether some row has metric m.
func (r *SweepReport) HasMetric(m string) bool {
	for _, row := range r.Rows {
		if _, ok := row.Metrics[m]; ok {
			return true
		}
	}
	return false
}

// Cell is one cell of a sweep: its variant and the request it runs.
type Cell struct {
	Variant bench.Variant
	Req     pipeline.Request
	// Oracle > 0: the scenes generator's geometry oracle keeping that many
	// tokens (method "oracle").
	Oracle int
}

// Cells builds the request of every variant (the unpruned baseline first,
// as bench's grids put it) on top of base. A variant whose method is
// "oracle" keeps its budget's count of p's visual tokens by the scenes'
// geometry.
func Cells(p *pipeline.Pipeline, base pipeline.Request, variants []bench.Variant) ([]Cell, error) {
	var cells []Cell
	for _, v := range variants {
		c := Cell{Variant: v, Req: base}
		if strings.EqualFold(v.Method, "oracle") {
			k := v.Keep
			if k == "" {
				k = "1.0"
			}
			b, err := pruning.ParseBudget(k)
			if err == nil {
				c.Oracle, err = b.Count(p.Spec.TokensPerImage)
			}
			if err != nil {
				return nil, fmt.Errorf("bad --keep: %w", err)
			}
		} else if err := (pipeline.PruneSpec{Method: v.Method, Keep: v.Keep, MethodName: "--prune", KeepName: "--keep"}).Apply(&c.Req); err != nil {
			return nil, err
		}
		cells = append(cells, c)
	}
	return cells, nil
}

// ScenesSweep runs every cell on the same generated scenes; the first
// cell is the baseline the agreement is measured against.
func ScenesSweep(ctx context.Context, p *pipeline.Pipeline, cfg ScenesConfig, cells []Cell,
	progress func(done, total int)) (*SweepReport, error) {
	rep := &SweepReport{Dataset: "scenes", Count: cfg.Count, Seed: cfg.Seed, Size: cfg.Size, Model: p.Spec.Dir,
		Primary: "exact_match", Metrics: []string{"exact_match", "object_f1", "agreement_with_unpruned"}}
	var base []string
	for i, c := range cells {
		cfg.Request, cfg.Oracle = c.Req, c.Oracle
		cfg.Progress = nil
		if progress != nil {
			off, total := i*cfg.Count, len(cells)*cfg.Count
			cfg.Progress = func(done, _ int) { progress(off+done, total) }
		}
		r, err := Scenes(ctx, p, cfg)
		if err != nil {
			return nil, err
		}
		caps := make([]string, len(r.Samples))
		for j, s := range r.Samples {
			caps[j] = s.Caption
		}
		if i == 0 {
			base = caps
		}
		agree := 0
		for j := range caps {
			if caps[j] == base[j] {
				agree++
			}
		}
		rep.Rows = append(rep.Rows, SweepRow{Variant: c.Variant, MeanVisual: r.MeanKeptLast,
			KeepRatio:   r.MeanKeptLast / float64(p.Spec.TokensPerImage),
			MeanTotalMs: r.TotalMs / float64(cfg.Count),
			Metrics: map[string]float64{"exact_match": r.Score.ExactRate(), "object_f1": r.Score.F1(),
				"agreement_with_unpruned": float64(agree) / float64(len(caps))}})
	}
	return rep, nil
}

// DataSweep runs every cell on a JSONL dataset (path names it in the
// report); the first cell is the baseline.
func DataSweep(ctx context.Context, p *pipeline.Pipeline, path string, items []dataset.Item, cells []Cell,
	progress func(done, total int)) (*SweepReport, error) {
	rep := &SweepReport{Dataset: path, Count: len(items), Model: p.Spec.Dir, Primary: "cider_d",
		Metrics: []string{"bleu4", "cider_d", "agreement_with_unpruned", "bleu4_vs_unpruned"}}
	done, total := 0, len(items)*len(cells)
	tick := func() {
		done++
		if progress != nil {
			progress(done, total)
		}
	}
	var base []dataset.Output
	for i, c := range cells {
		if c.Oracle > 0 {
			return nil, fmt.Errorf("the oracle needs generated scenes, not a dataset")
		}
		outs, err := dataset.Caption(ctx, p, items, c.Req, tick)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			base = outs
		}
		s, err := dataset.Evaluate(items, outs, base)
		if err != nil {
			return nil, err
		}
		rep.Rows = append(rep.Rows, SweepRow{Variant: c.Variant, KeepRatio: s.KeepRatio, MeanVisual: s.MeanVisual,
			MeanPrefillMs: s.MeanPrefillMs, MeanTotalMs: s.MeanTotalMs,
			Metrics: map[string]float64{"bleu4": s.BLEU4, "cider_d": s.CIDErD,
				"agreement_with_unpruned": s.Agreement, "bleu4_vs_unpruned": s.BLEU4Unpruned}})
	}
	return rep, nil
}
