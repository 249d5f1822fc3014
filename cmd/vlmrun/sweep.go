package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/vlmrun/vlmrun/bench"
	"github.com/vlmrun/vlmrun/pruning"
)

// splitMethods splits --prune values into method specifications. A value
// may list several methods separated by commas; since a method's
// parameters are separated by commas too ("fastv:k=2,r=0.5",
// "pdrop:layers=8,16,24"), a comma starts a new method only when the text
// after it is a method name (known to pruning, or one of extra), alone or
// followed by ':' or '+' (a combination "PRE+IN").
func splitMethods(vals []string, extra ...string) []string {
	known := map[string]bool{}
	for _, m := range pruning.Methods() {
		known[m.Name] = true
	}
	for _, e := range extra {
		known[e] = true
	}
	var out []string
	for _, v := range vals {
		start := len(out)
		for _, piece := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(piece, ":")
			name, _, _ = strings.Cut(name, "+") // a combination "PRE+IN" starts with PRE's name
			name = strings.ToLower(strings.TrimSpace(name))
			if len(out) == start || (known[name] && !strings.Contains(name, "=")) {
				out = append(out, strings.TrimSpace(piece))
				continue
			}
			out[len(out)-1] += "," + piece
		}
	}
	return out
}

// splitKeeps splits a comma-separated --keep list ("0.5,0.25,64").
func splitKeeps(s string) []string {
	var out []string
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// sweepGrid returns the methods × budgets of a sweep. The unpruned
// baseline ("none") takes no budget and, when baseline is set, comes first
// even if not asked for. A method takes every budget in keeps (its default
// budget when keeps is empty), except an in-decoder method whose counts
// come from its own parameters, which runs once as written. extra names
// methods outside the pruning registry (eval's oracle), which take
// budgets. Repeated cells are dropped.
func sweepGrid(methods, keeps []string, baseline bool, extra ...string) ([]bench.Variant, error) {
	var out []bench.Variant
	add := func(v bench.Variant) {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	if baseline {
		add(bench.Variant{Method: "none"})
	}
	for _, m := range methods {
		name, _, _ := strings.Cut(m, ":")
		takesKeep := slices.Contains(extra, strings.ToLower(name))
		if !takesKeep {
			parsed, err := pruning.Parse(m)
			if err != nil {
				return nil, err
			}
			if parsed.Info.Name == "none" {
				add(bench.Variant{Method: "none"})
				continue
			}
			_, budgeted := parsed.In.(pruning.Budgeted)
			takesKeep = parsed.Pre != nil || budgeted
		}
		if !takesKeep || len(keeps) == 0 {
			add(bench.Variant{Method: m})
			continue
		}
		for _, k := range keeps {
			if _, err := pruning.ParseBudget(k); err != nil {
				return nil, fmt.Errorf("bad --keep: %w", err)
			}
			add(bench.Variant{Method: m, Keep: k})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no pruning method given")
	}
	return out, nil
}

// withLayersBaseline adds an unpruned baseline in the per-layer decoder
// form after the first baseline when the sweep has an in-decoder method,
// whose runs use that form: its speed-ups then compare like with like.
func withLayersBaseline(vs []bench.Variant) []bench.Variant {
	layers := bench.Variant{Method: "none", Form: "layers"}
	in := false
	for _, v := range vs {
		if m, err := pruning.Parse(v.Method); err == nil && m.In != nil {
			in = true
		}
	}
	if !in || slices.Contains(vs, layers) {
		return vs
	}
	i := slices.IndexFunc(vs, bench.Variant.IsBaseline)
	return slices.Insert(vs, i+1, layers)
}

// newProgress returns a progress callback drawing a bar on w, or nil when
// w is not a terminal (so pipes and files stay clean).
func newProgress(w io.Writer, desc string) func(done, total int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	var bar *progressbar.ProgressBar
	return func(done, total int) {
		if bar == nil {
			bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription(desc), progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish(),
				progressbar.OptionThrottle(100_000_000))
		}
		bar.Set(done)
		if done == total {
			bar.Finish()
		}
	}
}
