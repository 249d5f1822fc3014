package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/bench"
	"github.com/vlmrun/vlmrun/eval"
)

func writeJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Charts from synthetic reports: no model needed.
func TestPlotCLI(t *testing.T) {
	dir := t.TempDir()
	s := func(m float64) bench.Summary { return bench.Summary{Median: m, P90: m * 1.1, Min: m * 0.9, N: 3} }
	row := func(method, keep, form, dform, image string, ratio, prefill float64) bench.Row {
		return bench.Row{Variant: bench.Variant{Method: method, Keep: keep, Form: form}, Image: image,
			KeepRatio: ratio, DecoderForm: dform, Prefill: s(prefill), Total: s(10 * prefill), Encode: s(3)}
	}
	var rows []bench.Row
	for _, img := range []string{"a.png", "b.png"} {
		rows = append(rows, row("none", "", "", "merged", img, 1, 2), row("none", "", "layers", "layers", img, 1, 2.5),
			row("divprune", "0.5", "", "merged", img, 0.5, 1.2), row("divprune", "0.25", "", "merged", img, 0.25, 0.8),
			row("fastv", "0.5", "", "layers", img, 0.5, 2))
	}
	br := bench.Report{Runs: 3, Rows: rows}
	ev := eval.SweepReport{Dataset: "scenes", Count: 10, Primary: "exact_match", Metrics: []string{"exact_match"}}
	for _, r := range []struct {
		m, k  string
		ratio float64
		acc   float64
	}{{"none", "", 1, 0.9}, {"divprune", "0.5", 0.5, 0.8}, {"divprune", "0.25", 0.25, 0.6}, {"fastv", "0.5", 0.5, 0.85}} {
		ev.Rows = append(ev.Rows, eval.SweepRow{Variant: bench.Variant{Method: r.m, Keep: r.k}, KeepRatio: r.ratio,
			Metrics: map[string]float64{"exact_match": r.acc}})
	}
	bp, ep := filepath.Join(dir, "b.json"), filepath.Join(dir, "e.json")
	writeJSONFile(t, bp, br)
	writeJSONFile(t, ep, ev)
	out := filepath.Join(dir, "charts")
	code, stdout, stderr := runCLI(t, nil, "plot", "--bench", bp, "--eval", ep, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := []string{"latency_a.png", "latency_b.png", "accuracy.png", "pareto.png"}
	for _, name := range want {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		f.Close()
	}
	if got := strings.Count(stdout, "\n"); got != len(want) {
		t.Errorf("stdout lists %d files: %q", got, stdout)
	}
	// Without a bench report the Pareto chart needs the eval's own prefill
	// times, which scenes sweeps do not have.
	code, stdout, stderr = runCLI(t, nil, "plot", "--eval", ep, "--out", out)
	if code != 0 || strings.Contains(stdout, "pareto") || !strings.Contains(stderr, "no pareto chart") {
		t.Errorf("eval only: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"plot"}, 2},
		{[]string{"plot", "--bench", filepath.Join(dir, "none.json")}, 1},
		{[]string{"plot", "--eval", ep, "--metric", "cider_d"}, 2},
		{[]string{"plot", "--eval", bp}, 1}, // not an eval report
	} {
		if code, _, e := runCLI(t, nil, tc.args...); code != tc.code || e == "" {
			t.Errorf("%v: exit %d (want %d), stderr %q", tc.args, code, tc.code, e)
		}
	}
}
