package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/vlmrun/vlmrun/bench"
	"github.com/vlmrun/vlmrun/eval"
	"github.com/vlmrun/vlmrun/models/scenesvqa"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
	"github.com/vlmrun/vlmrun/scenes"
)

// isVQAModel reports whether the --model folder holds a scenes-vqa model,
// whose eval answers generated questions instead of captioning scenes.
func isVQAModel(mf *modelFlags) bool {
	dir, err := mf.resolveModel()
	if err != nil {
		return false
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return false
	}
	var head struct {
		ModelType string `json:"model_type"`
	}
	return json.Unmarshal(data, &head) == nil && head.ModelType == scenesvqa.ModelType
}

// vqaRow is one cell of a VQA eval: a method × budget on one question kind.
type vqaRow struct {
	bench.Variant
	Kind       string             `json:"kind"` // "single" or "sequence"
	KeepRatio  float64            `json:"keep_ratio"`
	MeanVisual float64            `json:"mean_visual_tokens"`
	Exact      float64            `json:"exact_match"`
	ByType     map[string]float64 `json:"exact_match_by_type"`
	OutOfVocab int                `json:"out_of_vocabulary"`
	Count      int                `json:"count"`
	MeanMs     float64            `json:"mean_total_ms"`
	// Error is set when the cell could not run (an in-decoder method on a
	// model without per-layer decoder graphs).
	Error string `json:"error,omitempty"`
}

type vqaReport struct {
	Dataset string   `json:"dataset"`
	Count   int      `json:"count"`
	Seed    uint64   `json:"scene_seed"`
	Size    int      `json:"scene_size"`
	Model   string   `json:"model"`
	Rows    []vqaRow `json:"rows"`
}

type vqaCell struct {
	v      bench.Variant
	req    pipeline.Request
	oracle string
}

// evalVQAMain is `vlmrun eval` for a scenes-vqa model: held-out generated
// questions (single images, frame sequences or both), the unpruned baseline
// then every --prune method × --keep budget, plus the query-aware
// ("oracle") and query-blind ("oracle-blind") geometry oracles when named.
func evalVQAMain(ctx context.Context, mf *modelFlags, gf *genFlags, pf *pruneFlags, seed uint64, start, count, size int,
	kinds, save string, asJSON, asCSV bool, showErrors int, stdout, stderr io.Writer) int {
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "vlmrun eval: %v\n", err)
		return code
	}
	if asJSON && asCSV {
		return fail(2, fmt.Errorf("--json and --csv exclude each other"))
	}
	var seqs []bool
	switch kinds {
	case "single":
		seqs = []bool{false}
	case "sequence":
		seqs = []bool{true}
	case "both", "":
		seqs = []bool{false, true}
	default:
		return fail(2, fmt.Errorf("--questions %q: want single, sequence or both", kinds))
	}
	base, err := gf.request()
	if err != nil {
		return fail(2, err)
	}
	extra := []string{eval.OracleQuery, eval.OracleBlind}
	vs, err := sweepGrid(splitMethods([]string{pf.method}, extra...), splitKeeps(pf.keep), true, extra...)
	if err != nil {
		return fail(2, err)
	}
	var cells []vqaCell
	for _, v := range vs {
		c := vqaCell{v: v, req: base}
		name := strings.ToLower(v.Method)
		if name == eval.OracleQuery || name == eval.OracleBlind {
			c.oracle = name
			if v.Keep != "" {
				b, err := pruning.ParseBudget(v.Keep)
				if err != nil {
					return fail(2, fmt.Errorf("bad --keep: %w", err))
				}
				c.req.Keep = b
			}
		} else if err := (pipeline.PruneSpec{Method: v.Method, Keep: v.Keep, MethodName: "--prune", KeepName: "--keep"}).Apply(&c.req); err != nil {
			return fail(2, err)
		}
		cells = append(cells, c)
	}
	p, err := mf.open()
	if err != nil {
		return fail(1, err)
	}
	defer p.Close()
	rep := &vqaReport{Dataset: "scenes-vqa", Count: count, Seed: seed, Size: size, Model: p.Spec.Dir}
	progress := newProgress(stderr, "eval")
	total := len(cells) * len(seqs) * count
	done := 0
	var wrong []eval.VQASample
	for _, seq := range seqs {
		for i, c := range cells {
			cfg := eval.VQAConfig{Seed: seed, Start: start, Count: count, Size: size, Sequence: seq,
				Request: c.req, Oracle: c.oracle}
			off := done
			if progress != nil {
				cfg.Progress = func(d, _ int) { progress(off+d, total) }
			}
			r, err := eval.VQA(ctx, p, cfg)
			done += count
			row := vqaRow{Variant: c.v, Kind: map[bool]string{false: "single", true: "sequence"}[seq], Count: count}
			if err != nil {
				if i == 0 || ctx.Err() != nil {
					return fail(1, err)
				}
				row.Error = err.Error()
				rep.Rows = append(rep.Rows, row)
				continue
			}
			row.KeepRatio, row.MeanVisual, row.Exact = r.KeepRatio, r.MeanKeptLast, r.All.Rate()
			row.OutOfVocab, row.MeanMs = r.OutOfVocab, r.TotalMs/float64(count)
			row.ByType = map[string]float64{}
			for t, tl := range r.ByType {
				row.ByType[t] = tl.Rate()
			}
			rep.Rows = append(rep.Rows, row)
			if i == 0 {
				for _, s := range r.Samples {
					if !s.Exact && len(wrong) < showErrors {
						wrong = append(wrong, s)
					}
				}
			}
		}
	}
	if save != "" {
		if err := saveJSON(save, rep); err != nil {
			return fail(1, err)
		}
	}
	if err := writeVQA(stdout, rep, asJSON, asCSV); err != nil {
		return fail(1, err)
	}
	for _, s := range wrong {
		fmt.Fprintf(stdout, "question %d (%s, %d frames): %s\n  ref  %s\n  got  %s\n", s.Index, s.Type, s.Frames,
			s.Question, s.Reference, s.Answer)
	}
	return 0
}

