package bench

import (
	"github.com/vlmrun/vlmrun/pipeline"
)

// Row is the result of one cell of the sweep: one pruning variant on one
// image. Times are in milliseconds.
type Row struct {
	Variant
	Image   string `json:"image"`
	Format  string `json:"image_format"`
	Width   int    `json:"image_width"`
	Height  int    `json:"image_height"`
	Caption string `json:"caption"` // of the last measured run
	// VisualBefore is the encoder's visual-token count; VisualAfter the
	// visual rows the decoder's last layer holds after prefill (after a
	// pre-decoder method, or an in-decoder method's last cut); KeepRatio
	// their ratio. PrefillTokens is the sequence the first decoder layer
	// sees (prompt text plus visual tokens kept before the decoder).
	VisualBefore    int     `json:"visual_tokens_before"`
	VisualAfter     int     `json:"visual_tokens_after"`
	KeepRatio       float64 `json:"keep_ratio"`
	PrefillTokens   int     `json:"prefill_tokens"`
	LayerRows       []int   `json:"kv_rows_per_layer"`
	GeneratedTokens int     `json:"generated_tokens"`
	DecoderForm     string  `json:"decoder_form"`
	// TilesEncoded and TilesSkipped are the vision inputs encoded and the
	// tiles skipped before the encoder (tile pruning), in the last run.
	TilesEncoded int `json:"tiles_encoded"`
	TilesSkipped int `json:"tiles_skipped"`
	// Frames is the frame count of a frame-sequence input (0 for an image);
	// FrameExtract times extracting them (video decode and sampling, part
	// of Total); PerFrameBefore and PerFrameAfter are VisualBefore and
	// VisualAfter per frame.
	Frames         int     `json:"frames,omitempty"`
	FrameExtract   Summary `json:"frame_extract_ms"`
	PerFrameBefore float64 `json:"visual_tokens_per_frame_before,omitempty"`
	PerFrameAfter  float64 `json:"visual_tokens_per_frame_after,omitempty"`

	ImageDecode Summary `json:"image_decode_ms"`
	Preprocess  Summary `json:"preprocess_ms"`
	TilePrune   Summary `json:"tile_prune_ms"`
	Encode      Summary `json:"encode_ms"`
	Prune       Summary `json:"prune_ms"`
	Prefill     Summary `json:"prefill_ms"`
	Decode      Summary `json:"decode_ms"`
	Total       Summary `json:"total_ms"`
	DecodeRate  Summary `json:"decode_tokens_per_s"`
	ORT         Summary `json:"ort_ms"`
	Overhead    Summary `json:"runner_overhead_frac"`

	// KVBytes is the whole KV cache at the end of generation; VisualKV the
	// cache rows of visual tokens right after prefill, summed over layers,
	// and VisualKVFull what they would take unpruned.
	KVBytes      int64 `json:"kv_cache_bytes"`
	VisualKV     int64 `json:"visual_kv_bytes"`
	VisualKVFull int64 `json:"visual_kv_unpruned_bytes"`
	PeakRSS      int64 `json:"peak_rss_bytes"`

	FLOPs FLOPs `json:"flops"`
	// Achieved is the work rate per stage (achieved.go).
	Achieved Achieved `json:"achieved"`
	// PrefillSpeedup is the baseline's median prefill over this row's, and
	// PredictedSpeedup the ratio of their prefill FLOPs, both against the
	// unpruned row of the same image and decoder form in the same run (0
	// without one).
	PrefillSpeedup   float64 `json:"prefill_speedup,omitempty"`
	PredictedSpeedup float64 `json:"prefill_speedup_predicted,omitempty"`
}

// FLOPs is the estimated work of one run per stage (see Decoder and
// GraphFLOPs); decoding, pruning and the elementwise work are not
// estimated.
type FLOPs struct {
	Encode  float64 `json:"encode"`
	Prefill float64 `json:"prefill"`
	Decode  float64 `json:"decode"`
}

// Total is the sum over stages.
func (f FLOPs) Total() float64 { return f.Encode + f.Prefill + f.Decode }

