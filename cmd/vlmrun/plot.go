package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/bench"
	"github.com/vlmrun/vlmrun/internal/plot"
)

func cmdPlot(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("plot", stderr, func(*pflag.FlagSet) {
		fmt.Fprintln(stderr, "usage: vlmrun plot [--bench BENCH.json] [--eval EVAL.json] [--out DIR]")
		fmt.Fprintln(stderr, "\nwrites PNG charts from `vlmrun bench --json` and `vlmrun eval --json` sweeps:")
		fmt.Fprintln(stderr, "  latency.png   latency of every stage vs keep ratio, per method (bench)")
		fmt.Fprintln(stderr, "  accuracy.png  accuracy vs keep ratio, per method (eval)")
		fmt.Fprintln(stderr, "  pareto.png    accuracy vs measured prefill time, with the Pareto frontier (eval, with bench's prefill medians)")
	})
	benchPath := fs.String("bench", "", "a `vlmrun bench --json` report")
	evalPath := fs.String("eval", "", "a `vlmrun eval --json` sweep report")
	metric := fs.String("metric", "", "accuracy metric to chart (default: the eval report's primary metric)")
	out := fs.String("out", ".", "folder for the PNG files")
	if code, done := parseCommand(fs, args); done {
		return code
	}
	fail := func(code int, err error) int {
		if code == 2 {
			err = asUsage(err)
		}
		return exitCode(stderr, "plot", err)
	}
	if fs.NArg() > 0 {
		return fail(2, fmt.Errorf("unexpected argument %q (plot takes only flags)", fs.Arg(0)))
	}
	if *benchPath == "" && *evalPath == "" {
		return fail(2, fmt.Errorf("give --bench, --eval or both"))
	}
	var br *bench.Report
	var er *evalSweepReport
	if *benchPath != "" {
		br = &bench.Report{}
		if err := readJSON(*benchPath, br); err != nil {
			return fail(1, err)
		}
	}
	if *evalPath != "" {
		er = &evalSweepReport{}
		if err := readJSON(*evalPath, er); err != nil {
			return fail(1, err)
		}
		if *metric == "" {
			*metric = er.Primary
		}
		if len(er.Rows) == 0 || !hasMetric(er, *metric) {
			return fail(2, fmt.Errorf("%s has no rows with metric %q (it has %s)", *evalPath, *metric, strings.Join(er.Metrics, ", ")))
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fail(1, err)
	}
	colors := methodIndex(br, er)
	var written []string
	if br != nil {
		for _, img := range benchImages(br) {
			name := "latency.png"
			if len(benchImages(br)) > 1 {
				name = "latency_" + safeName(strings.TrimSuffix(img, filepath.Ext(img))) + ".png"
			}
			path := filepath.Join(*out, name)
			title := fmt.Sprintf("%s on %s: latency per stage vs visual tokens kept (%d measured runs per point, %s, ORT %s, %s)",
				filepath.Base(br.Model.Dir), img, br.Runs, br.Env.CPU, br.Env.ORT, threadsLabel(br.Env.Threads))
			if err := plot.WriteGrid(path, title, latencyPanels(br, img, colors), 4, 40, 21); err != nil {
				return fail(1, err)
			}
			written = append(written, path)
		}
	}
	if er != nil {
		path := filepath.Join(*out, "accuracy.png")
		if err := plot.Write(path, accuracyPanel(er, *metric, colors), 18, 12); err != nil {
			return fail(1, err)
		}
		written = append(written, path)
		pn, err := paretoPanel(er, br, *metric, colors)
		if err != nil {
			fmt.Fprintf(stderr, "vlmrun plot: no pareto chart: %v\n", err)
		} else {
			path := filepath.Join(*out, "pareto.png")
			if err := plot.Write(path, pn, 18, 12); err != nil {
				return fail(1, err)
			}
			written = append(written, path)
		}
	}
	for _, w := range written {
		fmt.Fprintln(stdout, w)
	}
	return 0
}

func threadsLabel(n int) string {
	switch n {
	case 0:
		return "ORT default threads"
	case 1:
		return "1 thread"
	}
	return fmt.Sprintf("%d threads", n)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

func hasMetric(r *evalSweepReport, m string) bool {
	_, ok := r.Rows[0].Metrics[m]
	return ok
}

// methodIndex gives every pruning method a stable colour index, in order
// of first appearance; the baseline gets -1 (black).
func methodIndex(br *bench.Report, er *evalSweepReport) map[string]int {
	idx := map[string]int{}
	add := func(v bench.Variant) {
		if _, ok := idx[v.Method]; !ok && !v.IsBaseline() {
			idx[v.Method] = len(idx)
		}
	}
	if br != nil {
		for _, r := range br.Rows {
			add(r.Variant)
		}
	}
	if er != nil {
		for _, r := range er.Rows {
			add(r.Variant)
		}
	}
	return idx
}

func benchImages(br *bench.Report) []string {
	var out []string
	for _, r := range br.Rows {
		if len(out) == 0 || !strings.Contains("\x00"+strings.Join(out, "\x00")+"\x00", "\x00"+r.Image+"\x00") {
			out = append(out, r.Image)
		}
	}
	return out
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			return r
		}
		return '_'
	}, s)
}

