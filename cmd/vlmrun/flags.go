package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/decoder"
	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/tiles"

	// model families
	_ "github.com/vlmrun/vlmrun/models/florence2"
	_ "github.com/vlmrun/vlmrun/models/scenes"
	_ "github.com/vlmrun/vlmrun/models/scenesvqa"
	_ "github.com/vlmrun/vlmrun/models/smolvlm"
)

// defaultModel is the embedded model's folder inside the repository.
const defaultModel = "models/scenes-tiny"

// modelFlags are the flags every command that opens a model takes.
type modelFlags struct {
	model     string
	ortLib    string
	threads   int
	inter     int
	spin      bool
	ortOpts   string
	graphs    string
	tileSess  int
	device    string
	resizer   string
	maxPixels int64
	dtype     string
	cacheDir  string
	// preload: create the merged decoder's session in open, concurrently
	// with the vision session (set by commands whose requests use it)
	preload bool
}

func (m *modelFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&m.model, "model", "", "model folder, or a Hugging Face id (org/name) found offline in $VLMRUN_MODELS or the Hugging Face hub cache (default: the embedded "+defaultModel+")")
	fs.StringVar(&m.ortLib, "ort-lib", "", "path to libonnxruntime.so.1 (default: $VLMRUN_ORT_LIB, beside the executable, the user data dir, the repo's third_party/)")
	intFlag(fs, &m.threads, "threads", 0, 0, maxThreads, "0 = all cores", "ONNX Runtime intra-op threads")
	intFlag(fs, &m.inter, "inter-threads", 0, 0, maxThreads, "0 = ORT's default", "ONNX Runtime inter-op threads")
	fs.BoolVar(&m.spin, "ort-spinning-stop", false, "stop ONNX Runtime's worker threads spinning when each Run returns (ORT spins on by default); can help when several sessions share few cores")
	checkedFlag(fs, &m.ortOpts, "ort-options", "", "comma-separated opt=disable|basic|extended|all, spin=on|off, arena=on|off, mem-pattern=on|off, prepack=on|off, or an ORT session config KEY=VALUE (KEY with a dot)",
		func(s string) error { _, err := ortx.ParseTuning(s); return err },
		"ONNX Runtime session options for every session vlmrun opens (default: $"+ortx.TuningEnv+", else ORT's own defaults)")
	intFlag(fs, &m.tileSess, "tile-sessions", 1, 1, 64, "", "vision sessions that encode a split image's tiles at once, each with --threads/N intra-op threads and its own copy of the vision weights")
	fs.StringVar(&m.graphs, "ort-graph-cache", "on", "ONNX Runtime-optimized graphs with their weights as mapped external data, cached on disk (about the model's size again), keyed by file, options, ORT version and CPU: on (the user cache dir's vlmrun/ort-graphs), off, or a folder; the first run writes them")
	checkedFlag(fs, &m.device, "device", "cpu", "cpu, cuda or cuda:N (N >= 0)", func(s string) error {
		_, _, err := ortx.ParseDevice(s)
		return err
	}, "execution device")
	choiceFlag(fs, &m.resizer, "resizer", "", encoder.Resizers, "image resizer: sharp reproduces transformers.js, pil Pillow (default: the model's)")
	checkedFlag(fs, &m.dtype, "dtype", "", "fp32, fp16, q8, int8, uint8, q4, q4f16 or bnb4, for all files or per file as \"fp16,decoder_model_merged=q4\"; auto: the fastest variant per file on this CPU (see vlmrun version)",
		func(s string) error { _, err := models.ParseDTypes(s); return err },
		"ONNX file variant (default: the model's)")
	fs.StringVar(&m.cacheDir, "cache-dir", "", "folder for derived graphs: decoder stages for in-decoder pruning, vision graphs instrumented for pre-decoder methods' extras (default: the user cache dir's vlmrun/; \"none\": derive in memory each run)")
	int64Flag(fs, &m.maxPixels, "max-pixels", encoder.DefaultLimits.MaxPixels, 1, maxPixelsLimit,
		"pixels, width×height from the image header; 1 Mpx = 2^20 = 1,048,576 pixels, the default is 64 Mpx",
		"refuse images with more pixels than this")
}