func vqaTypes(kind string) []string {
	if kind == "sequence" {
		return scenes.VQASequenceTypes
	}
	return scenes.VQASingleTypes
}

// writeVQA prints the report: JSON, CSV, or one table per question kind.
func writeVQA(w io.Writer, rep *vqaReport, asJSON, asCSV bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
	if asCSV {
		cw := csv.NewWriter(w)
		types := append(append([]string{}, scenes.VQASingleTypes...), scenes.VQASequenceTypes...)
		cw.Write(append([]string{"kind", "method", "keep", "keep_ratio", "mean_visual_tokens", "exact_match", "out_of_vocabulary"}, append(types, "mean_total_ms", "error")...))
		for _, r := range rep.Rows {
			rec := []string{r.Kind, r.Method, r.Keep, f(r.KeepRatio), f(r.MeanVisual), f(r.Exact), strconv.Itoa(r.OutOfVocab)}
			for _, t := range types {
				if v, ok := r.ByType[t]; ok {
					rec = append(rec, f(v))
				} else {
					rec = append(rec, "")
				}
			}
			cw.Write(append(rec, f(r.MeanMs), r.Error))
		}
		cw.Flush()
		return cw.Error()
	}
	for _, kind := range []string{"single", "sequence"} {
		var rows []vqaRow
		for _, r := range rep.Rows {
			if r.Kind == kind {
				rows = append(rows, r)
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "scenes-vqa %s questions, %d per row (seed %d, %d px), model %s\n", kind, rep.Count, rep.Seed,
			rep.Size, filepath.Base(rep.Model))
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprint(tw, "method\tkeep\tkeep ratio\tvisual tokens\texact\t")
		for _, t := range vqaTypes(kind) {
			fmt.Fprintf(tw, "%s\t", t)
		}
		fmt.Fprintln(tw, "out of vocab\tmean ms\t")
		for _, r := range rows {
			keep := r.Keep
			if r.IsBaseline() {
				keep = "-"
			} else if keep == "" {
				keep = "default"
			}
			if r.Error != "" {
				fmt.Fprintf(tw, "%s\t%s\tn/a: %s\t\n", r.Method, keep, r.Error)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.1f\t%.3f\t", r.Method, keep, r.KeepRatio, r.MeanVisual, r.Exact)
			for _, t := range vqaTypes(kind) {
				fmt.Fprintf(tw, "%.3f\t", r.ByType[t])
			}
			fmt.Fprintf(tw, "%d\t%.1f\t\n", r.OutOfVocab, r.MeanMs)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
