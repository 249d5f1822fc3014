package bench

import (
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the report as readable tables: the environment, then
// for each image the latency of every stage (median/p90/min) and a second
// table of rates, memory, work and speed-ups (medians).
func WriteTable(w io.Writer, r *Report) error {
	var b strings.Builder
	m := r.Model
	threads := strconv.Itoa(r.Env.Threads)
	if r.Env.Threads == 0 {
		threads = "ORT default"
	}
	fmt.Fprintf(&b, "model %s (%s): %d visual tokens per image at %d×%d, decoder %d layers × %d hidden, vision %.3g GFLOP per image\n",
		filepath.Base(m.Dir), m.Family, m.TokensPerImage, m.InputSize[0], m.InputSize[1], m.Decoder.Layers, m.Decoder.Hidden, m.Vision.FLOPs/1e9)
	opts := r.Env.ORTOptions
	if opts == "" {
		opts = "default"
	}
	fmt.Fprintf(&b, "onnxruntime %s, %s, intra-op threads: %s, session options: %s; %s, %d logical CPUs, load %s; %s\n",
		r.Env.ORT, r.Env.Provider, threads, opts, r.Env.CPU, r.Env.CPUs, r.Env.LoadAvg1m, r.Env.Go)
	fmt.Fprintf(&b, "%d warm-up + %d measured runs per cell, interleaved across cells\n", r.Warmup, r.Runs)
	fmt.Fprintf(&b, "session creation: open %.0f ms (load %.0f, vision session %.0f, decoder %.0f) + %.0f ms of sessions the first run opened\n",
		r.Open.Total, r.Open.Load, r.Open.Vision, r.Open.Decoder, r.FirstSessionOpen)
	if r.Peaks != nil {
		if err := WritePeaks(&b, r.Peaks); err != nil {
			return err
		}
	}
	for _, img := range images(r.Rows) {
		rows := rowsOf(r.Rows, img)
		frames := rows[0].Frames > 0
		tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
		if frames {
			fmt.Fprintf(&b, "\nvideo %s: %d frames (%s %d×%d); the total includes frame extraction\n", img, rows[0].Frames,
				rows[0].Format, rows[0].Width, rows[0].Height)
			fmt.Fprintln(tw, "method\tkeep\tvisual tokens\tper frame\tframe extract\timage decode\tpreprocess\tencode\tprune\tprefill (TTFT)\tdecode\ttotal\t")
			fmt.Fprintln(tw, "\t\t\t\tms med/p90/min\t\t\t\t\t\t\t\t")
		} else {
			fmt.Fprintf(&b, "\nimage %s (%s %d×%d)\n", img, rows[0].Format, rows[0].Width, rows[0].Height)
			fmt.Fprintln(tw, "method\tkeep\tvisual\timage decode\tpreprocess\tencode\tprune\tprefill (TTFT)\tdecode\ttotal\t")
			fmt.Fprintln(tw, "\t\ttokens\tms med/p90/min\t\t\t\t\t\t\t")
		}
		for _, x := range rows {
			lead := fmt.Sprintf("%s\t%s\t%d→%d\t", methodLabel(x.Variant), keepLabel(x.Variant), x.VisualBefore, x.VisualAfter)
			if frames {
				lead += fmt.Sprintf("%.1f→%.1f\t%s\t", x.PerFrameBefore, x.PerFrameAfter, tri(x.FrameExtract))
			}
			fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", lead, tri(x.ImageDecode), tri(x.Preprocess), tri(x.Encode),
				tri(x.Prune), tri(x.Prefill), tri(x.Decode), tri(x.Total))
		}
		tw.Flush()
		fmt.Fprintln(&b)
		tw = tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "method\tkeep\tkeep\tprefill\tgenerated\tdecode\tin ORT\trunner\tKV cache\tvisual KV\tGFLOP\tprefill speed-up\t")
		fmt.Fprintln(tw, "\t\tratio\ttokens\ttokens\ttok/s\tms\toverhead\t\t(shrink)\tenc/prefill/decode\tmeasured / FLOPs (ratio)\t")
		for _, x := range rows {
			speed := "-"
			if x.PredictedSpeedup > 0 {
				speed = fmt.Sprintf("%.2f× / %.2f× (%.0f%%)", x.PrefillSpeedup, x.PredictedSpeedup,
					100*x.PrefillSpeedup/x.PredictedSpeedup)
			}
			shrink := 0.0
			if x.VisualKVFull > 0 {
				shrink = 1 - float64(x.VisualKV)/float64(x.VisualKVFull)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.3f\t%d\t%d\t%.0f\t%.1f\t%.1f%%\t%s\t%s (%.0f%%)\t%.3g/%.3g/%.3g\t%s\t\n",
				methodLabel(x.Variant), keepLabel(x.Variant), x.KeepRatio, x.PrefillTokens, x.GeneratedTokens,
				x.DecodeRate.Median, x.ORT.Median, 100*x.Overhead.Median, Bytes(x.KVBytes),
				Bytes(x.VisualKV), 100*shrink, x.FLOPs.Encode/1e9, x.FLOPs.Prefill/1e9, x.FLOPs.Decode/1e9, speed)
		}
		tw.Flush()
	}
	growth := r.RSSAfterLast - r.RSSAfterFirst
	fmt.Fprintf(&b, "\npeak RSS %s; RSS after the first measured round %s, after the last %s (%+.1f MiB)\n",
		Bytes(r.PeakRSS), Bytes(r.RSSAfterFirst), Bytes(r.RSSAfterLast), float64(growth)/(1<<20))
	for _, x := range r.Rows {
		if x.TilesSkipped > 0 || x.Tiles != "" {
			fmt.Fprintf(&b, "tiles: %s, %s: %d encoded, %d skipped before the encoder (decision %.2f ms median)\n",
				x.Image, methodLabel(x.Variant), x.TilesEncoded, x.TilesSkipped, x.TilePrune.Median)
		}
	}
	writeAchieved(&b, r)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func tri(s Summary) string {
	p := 1
	if s.Median < 1 {
		p = 2
	}
	return fmt.Sprintf("%.*f/%.*f/%.*f", p, s.Median, p, s.P90, p, s.Min)
}

