package pipeline

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vlmrun/vlmrun/internal/ortx"
)

// Timings is the per-stage record of one request, in milliseconds.
//
// TilePrune is the tile-pruning decision on the preprocessed pixels (before
// any ORT call); TilesEncoded counts the vision inputs actually encoded
// (tiles and the global image) and TilesSkipped the tiles left out.
//
// Prefill is the time to the first generated token, counted from the end of
// pruning: prompt tokenization and embedding, splicing, the decoder's prefill
// and the first sampling. Decode covers the remaining tokens; its rate
// excludes the first token. ORTMs is the time spent inside ONNX Runtime Run
// calls and OverheadFrac the share of Total spent outside them.
//
// ORT time is read from the Pipeline's session-wide counters, so it is
// exact when the request ran alone on its Pipeline. When other requests
// ran on the same Pipeline meanwhile (concurrent Caption calls), ORTShared
// is set: ORTMs and ORTCalls then include their runs too, and OverheadFrac
// is left 0. Per-call counters would need the decoder and encoder to pass
// an accumulator to every ORT run; serve and batch mode instead run one
// request at a time per Pipeline (a Pool), which keeps the numbers exact.
type Timings struct {
	ImageDecode        float64 `json:"image_decode_ms"`
	Preprocess         float64 `json:"preprocess_ms"`
	TilePrune          float64 `json:"tile_prune_ms"`
	TilesEncoded       int     `json:"tiles_encoded"`
	TilesSkipped       int     `json:"tiles_skipped"`
	Encode             float64 `json:"encode_ms"`
	Prune              float64 `json:"prune_ms"`
	Prefill            float64 `json:"prefill_ms"`
	Decode             float64 `json:"decode_ms"`
	Total              float64 `json:"total_ms"`
	GeneratedTokens    int     `json:"generated_tokens"`
	DecodeTokensPerSec float64 `json:"decode_tokens_per_s"`
	ORTMs              float64 `json:"ort_ms"`
	ORTCalls           int64   `json:"ort_calls"`
	OverheadFrac       float64 `json:"runner_overhead_frac"`
	ORTShared          bool    `json:"ort_shared,omitempty"`
	KVBytes            int64   `json:"kv_cache_bytes"`
	PeakRSSBytes       int64   `json:"peak_rss_bytes"`
	DecoderForm        string  `json:"decoder_form"`
	// SplitBuild is deriving the decoder's stage graphs for an in-decoder
	// method's cut points (0 when read from the disk cache); SessionOpen is
	// opening the decoder sessions this request was the first to need (the
	// stage graphs, or the merged graph, which opens on first use). Neither
	// is part of Prefill.
	SplitBuild  float64 `json:"decoder_split_build_ms,omitempty"`
	SessionOpen float64 `json:"decoder_session_open_ms,omitempty"`
	// EncoderInstrumentBuild is deriving the vision graph instrumented for
	// a pre-decoder method's extras (0 when read from the disk cache, and
	// absent when the request did not open it); EncoderSessionOpen is
	// opening its session. Neither is part of Encode.
	EncoderInstrumentBuild float64 `json:"encoder_instrument_build_ms,omitempty"`
	EncoderSessionOpen     float64 `json:"encoder_session_open_ms,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// recorder measures consecutive stages and the ORT time spent meanwhile.
type recorder struct {
	t        Timings
	start    time.Time
	last     time.Time
	sessions func() []*ortx.Session
	base     map[*ortx.Session]ortStat // per-session counters at the start
}

type ortStat struct {
	calls int64
	d     time.Duration
}

// newRecorder starts a record; sessions lists the sessions whose ORT time
// counts (called again at the end: sessions opened meanwhile, such as a
// decoder's stage graphs, count from zero).
func newRecorder(sessions func() []*ortx.Session) *recorder {
	now := time.Now()
	r := &recorder{start: now, last: now, sessions: sessions, base: map[*ortx.Session]ortStat{}}
	for _, s := range sessions() {
		c, d := s.Stats()
		r.base[s] = ortStat{c, d}
	}
	return r
}

// mark sets *f to the time since the previous mark.
func (r *recorder) mark(f *float64) {
	*f = r.since()
}

// since returns the milliseconds since the previous mark and moves it.
func (r *recorder) since() float64 {
	now := time.Now()
	d := ms(now.Sub(r.last))
	r.last = now
	return d
}

// finish records the total and the ORT time; shared reports that other
// requests used the same sessions meanwhile.
func (r *recorder) finish(shared bool) {
	r.t.Total = ms(time.Since(r.start))
	var calls int64
	var d time.Duration
	for _, s := range r.sessions() {
		c, t := s.Stats()
		b := r.base[s]
		calls += c - b.calls
		d += t - b.d
	}
	r.t.ORTCalls = calls
	r.t.ORTMs = ms(d)
	r.t.ORTShared = shared
	if r.t.Total > 0 && !shared {
		r.t.OverheadFrac = 1 - r.t.ORTMs/r.t.Total
	}
	r.t.PeakRSSBytes = PeakRSS()
}

// PeakRSS returns the process's peak resident set size (VmHWM), or 0 when
// it cannot be read.
func PeakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fields := strings.Fields(rest)
			if len(fields) >= 1 {
				kb, err := strconv.ParseInt(fields[0], 10, 64)
				if err == nil {
					return kb * 1024
				}
			}
		}
	}
	return 0
}