// latencyPanels charts every stage's median (bars: min to p90) against the
// keep ratio, one line per method through its unpruned baseline (of the
// same decoder form) at ratio 1.
func latencyPanels(br *bench.Report, image string, colors map[string]int) []plot.Panel {
	stages := []struct {
		name string
		get  func(*bench.Row) bench.Summary
	}{
		{"image decode", func(r *bench.Row) bench.Summary { return r.ImageDecode }},
		{"preprocess", func(r *bench.Row) bench.Summary { return r.Preprocess }},
		{"vision encode", func(r *bench.Row) bench.Summary { return r.Encode }},
		{"pruning", func(r *bench.Row) bench.Summary { return r.Prune }},
		{"prefill (time to first token)", func(r *bench.Row) bench.Summary { return r.Prefill }},
		{"decode (tokens after the first)", func(r *bench.Row) bench.Summary { return r.Decode }},
		{"total", func(r *bench.Row) bench.Summary { return r.Total }},
		{"inside ONNX Runtime", func(r *bench.Row) bench.Summary { return r.ORT }},
	}
	var rows []*bench.Row
	base := map[string]*bench.Row{} // decoder form -> baseline row
	for i := range br.Rows {
		r := &br.Rows[i]
		if r.Image != image {
			continue
		}
		if r.IsBaseline() {
			if _, ok := base[r.DecoderForm]; !ok {
				base[r.DecoderForm] = r
			}
			continue
		}
		rows = append(rows, r)
	}
	var panels []plot.Panel
	for si, st := range stages {
		pt := func(r *bench.Row) plot.Point {
			s := st.get(r)
			return plot.Point{X: r.KeepRatio, Y: s.Median, Low: s.Min, High: s.P90}
		}
		series := map[string]*plot.Series{}
		var order []string
		for _, r := range rows {
			s, ok := series[r.Method]
			if !ok {
				s = &plot.Series{Name: r.Method, Index: colors[r.Method]}
				if b, ok := base[r.DecoderForm]; ok {
					s.Points = append(s.Points, pt(b))
				}
				series[r.Method] = s
				order = append(order, r.Method)
			}
			s.Points = append(s.Points, pt(r))
		}
		pn := plot.Panel{Title: st.name, XLabel: "visual tokens kept (ratio)", YLabel: "ms (median; bars min–p90)",
			Legend: si == 0, LegendAt: "top right"}
		for form, b := range base {
			pn.Series = append(pn.Series, plot.Series{Name: "none (" + form + ")", Index: -1, Style: plot.Markers,
				Points: []plot.Point{pt(b)}})
		}
		for _, m := range order {
			pn.Series = append(pn.Series, *series[m])
		}
		panels = append(panels, pn)
	}
	return panels
}

