package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/vlmrun/vlmrun/bench"
	"github.com/vlmrun/vlmrun/dataset"
	"github.com/vlmrun/vlmrun/eval"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
)

// evalRow is one cell of an eval sweep. Metrics holds exact_match and
// object_f1 (scenes) or bleu4, cider_d and bleu4_vs_unpruned (a JSONL
// dataset), and agreement_with_unpruned (both): the share of images whose
// caption equals the unpruned pipeline's.
type evalRow struct {
	bench.Variant
	// KeepRatio is the mean visual-token count in the last decoder layer
	// over the encoder's count.
	KeepRatio     float64            `json:"keep_ratio"`
	MeanVisual    float64            `json:"mean_visual_tokens"`
	Metrics       map[string]float64 `json:"metrics"`
	MeanPrefillMs float64            `json:"mean_prefill_ms,omitempty"`
	MeanTotalMs   float64            `json:"mean_total_ms"`
}

// evalSweepReport is `vlmrun eval --json` in sweep mode; `vlmrun plot`
// reads it.
type evalSweepReport struct {
	Dataset string `json:"dataset"` // "scenes" or the JSONL path
	Count   int    `json:"count"`
	Seed    uint64 `json:"scene_seed,omitempty"`
	Size    int    `json:"scene_size,omitempty"`
	Model   string `json:"model"`
	// Primary is the accuracy metric charts use by default.
	Primary string    `json:"primary_metric"`
	Rows    []evalRow `json:"rows"`
	Metrics []string  `json:"metric_names"`
}

type cellSpec struct {
	v   bench.Variant
	req pipeline.Request
	// oracle > 0: eval's geometry oracle keeping that many tokens.
	oracle int
}

// sweepCells builds the request of every cell: the unpruned baseline
// first, then methods × keeps.
func sweepCells(p *pipeline.Pipeline, base pipeline.Request, methods, keeps []string, oracleOK bool) ([]cellSpec, error) {
	var extra []string
	if oracleOK {
		extra = []string{"oracle"}
	}
	vs, err := sweepGrid(methods, keeps, true, extra...)
	if err != nil {
		return nil, err
	}
	var cells []cellSpec
	for _, v := range vs {
		c := cellSpec{v: v, req: base}
		if strings.EqualFold(v.Method, "oracle") {
			k := v.Keep
			if k == "" {
				k = "1.0"
			}
			b, err := pruning.ParseBudget(k)
			if err == nil {
				c.oracle, err = b.Count(p.Spec.TokensPerImage)
			}
			if err != nil {
				return nil, fmt.Errorf("bad --keep: %w", err)
			}
		} else if err := (pipeline.PruneSpec{Method: v.Method, Keep: v.Keep, MethodName: "--prune", KeepName: "--keep"}).Apply(&c.req); err != nil {
			return nil, err
		}
		cells = append(cells, c)
	}
	return cells, nil
}

// scenesSweep runs every cell on the same generated scenes.
func scenesSweep(ctx context.Context, p *pipeline.Pipeline, cfg eval.ScenesConfig, cells []cellSpec,
	progress func(done, total int)) (*evalSweepReport, error) {
	rep := &evalSweepReport{Dataset: "scenes", Count: cfg.Count, Seed: cfg.Seed, Size: cfg.Size, Model: p.Spec.Dir,
		Primary: "exact_match", Metrics: []string{"exact_match", "object_f1", "agreement_with_unpruned"}}
	var base []string
	for i, c := range cells {
		cfg.Request, cfg.Oracle = c.req, c.oracle
		cfg.Progress = nil
		if progress != nil {
			off, total := i*cfg.Count, len(cells)*cfg.Count
			cfg.Progress = func(done, _ int) { progress(off+done, total) }
		}
		r, err := eval.Scenes(ctx, p, cfg)
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
		rep.Rows = append(rep.Rows, evalRow{Variant: c.v, MeanVisual: r.MeanKeptLast,
			KeepRatio:   r.MeanKeptLast / float64(p.Spec.TokensPerImage),
			MeanTotalMs: r.TotalMs / float64(cfg.Count),
			Metrics: map[string]float64{"exact_match": r.Score.ExactRate(), "object_f1": r.Score.F1(),
				"agreement_with_unpruned": float64(agree) / float64(len(caps))}})
	}
	return rep, nil
}