// summarize turns the measured runs of one cell into a Row.
func summarize(v Variant, image string, runs []*pipeline.Result, m Model) Row {
	last := runs[len(runs)-1]
	r := Row{Variant: v, Image: image, Format: last.Image.Format, Width: last.Image.Width,
		Height: last.Image.Height, Caption: last.Caption, VisualBefore: last.Visual.Before,
		LayerRows: last.Visual.LayerRows, GeneratedTokens: last.Timings.GeneratedTokens,
		DecoderForm: last.Timings.DecoderForm, KVBytes: last.Timings.KVBytes,
		TilesEncoded: last.Timings.TilesEncoded, TilesSkipped: last.Timings.TilesSkipped}
	text := len(last.PromptIDs) - last.Visual.Before
	r.PrefillTokens = text + last.Visual.AfterPre
	r.VisualAfter = last.Visual.AfterPre
	if n := len(r.LayerRows); n > 0 {
		r.VisualAfter = r.LayerRows[n-1] - text
	}
	if r.VisualBefore > 0 {
		r.KeepRatio = float64(r.VisualAfter) / float64(r.VisualBefore)
	}
	row := m.Decoder.KVRowBytes()
	for _, n := range r.LayerRows {
		r.VisualKV += int64(n-text) * row
	}
	r.VisualKVFull = int64(r.VisualBefore*m.Decoder.Layers) * row

	get := func(f func(t pipeline.Timings) float64) Summary {
		xs := make([]float64, len(runs))
		for i, res := range runs {
			xs[i] = f(res.Timings)
		}
		return Summarize(xs)
	}
	r.ImageDecode = get(func(t pipeline.Timings) float64 { return t.ImageDecode })
	r.Preprocess = get(func(t pipeline.Timings) float64 { return t.Preprocess })
	r.TilePrune = get(func(t pipeline.Timings) float64 { return t.TilePrune })
	r.Encode = get(func(t pipeline.Timings) float64 { return t.Encode })
	r.Prune = get(func(t pipeline.Timings) float64 { return t.Prune })
	r.Prefill = get(func(t pipeline.Timings) float64 { return t.Prefill })
	r.Decode = get(func(t pipeline.Timings) float64 { return t.Decode })
	r.Total = get(func(t pipeline.Timings) float64 { return t.Total })
	r.DecodeRate = get(func(t pipeline.Timings) float64 { return t.DecodeTokensPerSec })
	r.ORT = get(func(t pipeline.Timings) float64 { return t.ORTMs })
	r.Overhead = get(func(t pipeline.Timings) float64 { return t.OverheadFrac })
	for _, res := range runs {
		r.PeakRSS = max(r.PeakRSS, res.Timings.PeakRSSBytes)
	}

	if m.TokensPerImage > 0 {
		r.FLOPs.Encode = m.Vision.FLOPs * float64(r.VisualBefore) / float64(m.TokensPerImage)
	}
	if m.Decoder.Intermediate > 0 && len(r.LayerRows) > 0 {
		head := 1
		if r.DecoderForm == "merged" && m.MergedLogitsAll {
			head = r.PrefillTokens
		}
		r.FLOPs.Prefill = m.Decoder.PrefillFLOPs(r.LayerRows, head)
		r.FLOPs.Decode = m.Decoder.DecodeFLOPs(r.LayerRows, r.GeneratedTokens)
	}
	r.Achieved = achieved(r, m.DecoderWeightBytes)
	return r
}

// compareToBaseline fills the speed-ups of every row that has an unpruned
// row of the same image and decoder form.
func compareToBaseline(rows []Row) {
	type key struct{ image, form string }
	base := map[key]Row{}
	for _, r := range rows {
		k := key{r.Image, r.DecoderForm}
		if _, ok := base[k]; !ok && r.IsBaseline() {
			base[k] = r
		}
	}
	for i := range rows {
		b, ok := base[key{rows[i].Image, rows[i].DecoderForm}]
		if !ok {
			continue
		}
		if rows[i].Prefill.Median > 0 {
			rows[i].PrefillSpeedup = b.Prefill.Median / rows[i].Prefill.Median
		}
		if rows[i].FLOPs.Prefill > 0 {
			rows[i].PredictedSpeedup = b.FLOPs.Prefill / rows[i].FLOPs.Prefill
		}
	}
}
