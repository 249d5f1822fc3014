package encoder

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/internal/graphcache"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/onnx"
	"github.com/vlmrun/vlmrun/onnx/visinstr"
)

// Instrument says how to derive, from a vision graph that outputs only
// its features, a graph that also outputs the pruning extras (package
// onnx/visinstr): which attention score, from which encoder layer, and how
// the extras' rows map to the feature rows.
type Instrument struct {
	Attention visinstr.Attention
	// Layer is the 0-based encoder layer the config names as the feature
	// layer (-1: not known; the last one the features depend on is used).
	Layer int
	Rows  ExtraRows
}

// Instrumented reports how an instrumented vision graph was obtained.
type Instrumented struct {
	// Build is the time spent deriving the graph (0 when read from the
	// cache) and Open the time creating its session.
	Build, Open time.Duration
	// Missing names the extras the graph does not provide (output name →
	// why not); the attention is always provided.
	Missing map[string]string
}

// instrumentVersion changes whenever the derivation changes, so stale
// cache entries are not reused.
const instrumentVersion = "visinstr-1"

// OpenInstrumented derives the instrumented form of the vision graph
// g.Path (g names no extras) and opens it. With cacheDir set the derived
// graph is read from there when an earlier process cached it, and cached
// otherwise; an entry that does not load is rebuilt. A graph that cannot
// be instrumented is refused with its file name and the reason.
func OpenInstrumented(g VisionGraph, in Instrument, cacheDir string, o ortx.Options) (*Vision, Instrumented, error) {
	if g.Input == "" {
		g.Input = "pixel_values"
	}
	if g.Features == "" {
		return nil, Instrumented{}, fmt.Errorf("encoder: vision graph %s: no features output named", g.Path)
	}
	opts := visinstr.Options{Input: g.Input, Features: g.Features, Attention: in.Attention, Layer: in.Layer}
	key := ""
	if cacheDir != "" {
		var err error
		if key, err = graphcache.Key(instrumentVersion, g.Path, opts.Key()); err != nil {
			return nil, Instrumented{}, fmt.Errorf("encoder: %w", err)
		}
	}
	v, info, cached, err := openInstrumented(g, in, opts, cacheDir, key, false, o)
	if err != nil && cached {
		// A cache entry that does not load (damaged on disk) is rebuilt.
		v, info, _, err = openInstrumented(g, in, opts, cacheDir, key, true, o)
	}
	return v, info, err
}

// openInstrumented reads the derived graph from the cache (unless rebuild)
// or derives it, and opens it; cached reports that it came from the cache.
func openInstrumented(g VisionGraph, in Instrument, opts visinstr.Options, cacheDir, key string, rebuild bool,
	o ortx.Options) (v *Vision, info Instrumented, cached bool, err error) {
	var b []byte
	if key != "" && !rebuild {
		if gs, ok := graphcache.Read(cacheDir, key, 1); ok {
			b, cached = gs[0], true
		}
	}
	if b == nil {
		t := time.Now()
		var p *visinstr.Plan
		if b, p, err = deriveInstrumented(g.Path, opts); err != nil {
			return nil, info, false, err
		}
		info.Build = time.Since(t)
		info.Missing = p.Missing
		if key != "" {
			// Best effort: a cache that cannot be written costs a rebuild next time.
			_ = graphcache.Write(cacheDir, key, [][]byte{b})
		}
	}
	name := filepath.Base(g.Path) + "[instrumented]"
	ins, outs, err := ortx.InspectBytes(name, b)
	if err != nil {
		return nil, info, cached, fmt.Errorf("encoder: %w", err)
	}
	has := func(n string) string {
		if slices.ContainsFunc(outs, func(i ort.InputOutputInfo) bool { return i.Name == n }) {
			return n
		}
		return ""
	}
	g.CLSAttn, g.PreProj, g.Keys, g.Rows = has(visinstr.OutAttention), has(visinstr.OutPreProj), has(visinstr.OutKeys), in.Rows
	if g.CLSAttn == "" {
		return nil, info, cached, fmt.Errorf("encoder: %s: no %s output", name, visinstr.OutAttention)
	}
	if cached && (g.PreProj == "" || g.Keys == "") {
		// The reasons are not cached; the analysis alone is cheap.
		if p, err := analyzeVision(g.Path, opts); err == nil {
			info.Missing = p.Missing
		}
	}
	dir := filepath.Dir(g.Path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	t := time.Now()
	v, err = openVision(g, ins, outs, func(in, out []ortx.Port) (*ortx.Session, error) {
		return ortx.OpenBytes(name, b, dir, in, out, o)
	})
	info.Open = time.Since(t)
	if err != nil {
		return nil, info, cached, err
	}
	v.oneImage = true // the extras are derived for a batch of one image
	return v, info, cached, nil
}

// deriveInstrumented analyses the vision graph at path and returns the
// derived graph's bytes and the plan.
func deriveInstrumented(path string, opts visinstr.Options) ([]byte, *visinstr.Plan, error) {
	var b []byte
	p, err := withPlan(path, opts, func(p *visinstr.Plan) { b = p.Model().Marshal() })
	return b, p, err
}

// analyzeVision analyses the vision graph at path without deriving it.
func analyzeVision(path string, opts visinstr.Options) (*visinstr.Plan, error) {
	return withPlan(path, opts, func(*visinstr.Plan) {})
}

// withPlan opens and analyses the graph at path and calls f on the plan
// while the file is open.
func withPlan(path string, opts visinstr.Options, f func(*visinstr.Plan)) (*visinstr.Plan, error) {
	m, err := onnx.Open(path)
	if err != nil {
		return nil, fmt.Errorf("encoder: instrument %s: %w", filepath.Base(path), err)
	}
	defer m.Close()
	p, err := visinstr.Analyze(m, filepath.Base(path), opts)
	if err != nil {
		return nil, fmt.Errorf("encoder: instrument: %w", err)
	}
	f(p)
	return p, nil
}