// methodLabel is the method, with the decoder form when the variant sets
// one.
func methodLabel(v Variant) string {
	l := v.Method
	if v.Form != "" {
		l += " (" + v.Form + ")"
	}
	if v.Tiles != "" {
		l += " tiles=" + v.Tiles
	}
	return l
}

func keepLabel(v Variant) string {
	switch {
	case v.IsBaseline():
		return "-"
	case v.Keep == "":
		return "default"
	}
	return v.Keep
}

// Bytes formats n bytes with a binary unit.
func Bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func images(rows []Row) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rows {
		if !seen[r.Image] {
			seen[r.Image] = true
			out = append(out, r.Image)
		}
	}
	return out
}

func rowsOf(rows []Row, image string) []Row {
	var out []Row
	for _, r := range rows {
		if r.Image == image {
			out = append(out, r)
		}
	}
	return out
}

// stageColumns are the summarized quantities, in CSV column order.
var stageColumns = []struct {
	name string
	get  func(*Row) Summary
}{
	{"frame_extract_ms", func(r *Row) Summary { return r.FrameExtract }},
	{"image_decode_ms", func(r *Row) Summary { return r.ImageDecode }},
	{"preprocess_ms", func(r *Row) Summary { return r.Preprocess }},
	{"tile_prune_ms", func(r *Row) Summary { return r.TilePrune }},
	{"encode_ms", func(r *Row) Summary { return r.Encode }},
	{"prune_ms", func(r *Row) Summary { return r.Prune }},
	{"prefill_ms", func(r *Row) Summary { return r.Prefill }},
	{"decode_ms", func(r *Row) Summary { return r.Decode }},
	{"total_ms", func(r *Row) Summary { return r.Total }},
	{"decode_tokens_per_s", func(r *Row) Summary { return r.DecodeRate }},
	{"ort_ms", func(r *Row) Summary { return r.ORT }},
	{"runner_overhead_frac", func(r *Row) Summary { return r.Overhead }},
}

// CSVHeader returns the CSV columns WriteCSV writes.
func CSVHeader() []string {
	h := []string{"method", "keep", "form", "image", "visual_tokens_before", "visual_tokens_after", "keep_ratio",
		"prefill_tokens", "generated_tokens", "decoder_form", "tiles", "tiles_encoded", "tiles_skipped", "frames", "runs"}
	for _, c := range stageColumns {
		h = append(h, c.name+"_median", c.name+"_p90", c.name+"_min")
	}
	return append(h, "kv_cache_bytes", "visual_kv_bytes", "visual_kv_unpruned_bytes", "peak_rss_bytes",
		"flops_encode", "flops_prefill", "flops_decode", "prefill_speedup", "prefill_speedup_predicted",
		"ort_version", "execution_provider", "threads", "caption")
}

// WriteCSV writes one CSV line per row, after a header line.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader()); err != nil {
		return fmt.Errorf("bench: csv: %w", err)
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
	i := strconv.Itoa
	i64 := func(x int64) string { return strconv.FormatInt(x, 10) }
	for k := range r.Rows {
		x := &r.Rows[k]
		rec := []string{x.Method, x.Keep, x.Form, x.Image, i(x.VisualBefore), i(x.VisualAfter), f(x.KeepRatio),
			i(x.PrefillTokens), i(x.GeneratedTokens), x.DecoderForm, x.Tiles, i(x.TilesEncoded), i(x.TilesSkipped), i(x.Frames), i(x.Total.N)}
		for _, c := range stageColumns {
			s := c.get(x)
			rec = append(rec, f(s.Median), f(s.P90), f(s.Min))
		}
		rec = append(rec, i64(x.KVBytes), i64(x.VisualKV), i64(x.VisualKVFull), i64(x.PeakRSS),
			f(x.FLOPs.Encode), f(x.FLOPs.Prefill), f(x.FLOPs.Decode), f(x.PrefillSpeedup), f(x.PredictedSpeedup),
			r.Env.ORT, r.Env.Provider, i(r.Env.Threads), x.Caption)
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("bench: csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("bench: csv: %w", err)
	}
	return nil
}
