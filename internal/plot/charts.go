package plot

// The charts of `vlmrun plot`, built from bench and eval sweep reports:
// latency per stage against the keep ratio, accuracy against the keep
// ratio, and accuracy against prefill time with its Pareto frontier. The
// rest of the package only draws; these functions know the reports.

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vlmrun/vlmrun/bench"
	"github.com/vlmrun/vlmrun/eval"
)

// MethodIndex gives every pruning method a stable colour index, in order
// of first appearance; the baseline gets -1 (black).
func MethodIndex(br *bench.Report, er *eval.SweepReport) map[string]int {
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

// BenchImages lists a bench report's images in order of first appearance.
func BenchImages(br *bench.Report) []string {
	var out []string
	for _, r := range br.Rows {
		if len(out) == 0 || !strings.Contains("\x00"+strings.Join(out, "\x00")+"\x00", "\x00"+r.Image+"\x00") {
			out = append(out, r.Image)
		}
	}
	return out
}

// LatencyPanels charts every stage's median (bars: min to p90) against the
// keep ratio, one line per method through its unpruned baseline (of the
// same decoder form) at ratio 1.
func LatencyPanels(br *bench.Report, image string, colors map[string]int) []Panel {
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
	var panels []Panel
	for si, st := range stages {
		pt := func(r *bench.Row) Point {
			s := st.get(r)
			return Point{X: r.KeepRatio, Y: s.Median, Low: s.Min, High: s.P90}
		}
		series := map[string]*Series{}
		var order []string
		for _, r := range rows {
			s, ok := series[r.Method]
			if !ok {
				s = &Series{Name: r.Method, Index: colors[r.Method]}
				if b, ok := base[r.DecoderForm]; ok {
					s.Points = append(s.Points, pt(b))
				}
				series[r.Method] = s
				order = append(order, r.Method)
			}
			s.Points = append(s.Points, pt(r))
		}
		pn := Panel{Title: st.name, XLabel: "visual tokens kept (ratio)", YLabel: "ms (median; bars min–p90)",
			Legend: si == 0, LegendAt: "top right"}
		for form, b := range base {
			pn.Series = append(pn.Series, Series{Name: "none (" + form + ")", Index: -1, Style: Markers,
				Points: []Point{pt(b)}})
		}
		for _, m := range order {
			pn.Series = append(pn.Series, *series[m])
		}
		panels = append(panels, pn)
	}
	return panels
}

// AccuracyPanel charts the metric against the keep ratio, one line per
// method through the unpruned baseline at ratio 1.
func AccuracyPanel(er *eval.SweepReport, metric string, colors map[string]int) Panel {
	var base *eval.SweepRow
	series := map[string]*Series{}
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
			s = &Series{Name: r.Method, Index: colors[r.Method]}
			series[r.Method] = s
			order = append(order, r.Method)
		}
		s.Points = append(s.Points, Point{X: r.KeepRatio, Y: r.Metrics[metric]})
	}
	pn := Panel{Title: fmt.Sprintf("%s vs visual tokens kept (%s, %d images)", metric, filepath.Base(er.Dataset), er.Count),
		XLabel: "visual tokens kept (ratio, last decoder layer)", YLabel: metric, Legend: true}
	if base != nil {
		bp := Point{X: base.KeepRatio, Y: base.Metrics[metric]}
		pn.Series = append(pn.Series, Series{Name: "none", Index: -1, Style: Markers, Points: []Point{bp}})
		for _, m := range order {
			series[m].Points = append(series[m].Points, bp)
		}
	}
	for _, m := range order {
		pn.Series = append(pn.Series, *series[m])
	}
	return pn
}

// ParetoPanel charts the metric against the prefill time: bench's median
// prefill of the same method and keep (averaged over the bench's images),
// or the eval's own mean prefill when there is no bench report.
func ParetoPanel(er *eval.SweepReport, br *bench.Report, metric string, colors map[string]int) (Panel, error) {
	prefill := func(r *eval.SweepRow) (float64, bool) {
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
	series := map[string]*Series{}
	var order []string
	var all []Point
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
			s = &Series{Name: name, Index: idx, Style: Markers}
			series[name] = s
			order = append(order, name)
		}
		p := Point{X: x, Y: r.Metrics[metric]}
		s.Points = append(s.Points, p)
		all = append(all, p)
	}
	if len(all) == 0 {
		return Panel{}, fmt.Errorf("no prefill times: give a bench report of the same methods and budgets (--bench)")
	}
	src := "bench median"
	if br == nil {
		src = "eval mean"
	}
	pn := Panel{Title: fmt.Sprintf("%s vs prefill time (%s)", metric, src),
		XLabel: "prefill (time to first token), ms", YLabel: metric, Legend: true}
	for _, m := range order {
		pn.Series = append(pn.Series, *series[m])
	}
	pn.Series = append(pn.Series, Series{Name: "Pareto frontier", Index: -1, Style: Dashed, Points: Frontier(all)})
	return pn, nil
}
