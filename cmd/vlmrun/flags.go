package main

import (
	"fmt"
	"os"
	"path/filepath"
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
	device    string
	resizer   string
	maxPixels int64
	dtype     string
	cacheDir  string
}

func (m *modelFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&m.model, "model", "", "model folder (default: the embedded "+defaultModel+")")
	fs.StringVar(&m.ortLib, "ort-lib", "", "path to libonnxruntime.so.1 (default: $VLMRUN_ORT_LIB, beside the executable, the repo's third_party/)")
	fs.IntVar(&m.threads, "threads", 0, "ONNX Runtime intra-op threads (0 = all cores)")
	fs.IntVar(&m.inter, "inter-threads", 0, "ONNX Runtime inter-op threads (0 = ORT default)")
	fs.BoolVar(&m.spin, "ort-spinning-stop", false, "stop ONNX Runtime's worker threads spinning when each Run returns (ORT spins on by default); can help when several sessions share few cores")
	fs.StringVar(&m.device, "device", "cpu", "execution device: cpu, cuda or cuda:N")
	fs.StringVar(&m.resizer, "resizer", "", "image resizer: nfnt or pil (default: the model's)")
	fs.StringVar(&m.dtype, "dtype", "", "ONNX file variant: fp32|fp16|q8|int8|uint8|q4|q4f16|bnb4, or per file, e.g. \"fp16,decoder_model_merged=q4\" (default: the model's)")
	fs.StringVar(&m.cacheDir, "cache-dir", "", "folder for decoder stage graphs derived for in-decoder pruning (default: the user cache dir's vlmrun/; \"none\": derive in memory each run)")
	fs.Int64Var(&m.maxPixels, "max-pixels", encoder.DefaultLimits.MaxPixels, "refuse images with more pixels than this")
}

// resolveModel finds the model folder: the flag, else the embedded model
// beside the executable or in the repository holding it or the working dir.
func (m *modelFlags) resolveModel() (string, error) {
	if m.model != "" {
		return m.model, nil
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
	for _, d := range []string{exe, filepath.Dir(exe), ortx.RepoDir(exe), ortx.RepoDir(wd)} {
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
		return nil, err
	}
	if m.resizer != "" && m.resizer != "nfnt" && m.resizer != "pil" {
		return nil, fmt.Errorf("unknown --resizer %q (want nfnt or pil)", m.resizer)
	}
	dt, err := models.ParseDTypes(m.dtype)
	if err != nil {
		return nil, err
	}
	dir, err := m.resolveModel()
	if err != nil {
		return nil, err
	}
	if _, err := ortx.Setup(m.ortLib); err != nil {
		return nil, err
	}
	lim := encoder.DefaultLimits
	lim.MaxPixels = m.maxPixels
	return pipeline.Open(dir, pipeline.Options{
		ORT:      ortx.Options{Threads: m.threads, InterThreads: m.inter, Device: m.device, SpinningStop: m.spin},
		Limits:   lim,
		Resizer:  m.resizer,
		DTypes:   dt,
		CacheDir: cacheDir(m.cacheDir),
	})
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
	fs.IntVar(&g.maxNew, "max-new-tokens", 0, "maximum generated tokens (default: the model's generation_config)")
	fs.Float64Var(&g.temp, "temperature", 0, "sampling temperature (0 = greedy)")
	fs.IntVar(&g.topK, "top-k", 0, "sample among the k most likely tokens (0 = all)")
	fs.Float64Var(&g.topP, "top-p", 1, "nucleus sampling mass (1 = off)")
	fs.Uint64Var(&g.seed, "seed", 0, "random seed for sampling")
	fs.StringVar(&g.form, "decoder-form", "auto", "decoder graphs: auto, merged or layers")
	fs.BoolVar(&g.recompute, "no-kv-cache", false, "recompute the whole sequence every step (slow reference)")
	fs.IntVar(&g.maxImageTokens, "max-image-tokens", 0, "visual-token budget per image: tiling models pick the split or a downscale that fits (0 = none)")
	fs.IntVar(&g.maxTiles, "max-tiles", 0, "most tiles of a split image, the global image not counted (0 = the model's)")
	fs.StringVar(&g.tilePrune, "tile-prune", "off", "skip tiles before the encoder: off, on, uniform, duplicates (comma-separated)")
	fs.Float64Var(&g.tileDelta, "tile-delta", 0, "tile pruning: largest normalized pixel difference counted as equal (0 = 0.06)")
	fs.IntVar(&g.encoderBatch, "encoder-batch", 1, "most tiles per vision-encoder call (0 = all in one; 1, the default, was as fast as 4 on a 2-core CPU and keeps one tile's activations)")
}

func (g *genFlags) request() (pipeline.Request, error) {
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
		return pipeline.Request{}, fmt.Errorf("--max-new-tokens must be >= 0")
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