// Ranges of the flags shared by several commands.
const (
	maxThreads     = 1024
	maxPixelsLimit = 1 << 30 // 1024 Mpx: decoding alone then needs 4 GiB
	maxNewTokens   = 65536
	maxReplicas    = 256
)

// resolveModel finds the model folder: the flag, else the embedded model
// beside the executable, in the repository holding it or the working dir,
// or in the user data folder (where scripts/install.sh copies it).
func (m *modelFlags) resolveModel() (string, error) {
	if m.model != "" {
		return models.ResolveID(m.model)
	}
	var tried []string
	try := func(dir string) bool {
		if dir == "" {
			return false
		}
		p := filepath.Join(dir, defaultModel)
		tried = append(tried, p)
		st, err := os.Stat(filepath.Join(p, "config.json"))
		return err == nil && !st.IsDir()
	}
	exe := ortx.ExeDir()
	wd, _ := os.Getwd()
	for _, d := range []string{exe, filepath.Dir(exe), ortx.RepoDir(exe), ortx.RepoDir(wd), ortx.UserDataDir()} {
		if try(d) {
			return filepath.Join(d, defaultModel), nil
		}
	}
	return "", fmt.Errorf("no --model given and the embedded model was not found; tried:\n  %s",
		strings.Join(tried, "\n  "))
}

// open loads the ORT library and the model.
func (m *modelFlags) open() (*pipeline.Pipeline, error) {
	if _, _, err := ortx.ParseDevice(m.device); err != nil {
		return nil, usagef("--device: %v", err)
	}
	if m.resizer != "" && !slices.Contains(encoder.Resizers, m.resizer) {
		return nil, usagef("unknown --resizer %q (want %s)", m.resizer, strings.Join(encoder.Resizers, ", "))
	}
	dt, err := models.ParseDTypes(m.dtype)
	if err != nil {
		return nil, usagef("--dtype: %v", err)
	}
	dir, err := m.resolveModel()
	if err != nil {
		return nil, err
	}
	if _, err := ortx.Setup(m.ortLib); err != nil {
		return nil, err
	}
	o, err := ortOptions(*m)
	if err != nil {
		return nil, err
	}
	lim := encoder.DefaultLimits
	lim.MaxPixels = m.maxPixels
	return pipeline.Open(dir, pipeline.Options{
		ORT:          o,
		Limits:       lim,
		Resizer:      m.resizer,
		DTypes:       dt,
		CacheDir:     cacheDir(m.cacheDir),
		Preload:      m.preload,
		TileSessions: m.tileSess,
	})
}

// ortOptions returns the ORT session options of the flags: --ort-options,
// else $VLMRUN_ORT_OPTIONS; errors are usage errors.
func ortOptions(m modelFlags) (ortx.Options, error) {
	o := ortx.Options{Threads: m.threads, InterThreads: m.inter, Device: m.device, SpinningStop: m.spin}
	var err error
	if m.ortOpts != "" {
		o.Tune, err = ortx.ParseTuning(m.ortOpts)
	} else {
		o.Tune, err = ortx.TuningFromEnv()
	}
	if err != nil {
		return ortx.Options{}, usagef("--ort-options: %v", err)
	}
	o.GraphCache = graphCacheDir(m.graphs)
	return o, nil
}

// graphCacheDir resolves --ort-graph-cache: "on" is the user cache dir's
// vlmrun/ort-graphs, "off", "none" and "" none, anything else a folder.
func graphCacheDir(flag string) string {
	switch flag {
	case "", "off", "none":
		return ""
	case "on":
		// the default: without a writable user cache dir, no cache (a
		// folder given by name must be usable: ortx reports it)
		d, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		d = filepath.Join(d, "vlmrun", "ort-graphs")
		if os.MkdirAll(d, 0o755) != nil {
			return ""
		}
		return d
	}
	return flag
}

// genFlags are the generation settings.
type genFlags struct {
	prompt    string
	maxNew    int
	temp      float64
	topK      int
	topP      float64
	seed      uint64
	form      string
	recompute bool
	// image budget, tile pruning, encoder batching
	maxImageTokens int
	maxTiles       int
	tilePrune      string
	tileDelta      float64
	encoderBatch   int
}

