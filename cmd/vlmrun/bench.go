package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/bench"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/tiles"
)

func cmdBench(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", stderr, func(*pflag.FlagSet) {
		fmt.Fprintln(stderr, "usage: vlmrun bench [flags] IMAGE...")
		fmt.Fprintln(stderr, "       vlmrun bench --video [flags] VIDEO...   (each a frame sequence, sampled as vlmrun video does)")
		fmt.Fprintln(stderr, "\ntimes every stage over warm-up and measured runs for each pruning method × budget × image;")
		fmt.Fprintln(stderr, "e.g. vlmrun bench --prune divprune,visionzip --keep 0.5,0.25,0.1 examples/scene-0.png")
		fmt.Fprintln(stderr, "exit status: 0 done, 1 a runtime error, 2 a usage error (bad flag or value)")
	})
	var mf modelFlags
	var gf genFlags
	mf.register(fs)
	gf.register(fs)
	methods := fs.StringArray("prune", nil, "pruning method(s), METHOD[:param=value,...], comma-separated or repeated (see: vlmrun prune list)")
	keeps := fs.String("keep", "", "budget(s) to sweep, comma-separated: ratios (0.25), percentages (25%) or counts (64); default: each method's")
	noBase := fs.Bool("no-baseline", false, "do not add the unpruned baseline (method none) to the sweep")
	var warmupN, runsN int
	intFlag(fs, &warmupN, "warmup", 2, 0, 100_000, "", "warm-up runs per cell (not measured)")
	numFlag(fs, &runsN, "runs", "n", 10, 1, 1_000_000, "", "measured runs per cell")
	warmup, runs := &warmupN, &runsN
	asJSON := fs.Bool("json", false, "print the report as JSON")
	asCSV := fs.Bool("csv", false, "print one CSV line per cell")
	save := fs.String("save", "", "also write the JSON report to this file")
	noVisionFLOPs := fs.Bool("no-vision-flops", false, "skip the profiled vision run that counts its FLOPs (it raises the process's peak RSS)")
	cpuProfile := fs.String("cpuprofile", "", "write a Go CPU profile of the whole sweep to this file (go tool pprof; ORT's own threads show up as cgo calls)")
	asVideo := fs.Bool("video", false, "each argument is a video (GIF in pure Go, other formats through ffmpeg) sampled with --fps/--max-frames (a SmolVLM2 folder: its video_sampling): one prompt over its frames, the family's video prompt where it has one (SmolVLM2's with timestamps), frame extraction timed in every run")
	var vf videoFlags
	vf.register(fs)
	probe := fs.Bool("probe", false, "also measure this machine's peaks (fp32 and int8 GEMM, weight-streaming GB/s) after the sweep and print each stage's achieved rate against them; with no image, only the probe")
	tileSweep := fs.String("tile-sweep", "", "also sweep tile pruning, comma-separated settings (e.g. off,on); overrides --tile-prune per cell")
	if code, done := parseCommand(fs, args); done {
		return code
	}
	fail := func(code int, err error) int {
		if code == 2 {
			err = asUsage(err)
		}
		return exitCode(stderr, "bench", err)
	}
	if fs.NArg() == 0 && *probe {
		return probeOnly(mf, *asJSON, stdout, stderr)
	}
	if fs.NArg() == 0 {
		return fail(2, fmt.Errorf("no image given (usage: vlmrun bench [flags] IMAGE...; see --help)"))
	}
	for _, f := range []string{"fps", "max-frames", "max-side", "frame-timeout"} {
		if fs.Changed(f) && !*asVideo {
			return fail(2, fmt.Errorf("--%s samples videos and needs --video", f))
		}
	}
	if *asJSON && *asCSV {
		return fail(2, fmt.Errorf("--json and --csv exclude each other"))
	}
	if *runs < 1 || *warmup < 0 {
		return fail(2, fmt.Errorf("--runs must be >= 1 and --warmup >= 0"))
	}
	base, err := gf.request()
	if err != nil {
		return fail(2, err)
	}
	list := splitMethods(*methods)
	variants, err := sweepGrid(list, splitKeeps(*keeps), !*noBase || len(list) == 0)
	if err != nil {
		return fail(2, err)
	}
	if !*noBase && gf.form == "auto" {
		variants = withLayersBaseline(variants)
	}
	if *tileSweep != "" {
		var tv []bench.Variant
		for _, v := range variants {
			for _, t := range strings.Split(*tileSweep, ",") {
				if _, err := tiles.Parse(t); err != nil {
					return fail(2, fmt.Errorf("--tile-sweep: %w", err))
				}
				w := v
				w.Tiles = strings.TrimSpace(t)
				tv = append(tv, w)
			}
		}
		variants = tv
	}
	if *asVideo {
		// the folder's own sampling (SmolVLM2's video_sampling), as vlmrun video
		if dir, err := mf.resolveModel(); err == nil { // (a bad --model fails when it opens)
			s, err := models.ReadVideoSampling(dir)
			if err != nil {
				return fail(1, err)
			}
			vf.folderDefaults(fs, s)
		}
	}
	var imgs []bench.Image
	for _, path := range fs.Args() {
		if *asVideo {
			if _, err := os.Stat(path); err != nil {
				return fail(1, fmt.Errorf("video: %w", err))
			}
			imgs = append(imgs, bench.Image{Name: filepath.Base(path), Frames: videoFrames(path, vf.options())})
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fail(1, fmt.Errorf("read image: %w", err))
		}
		imgs = append(imgs, bench.Image{Name: filepath.Base(path), Data: data})
	}
	p, err := mf.open()
	if err != nil {
		return exitCode(stderr, "bench", err)
	}
	defer p.Close()
	// every cell's in-decoder method must fit the model: a usage error now,
	// not a failed sweep later
	for _, v := range variants {
		var r pipeline.Request
		if (pipeline.PruneSpec{Method: v.Method, Keep: v.Keep}).Apply(&r) == nil {
			if _, err := p.FitRequest(r); err != nil {
				return fail(2, err)
			}
		}
	}
	cfg := bench.Config{Images: imgs, Variants: variants, Base: base, Warmup: *warmup, Runs: *runs,
		Progress: newProgress(stderr, "bench"), SkipVisionFLOP: *noVisionFLOPs}
	oo, err := ortOptions(mf)
	if err != nil {
		return fail(2, err)
	}
	env := bench.NewEnv(version, oo)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fail(1, fmt.Errorf("cpu profile: %w", err))
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(1, fmt.Errorf("cpu profile %s: %w", *cpuProfile, err))
		}
	}
	rep, err := bench.Run(ctx, p, env, cfg)
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return fail(1, err)
	}
	if *probe {
		// after the sweep: the probe's weights must not count in its peak RSS
		if rep.Peaks, err = bench.Probe(oo, nil); err != nil {
			return fail(1, err)
		}
	}
	if *save != "" {
		if err := saveJSON(*save, rep); err != nil {
			return fail(1, err)
		}
	}
	switch {
	case *asJSON:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	case *asCSV:
		err = bench.WriteCSV(stdout, rep)
	default:
		err = bench.WriteTable(stdout, rep)
	}
	if err != nil {
		return fail(1, err)
	}
	return 0
}

// probeOnly runs vlmrun bench --probe without images: the peaks alone.
func probeOnly(mf modelFlags, asJSON bool, stdout, stderr io.Writer) int {
	if _, err := ortx.Setup(mf.ortLib); err != nil {
		return exitCode(stderr, "bench", err)
	}
	o, err := ortOptions(mf)
	if err != nil {
		return exitCode(stderr, "bench", err)
	}
	p, err := bench.Probe(o, nil)
	if err != nil {
		return exitCode(stderr, "bench", err)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(struct {
			Env   bench.Env    `json:"env"`
			Peaks *bench.Peaks `json:"peaks"`
		}{bench.NewEnv(version, o), p})
	} else {
		err = bench.WritePeaks(stdout, p)
	}
	if err != nil {
		return exitCode(stderr, "bench", err)
	}
	return 0
}

// saveJSON writes v as indented JSON to path.
func saveJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
