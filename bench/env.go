package bench

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/vlmrun/vlmrun/internal/ortx"
)

// Env describes where a benchmark ran.
type Env struct {
	Vlmrun       string `json:"vlmrun_version"`
	Go           string `json:"go_version"`
	Platform     string `json:"platform"`
	CPU          string `json:"cpu_model"`
	CPUs         int    `json:"logical_cpus"`
	ORT          string `json:"ort_version"`
	ORTLib       string `json:"ort_library"`
	Provider     string `json:"execution_provider"`
	Device       string `json:"device"`
	Threads      int    `json:"ort_intra_op_threads"` // 0: ORT's default (one per physical core)
	Inter        int    `json:"ort_inter_op_threads,omitempty"`
	SpinningStop bool   `json:"ort_spinning_stop,omitempty"` // --ort-spinning-stop
	ORTOptions   string `json:"ort_options"`                 // --ort-options, canonical ("default": ORT's own)
	GraphCache   string `json:"ort_graph_cache,omitempty"`   // --ort-graph-cache folder ("": none)
	Started      string `json:"started"`
	MemTotal     int64  `json:"mem_total_bytes,omitempty"`
	LoadAvg1m    string `json:"load_avg_1m,omitempty"`
}

// NewEnv describes this machine and the ORT settings o (the library must
// be initialized). version is vlmrun's version.
func NewEnv(version string, o ortx.Options) Env {
	dev, _, err := ortx.ParseDevice(o.Device)
	if err != nil {
		dev = o.Device
	}
	provider := "CPUExecutionProvider"
	if dev == "cuda" {
		provider = "CUDAExecutionProvider"
	}
	e := Env{Vlmrun: version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		CPU: cpuModel(), CPUs: runtime.NumCPU(), ORT: ortx.Version(), ORTLib: ortx.LibraryPath(),
		Provider: provider, Device: o.Device, Threads: o.Threads, Inter: o.InterThreads,
		SpinningStop: o.SpinningStop, ORTOptions: o.Tune.String(), GraphCache: o.GraphCache}
	if e.Device == "" {
		e.Device = "cpu"
	}
	e.MemTotal = procKB("/proc/meminfo", "MemTotal:") * 1024
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			e.LoadAvg1m = f[0]
		}
	}
	return e
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or the
// architecture when there is none.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// procKB reads the kB value of the line starting with key in a /proc file
// (0 when absent).
func procKB(path, key string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			if fs := strings.Fields(rest); len(fs) > 0 {
				n, _ := strconv.ParseInt(fs[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// RSS returns the process's current resident set size (VmRSS), or 0.
func RSS() int64 { return procKB("/proc/self/status", "VmRSS:") * 1024 }
