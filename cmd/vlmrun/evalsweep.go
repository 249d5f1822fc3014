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

	"github.com/vlmrun/vlmrun/dataset"
	"github.com/vlmrun/vlmrun/eval"
	"github.com/vlmrun/vlmrun/pipeline"
)

// sweepCells builds the request of every cell: the unpruned baseline
// first, then methods × keeps (eval's oracle when oracleOK).
func sweepCells(p *pipeline.Pipeline, base pipeline.Request, methods, keeps []string, oracleOK bool) ([]eval.Cell, error) {
	var extra []string
	if oracleOK {
		extra = []string{"oracle"}
	}
	vs, err := sweepGrid(methods, keeps, true, extra...)
	if err != nil {
		return nil, err
	}
	return eval.Cells(p, base, vs)
}

// writeEvalSweep prints rep as a table, JSON or CSV.
func writeEvalSweep(w io.Writer, rep *eval.SweepReport, asJSON, asCSV bool) error {
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
	for i, c := range cells { // in-decoder layers must fit the model
		if cells[i].Req, err = p.FitRequest(c.Req); err != nil {
			return fail(2, err)
		}
	}
	progress := newProgress(stderr, "eval")
	var rep *eval.SweepReport
	if data != "" {
		rep, err = eval.DataSweep(ctx, p, data, items, cells, progress)
	} else {
		rep, err = eval.ScenesSweep(ctx, p, scenes, cells, progress)
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