// dataSweep runs every cell on a JSONL dataset.
func dataSweep(ctx context.Context, p *pipeline.Pipeline, path string, items []dataset.Item, cells []cellSpec,
	progress func(done, total int)) (*evalSweepReport, error) {
	rep := &evalSweepReport{Dataset: path, Count: len(items), Model: p.Spec.Dir, Primary: "cider_d",
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
		if c.oracle > 0 {
			return nil, fmt.Errorf("the oracle needs generated scenes, not a dataset")
		}
		outs, err := dataset.Caption(ctx, p, items, c.req, tick)
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
		rep.Rows = append(rep.Rows, evalRow{Variant: c.v, KeepRatio: s.KeepRatio, MeanVisual: s.MeanVisual,
			MeanPrefillMs: s.MeanPrefillMs, MeanTotalMs: s.MeanTotalMs,
			Metrics: map[string]float64{"bleu4": s.BLEU4, "cider_d": s.CIDErD,
				"agreement_with_unpruned": s.Agreement, "bleu4_vs_unpruned": s.BLEU4Unpruned}})
	}
	return rep, nil
}

// writeEvalSweep prints rep as a table, JSON or CSV.
func writeEvalSweep(w io.Writer, rep *evalSweepReport, asJSON, asCSV bool) error {
	switch {
	case asJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case asCSV:
		cw := csv.NewWriter(w)
		head := append([]string{"method", "keep", "keep_ratio", "mean_visual_tokens"}, rep.Metrics...)
		cw.Write(append(head, "mean_prefill_ms", "mean_total_ms"))
		f := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
		for _, r := range rep.Rows {
			rec := []string{r.Method, r.Keep, f(r.KeepRatio), f(r.MeanVisual)}
			for _, m := range rep.Metrics {
				rec = append(rec, f(r.Metrics[m]))
			}
			cw.Write(append(rec, f(r.MeanPrefillMs), f(r.MeanTotalMs)))
		}
		cw.Flush()
		return cw.Error()
	}
	fmt.Fprintf(w, "%s, %d images, model %s\n", rep.Dataset, rep.Count, filepath.Base(rep.Model))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprint(tw, "method\tkeep\tkeep ratio\tvisual tokens\t")
	for _, m := range rep.Metrics {
		fmt.Fprintf(tw, "%s\t", strings.ReplaceAll(m, "_", " "))
	}
	fmt.Fprintln(tw, "mean ms\t")
	for _, r := range rep.Rows {
		keep := r.Keep
		if r.IsBaseline() {
			keep = "-"
		} else if keep == "" {
			keep = "default"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.1f\t", r.Method, keep, r.KeepRatio, r.MeanVisual)
		for _, m := range rep.Metrics {
			fmt.Fprintf(tw, "%.4f\t", r.Metrics[m])
		}
		fmt.Fprintf(tw, "%.1f\t\n", r.MeanTotalMs)
	}
	return tw.Flush()
}

// evalSweepMain runs `vlmrun eval` in sweep mode: the unpruned baseline,
// then every --prune method × --keep budget, on the generated scenes or on
// the --data JSONL dataset.
func evalSweepMain(ctx context.Context, mf *modelFlags, gf *genFlags, pf *pruneFlags, scenes eval.ScenesConfig,
	data, save string, asJSON, asCSV bool, stdout, stderr io.Writer) int {
	fail := func(code int, err error) int {
		if code == 2 {
			err = asUsage(err)
		}
		return exitCode(stderr, "eval", err)
	}
	if asJSON && asCSV {
		return fail(2, fmt.Errorf("--json and --csv exclude each other"))
	}
	req, err := gf.request()
	if err != nil {
		return fail(2, err)
	}
	var items []dataset.Item
	if data != "" {
		if items, err = dataset.Load(data); err != nil {
			return fail(1, err)
		}
	} else if scenes.Count <= 0 || scenes.Size <= 0 {
		return fail(2, fmt.Errorf("--count and --size must be positive"))
	}
	p, err := mf.open()
	if err != nil {
		return exitCode(stderr, "eval", err)
	}
	defer p.Close()
	cells, err := sweepCells(p, req, splitMethods([]string{pf.method}, "oracle"), splitKeeps(pf.keep), data == "")
	if err != nil {
		return fail(2, err)
	}
	progress := newProgress(stderr, "eval")
	var rep *evalSweepReport
	if data != "" {
		rep, err = dataSweep(ctx, p, data, items, cells, progress)
	} else {
		rep, err = scenesSweep(ctx, p, scenes, cells, progress)
	}
	if err == nil && save != "" {
		err = saveJSON(save, rep)
	}
	if err == nil {
		err = writeEvalSweep(stdout, rep, asJSON, asCSV)
	}
	if err != nil {
		return fail(1, err)
	}
	return 0
}

// isSweep reports whether --prune/--keep ask for more than one cell.
func isSweep(method, keep string) bool {
	return len(splitMethods([]string{method}, "oracle")) > 1 || len(splitKeeps(keep)) > 1
}