func (g *genFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&g.prompt, "prompt", "", "prompt text (default: the model's captioning task)")
	intFlag(fs, &g.maxNew, "max-new-tokens", 0, 1, maxNewTokens, "leave it unset for the model's generation_config; 0 is refused, since it would generate nothing",
		"maximum generated tokens")
	floatFlag(fs, &g.temp, "temperature", 0, 0, 100, "0 = greedy", "sampling temperature")
	intFlag(fs, &g.topK, "top-k", 0, 0, 1_000_000, "0 = all tokens", "sample among the k most likely tokens")
	floatFlag(fs, &g.topP, "top-p", 1, 0, 1, "0 or 1 = off", "nucleus sampling mass")
	fs.Uint64Var(&g.seed, "seed", 0, "random seed for sampling; allowed: an integer from 0 to 2^64-1")
	choiceFlag(fs, &g.form, "decoder-form", "auto", []string{"auto", "merged", "layers"}, "decoder graphs")
	fs.BoolVar(&g.recompute, "no-kv-cache", false, "recompute the whole sequence every step (slow reference)")
	intFlag(fs, &g.maxImageTokens, "max-image-tokens", 0, 0, 1_000_000, "0 = no budget", "visual-token budget per image: tiling models pick the split or a downscale that fits")
	intFlag(fs, &g.maxTiles, "max-tiles", 0, 0, 1024, "0 = the model's", "most tiles of a split image, the global image not counted")
	checkedFlag(fs, &g.tilePrune, "tile-prune", "off", "off, on, uniform, duplicates (comma-separated)",
		func(s string) error { _, err := tiles.Parse(s); return err },
		"skip tiles before the encoder")
	floatFlag(fs, &g.tileDelta, "tile-delta", 0, 0, 2, "0 = 0.06; normalized pixel values span 2", "tile pruning: largest normalized pixel difference counted as equal")
	intFlag(fs, &g.encoderBatch, "encoder-batch", 1, 0, 1024, "0 = all in one call", "most tiles per vision-encoder call (1, the default, was as fast as 4 on a 2-core CPU and keeps one tile's activations)")
}

// request returns the generation settings as a pipeline request; its
// errors are usage errors.
func (g *genFlags) request() (pipeline.Request, error) {
	r, err := g.buildRequest()
	return r, asUsage(err)
}

func (g *genFlags) buildRequest() (pipeline.Request, error) {
	s := decoder.Sampling{Temperature: g.temp, TopK: g.topK, TopP: g.topP, Seed: g.seed}
	if err := s.Validate(); err != nil {
		return pipeline.Request{}, err
	}
	f := decoder.Form(g.form)
	switch f {
	case decoder.FormAuto, decoder.FormMerged, decoder.FormLayers:
	default:
		return pipeline.Request{}, fmt.Errorf("unknown --decoder-form %q (want auto, merged or layers)", g.form)
	}
	if g.maxNew < 0 {
		return pipeline.Request{}, fmt.Errorf("--max-new-tokens must be >= 1")
	}
	if g.maxImageTokens < 0 || g.maxTiles < 0 || g.encoderBatch < 0 || g.tileDelta < 0 {
		return pipeline.Request{}, fmt.Errorf("--max-image-tokens, --max-tiles, --encoder-batch and --tile-delta must be >= 0")
	}
	to, err := tiles.Parse(g.tilePrune)
	if err != nil {
		return pipeline.Request{}, fmt.Errorf("--tile-prune: %w", err)
	}
	to.Delta = float32(g.tileDelta)
	return pipeline.Request{Prompt: g.prompt, MaxNewTokens: g.maxNew, Sampling: s, Form: f,
		Recompute: g.recompute, Tiles: to, EncoderBatch: g.encoderBatch,
		Image: models.ImageOptions{MaxImageTokens: g.maxImageTokens, MaxTiles: g.maxTiles}}, nil
}

// cacheDir resolves --cache-dir: "none" disables the disk cache, "" is
// the user cache dir's vlmrun/stages (no cache when there is none).
func cacheDir(flag string) string {
	switch flag {
	case "none":
		return ""
	case "":
		d, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		return filepath.Join(d, "vlmrun", "stages")
	}
	return flag
}
