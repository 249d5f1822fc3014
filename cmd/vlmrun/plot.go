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
	"github.com/vlmrun/vlmrun/eval"
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
	var er *eval.SweepReport
	if *benchPath != "" {
		br = &bench.Report{}
		if err := readJSON(*benchPath, br); err != nil {
			return fail(1, err)
		}
	}
	if *evalPath != "" {
		er = &eval.SweepReport{}
		if err := readJSON(*evalPath, er); err != nil {
			return fail(1, err)
		}
		if *metric == "" {
			*metric = er.Primary
		}
		if len(er.Rows) == 0 || !er.HasMetric(*metric) {
			return fail(2, fmt.Errorf("%s has no rows with metric %q (it has %s)", *evalPath, *metric, strings.Join(er.Metrics, ", ")))
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fail(1, err)
	}
	colors := plot.MethodIndex(br, er)
	var written []string
	if br != nil {
		for _, img := range plot.BenchImages(br) {
			name := "latency.png"
			if len(plot.BenchImages(br)) > 1 {
				name = "latency_" + safeName(strings.TrimSuffix(img, filepath.Ext(img))) + ".png"
			}
			path := filepath.Join(*out, name)
			title := fmt.Sprintf("%s on %s: latency per stage vs visual tokens kept (%d measured runs per point, %s, ORT %s, %s)",
				filepath.Base(br.Model.Dir), img, br.Runs, br.Env.CPU, br.Env.ORT, threadsLabel(br.Env.Threads))
			if err := plot.WriteGrid(path, title, plot.LatencyPanels(br, img, colors), 4, 40, 21); err != nil {
				return fail(1, err)
			}
			written = append(written, path)
		}
	}
	if er != nil {
		path := filepath.Join(*out, "accuracy.png")
		if err := plot.Write(path, plot.AccuracyPanel(er, *metric, colors), 18, 12); err != nil {
			return fail(1, err)
		}
		written = append(written, path)
		pn, err := plot.ParetoPanel(er, br, *metric, colors)
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

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			return r
		}
		return '_'
	}, s)
}
