package server

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/vlmrun/vlmrun/pipeline"
)

// metrics holds the server's counters and histograms and writes them in
// the Prometheus text exposition format (version 0.0.4). It is small and
// hand-written: vlmrun takes no Prometheus dependency.
type metrics struct {
	mu sync.Mutex
	// requests counts finished chat requests by HTTP status code.
	requests map[string]float64
	// errors counts error responses by OpenAI error code.
	errors map[string]float64
	// cancelled counts requests whose client left or that timed out while
	// generating, and the tokens they had generated.
	cancelled       float64
	promptTokens    float64
	completionToks  float64
	visualBefore    float64
	visualAfter     float64
	latency         *histogram            // whole request
	stages          map[string]*histogram // per pipeline stage, and queue wait
	running, queued func() int
}

// latencyBuckets are histogram upper bounds in seconds.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// stageNames are the stages with a histogram, in output order.
var stageNames = []string{"queue", "image_decode", "preprocess", "encode", "prune", "prefill", "decode", "total"}

func newMetrics(running, queued func() int) *metrics {
	m := &metrics{requests: map[string]float64{}, errors: map[string]float64{},
		latency: newHistogram(), stages: map[string]*histogram{}, running: running, queued: queued}
	for _, s := range stageNames {
		m.stages[s] = newHistogram()
	}
	return m
}

type histogram struct {
	counts []float64 // per bucket (not cumulative), last = +Inf
	sum    float64
	n      float64
}

func newHistogram() *histogram { return &histogram{counts: make([]float64, len(latencyBuckets)+1)} }

func (h *histogram) observe(v float64) {
	i, _ := slices.BinarySearch(latencyBuckets, v)
	h.counts[i]++
	h.sum += v
	h.n++
}

// finished records a finished request's status, error code and seconds.
func (m *metrics) finished(status int, code string, seconds float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[strconv.Itoa(status)]++
	if code != "" {
		m.errors[code]++
	}
	m.latency.observe(seconds)
}

// captioned records a successful request's pipeline record.
func (m *metrics) captioned(res *pipeline.Result, queueMs float64) {
	t := res.Timings
	m.mu.Lock()
	defer m.mu.Unlock()
	m.promptTokens += float64(len(res.PromptIDs))
	m.completionToks += float64(len(res.GeneratedIDs))
	m.visualBefore += float64(res.Visual.Before)
	m.visualAfter += float64(res.Visual.AfterPre)
	for s, v := range map[string]float64{"queue": queueMs, "image_decode": t.ImageDecode,
		"preprocess": t.Preprocess, "encode": t.Encode, "prune": t.Prune, "prefill": t.Prefill,
		"decode": t.Decode, "total": t.Total} {
		m.stages[s].observe(v / 1000)
	}
}

// cancel records a request stopped by a disconnect or a timeout.
func (m *metrics) cancel() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cancelled++
}

// write writes every metric.
func (m *metrics) write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := &strings.Builder{}
	labelled(b, "vlmrun_requests_total", "counter", "Chat completion requests by HTTP status code.", "code", m.requests)
	labelled(b, "vlmrun_errors_total", "counter", "Error responses by error code.", "code", m.errors)
	single(b, "vlmrun_requests_cancelled_total", "counter", "Requests whose generation stopped because the client left or the timeout expired.", m.cancelled)
	single(b, "vlmrun_prompt_tokens_total", "counter", "Prompt tokens (visual placeholders included) of successful requests.", m.promptTokens)
	single(b, "vlmrun_completion_tokens_total", "counter", "Generated tokens of successful requests.", m.completionToks)
	labelled(b, "vlmrun_visual_tokens_total", "counter", "Visual tokens before and after pruning.", "when",
		map[string]float64{"before": m.visualBefore, "after": m.visualAfter})
	single(b, "vlmrun_requests_running", "gauge", "Requests holding a model replica.", float64(m.running()))
	single(b, "vlmrun_requests_queued", "gauge", "Requests waiting for a model replica.", float64(m.queued()))
	fmt.Fprintf(b, "# HELP vlmrun_request_duration_seconds Chat completion latency, from the request to the last byte.\n# TYPE vlmrun_request_duration_seconds histogram\n")
	m.latency.write(b, "vlmrun_request_duration_seconds", "")
	fmt.Fprintf(b, "# HELP vlmrun_stage_duration_seconds Time per pipeline stage of successful requests (queue = wait for a replica).\n# TYPE vlmrun_stage_duration_seconds histogram\n")
	for _, s := range stageNames {
		m.stages[s].write(b, "vlmrun_stage_duration_seconds", `stage="`+s+`",`)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	single(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", float64(residentBytes()))
	single(b, "go_memstats_heap_inuse_bytes", "gauge", "Go heap bytes in use.", float64(ms.HeapInuse))
	single(b, "go_goroutines", "gauge", "Number of goroutines.", float64(runtime.NumGoroutine()))
	io.WriteString(w, b.String())
}

func single(b *strings.Builder, name, typ, help string, v float64) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", name, help, name, typ, name, num(v))
}

func labelled(b *strings.Builder, name, typ, help, label string, vals map[string]float64) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "%s{%s=%s} %s\n", name, label, strconv.Quote(k), num(vals[k]))
	}
}

// write writes the histogram's series; labels, if any, end with a comma.
func (h *histogram) write(b *strings.Builder, name, labels string) {
	cum := 0.0
	for i, c := range h.counts {
		cum += c
		le := "+Inf"
		if i < len(latencyBuckets) {
			le = num(latencyBuckets[i])
		}
		fmt.Fprintf(b, "%s_bucket{%sle=%q} %s\n", name, labels, le, num(cum))
	}
	l := strings.TrimSuffix(labels, ",")
	if l != "" {
		l = "{" + l + "}"
	}
	fmt.Fprintf(b, "%s_sum%s %s\n%s_count%s %s\n", name, l, num(h.sum), name, l, num(h.n))
}

func num(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// residentBytes returns the process's current resident set size from
// /proc/self/statm, or 0 when it cannot be read.
func residentBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