// accuracyPanel charts the metric against the keep ratio, one line per
// method through the unpruned baseline at ratio 1.
func accuracyPanel(er *evalSweepReport, metric string, colors map[string]int) plot.Panel {
	var base *evalRow
	series := map[string]*plot.Series{}
	var order []string
	for i := range er.Rows {
		r := &er.Rows[i]
		if r.IsBaseline() {
			if base == nil {
				base = r
			}
			continue
		}
		s, ok := series[r.Method]
		if !ok {
			s = &plot.Series{Name: r.Method, Index: colors[r.Method]}
			series[r.Method] = s
			order = append(order, r.Method)
		}
		s.Points = append(s.Points, plot.Point{X: r.KeepRatio, Y: r.Metrics[metric]})
	}
	pn := plot.Panel{Title: fmt.Sprintf("%s vs visual tokens kept (%s, %d images)", metric, filepath.Base(er.Dataset), er.Count),
		XLabel: "visual tokens kept (ratio, last decoder layer)", YLabel: metric, Legend: true}
	if base != nil {
		bp := plot.Point{X: base.KeepRatio, Y: base.Metrics[metric]}
		pn.Series = append(pn.Series, plot.Series{Name: "none", Index: -1, Style: plot.Markers, Points: []plot.Point{bp}})
		for _, m := range order {
			series[m].Points = append(series[m].Points, bp)
		}
	}
	for _, m := range order {
		pn.Series = append(pn.Series, *series[m])
	}
	return pn
}

// paretoPanel charts the metric against the prefill time: bench's median
// prefill of the same method and keep (averaged over the bench's images),
// or the eval's own mean prefill when there is no bench report.
func paretoPanel(er *evalSweepReport, br *bench.Report, metric string, colors map[string]int) (plot.Panel, error) {
	prefill := func(r *evalRow) (float64, bool) {
		if br == nil {
			return r.MeanPrefillMs, r.MeanPrefillMs > 0
		}
		sum, n := 0.0, 0
		for _, b := range br.Rows {
			same := b.Method == r.Method && b.Keep == r.Keep && b.Form == ""
			if r.IsBaseline() {
				same = b.IsBaseline() && b.Form == ""
			}
			if same {
				sum += b.Prefill.Median
				n++
			}
		}
		if n == 0 {
			return 0, false
		}
		return sum / float64(n), true
	}
	series := map[string]*plot.Series{}
	var order []string
	var all []plot.Point
	for i := range er.Rows {
		r := &er.Rows[i]
		x, ok := prefill(r)
		if !ok {
			continue
		}
		name, idx := r.Method, colors[r.Method]
		if r.IsBaseline() {
			name, idx = "none", -1
		}
		s, ok := series[name]
		if !ok {
			s = &plot.Series{Name: name, Index: idx, Style: plot.Markers}
			series[name] = s
			order = append(order, name)
		}
		p := plot.Point{X: x, Y: r.Metrics[metric]}
		s.Points = append(s.Points, p)
		all = append(all, p)
	}
	if len(all) == 0 {
		return plot.Panel{}, fmt.Errorf("no prefill times: give a bench report of the same methods and budgets (--bench)")
	}
	src := "bench median"
	if br == nil {
		src = "eval mean"
	}
	pn := plot.Panel{Title: fmt.Sprintf("%s vs prefill time (%s)", metric, src),
		XLabel: "prefill (time to first token), ms", YLabel: metric, Legend: true}
	for _, m := range order {
		pn.Series = append(pn.Series, *series[m])
	}
	pn.Series = append(pn.Series, plot.Series{Name: "Pareto frontier", Index: -1, Style: plot.Dashed, Points: plot.Frontier(all)})
	return pn, nil
}
