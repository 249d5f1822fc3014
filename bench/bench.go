// Package bench measures vlmrun's pipeline stage by stage over a sweep of
// pruning methods × budgets × images: warm-up runs, then measured runs,
// summarized per stage by median, p90 and min, with visual-token counts,
// KV-cache bytes, peak RSS, the time inside ONNX Runtime and the runner's
// own overhead, and a FLOPs estimate per stage (flops.go, graphflops.go).
//
// Runs are interleaved: every warm-up round, then every measured round,
// runs each cell of the sweep once in turn, so that a slow drift of a
// shared machine's speed affects every cell alike and the ratios between
// cells stay fair. Timings are the pipeline's (pipeline.Timings): prefill
// is the time to the first token counted from the end of pruning, decode
// covers the other tokens, and its tokens/s excludes the first token.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/decoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/tiles"
)

// Image is one input image, read into memory before timing starts, or a
// frame sequence (a video).
type Image struct {
	Name string
	Data []byte
	// Frames, when set, makes the input a video: every run (warm-up
	// included) calls it — timed as the frame_extract stage, which counts in
	// the run's total — and answers one prompt over the frames it returns
	// (pipeline.CaptionVideo: the family's video prompt, SmolVLM2's with
	// timestamps, where it has one, else the frames as images). Data is
	// then unused.
	Frames func(ctx context.Context) (pipeline.Video, error)
}

// Variant is one pruning setting of the sweep, as the user writes it
// (pipeline.PruneSpec syntax): Method "none" or "" is the unpruned
// baseline; Keep "" is the method's default budget. Form, if set, overrides
// the base request's decoder form ("merged" or "layers"): an unpruned
// baseline in the per-layer form is what in-decoder methods compare to.
//
// Tiles, if set, overrides the base request's tile pruning (tiles.Parse
// syntax: "off", "on", "uniform", "duplicates"), so one sweep times a split
// image with and without skipped tiles.
type Variant struct {
	Method string `json:"method"`
	Keep   string `json:"keep"`
	Form   string `json:"form,omitempty"`
	Tiles  string `json:"tiles,omitempty"`
}

// IsBaseline reports whether v prunes nothing.
func (v Variant) IsBaseline() bool { return v.Method == "" || v.Method == "none" }

// Config is a benchmark sweep.
type Config struct {
	Images   []Image
	Variants []Variant
	// Base is the request every cell starts from (prompt, max new tokens,
	// sampling, decoder form); the variant sets its pruning.
	Base           pipeline.Request
	Warmup, Runs   int
	SkipVisionFLOP bool // do not profile the vision graph for its FLOPs
	// Progress, if not nil, is called after every run (warm-ups included).
	Progress func(done, total int)
}

// Model describes the benchmarked model.
type Model struct {
	Dir            string  `json:"dir"`
	Family         string  `json:"family"`
	Decoder        Decoder `json:"decoder"`
	TokensPerImage int     `json:"tokens_per_image"`
	InputSize      [2]int  `json:"input_size"` // preprocessed width, height
	// Vision is the vision graph's work for one input (an image, or one
	// tile of a family that splits images); a run's encode FLOPs are that
	// times its inputs, visual tokens before pruning / TokensPerImage.
	Vision GraphCount `json:"vision_flops"`
	// MergedLogitsAll is set when the merged decoder computes logits for
	// every prefill row (it has no num_logits_to_keep input).
	MergedLogitsAll bool `json:"merged_logits_every_row"`
	// DecoderWeightBytes is the decoder file's initializer bytes, what one
	// decode step reads (0 when unknown).
	DecoderWeightBytes int64 `json:"decoder_weight_bytes,omitempty"`
	// Files are the ONNX files opened, by role (vision, embed, encoder,
	// decoder), and DTypes their dtypes (what --dtype auto chose).
	Files  map[string]string `json:"files,omitempty"`
	DTypes map[string]string `json:"dtypes,omitempty"`
}

// Report is the outcome of a sweep.
type Report struct {
	Env    Env    `json:"env"`
	Model  Model  `json:"model"`
	Warmup int    `json:"warmup_runs"`
	Runs   int    `json:"measured_runs"`
	Prompt string `json:"prompt,omitempty"`
	Rows   []Row  `json:"rows"`
	// RSSAfterFirst and RSSAfterLast are the resident set size (VmRSS)
	// after the first and the last measured round: growth between them is
	// memory kept across requests. PeakRSS is the process's peak (VmHWM).
	RSSAfterFirst int64 `json:"rss_after_first_round_bytes"`
	RSSAfterLast  int64 `json:"rss_after_last_round_bytes"`
	PeakRSS       int64 `json:"peak_rss_bytes"`
	// Open is the time pipeline.Open took (by part), and FirstSessionOpen
	// the decoder sessions the first (warm-up) run opened on first use:
	// together, the session creation a fresh process pays.
	Open             pipeline.OpenTimings `json:"open"`
	FirstSessionOpen float64              `json:"first_run_session_open_ms"`
	// Peaks are the machine's measured limits (Probe), when probed.
	Peaks *Peaks `json:"peaks,omitempty"`
	// Notes say what could not be measured or estimated.
	Notes []string `json:"notes,omitempty"`
}

// Run runs the sweep on p. env describes the machine (NewEnv).
func Run(ctx context.Context, p *pipeline.Pipeline, env Env, cfg Config) (*Report, error) {
	if cfg.Runs < 1 || cfg.Warmup < 0 {
		return nil, fmt.Errorf("bench: need at least one measured run and no negative warm-up count")
	}
	if len(cfg.Images) == 0 || len(cfg.Variants) == 0 {
		return nil, fmt.Errorf("bench: need at least one image and one pruning variant")
	}
	reqs := make([]pipeline.Request, len(cfg.Variants))
	for i, v := range cfg.Variants {
		reqs[i] = cfg.Base
		if err := (pipeline.PruneSpec{Method: v.Method, Keep: v.Keep}).Apply(&reqs[i]); err != nil {
			return nil, fmt.Errorf("bench: %s keep %q: %w", v.Method, v.Keep, err)
		}
		if v.Form != "" {
			reqs[i].Form = decoder.Form(v.Form)
		}
		if v.Tiles != "" {
			delta := reqs[i].Tiles.Delta
			t, err := tiles.Parse(v.Tiles)
			if err != nil {
				return nil, fmt.Errorf("bench: %w", err)
			}
			t.Delta = delta
			reqs[i].Tiles = t
		}
	}
	rep := &Report{Env: env, Warmup: cfg.Warmup, Runs: cfg.Runs, Prompt: cfg.Base.Prompt, Open: p.Opened}
	rep.Model = modelInfo(p, cfg.SkipVisionFLOP, &rep.Notes)

	type cell struct {
		img     Image
		v       int
		runs    []*pipeline.Result
		extract []float64 // frame extraction ms per measured run
		frames  int
	}
	var cells []*cell
	for _, img := range cfg.Images {
		for v := range cfg.Variants {
			cells = append(cells, &cell{img: img, v: v})
		}
	}
	total, done := (cfg.Warmup+cfg.Runs)*len(cells), 0
	for round := 0; round < cfg.Warmup+cfg.Runs; round++ {
		for _, c := range cells {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("bench: %w", err)
			}
			res, extract, frames, err := runOnce(ctx, p, c.img, reqs[c.v])
			if err != nil {
				return nil, fmt.Errorf("bench: %s, %s keep %q: %w", c.img.Name, cfg.Variants[c.v].Method, cfg.Variants[c.v].Keep, err)
			}
			if done == 0 {
				rep.FirstSessionOpen = res.Timings.SessionOpen + res.Timings.EncoderSessionOpen
			}
			if round >= cfg.Warmup {
				c.runs = append(c.runs, res)
				c.extract = append(c.extract, extract)
				c.frames = frames
			}
			done++
			if cfg.Progress != nil {
				cfg.Progress(done, total)
			}
		}
		if round == cfg.Warmup {
			rep.RSSAfterFirst = RSS()
		}
	}
	rep.RSSAfterLast = RSS()
	rep.PeakRSS = pipeline.PeakRSS()
	for _, c := range cells {
		r := summarize(cfg.Variants[c.v], c.img.Name, c.runs, rep.Model)
		if c.img.Frames != nil {
			r.Frames, r.FrameExtract = c.frames, Summarize(c.extract)
			r.PerFrameBefore = float64(r.VisualBefore) / float64(c.frames)
			r.PerFrameAfter = float64(r.VisualAfter) / float64(c.frames)
		}
		rep.Rows = append(rep.Rows, r)
	}
	compareToBaseline(rep.Rows)
	return rep, nil
}

// runOnce runs one cell once: an image through Caption, or a video's
// frames extracted (timed, added to the total) and answered through
// CaptionVideo. It returns the extraction time and the frame count (0 for
// an image).
func runOnce(ctx context.Context, p *pipeline.Pipeline, img Image, req pipeline.Request) (*pipeline.Result, float64, int, error) {
	if img.Frames == nil {
		res, err := p.Caption(ctx, img.Name, bytes.NewReader(img.Data), req, nil)
		return res, 0, 0, err
	}
	t := time.Now()
	v, err := img.Frames(ctx)
	if err != nil {
		return nil, 0, 0, err
	}
	if len(v.Frames) == 0 {
		return nil, 0, 0, fmt.Errorf("no frames extracted")
	}
	extract := float64(time.Since(t).Microseconds()) / 1000
	res, err := p.CaptionVideo(ctx, v, req, nil)
	if err != nil {
		return nil, 0, 0, err
	}
	res.Timings.Total += extract
	return res, extract, len(v.Frames), nil
}

// modelInfo describes p's model and estimates the vision graph's FLOPs;
// what fails is noted, not fatal.
func modelInfo(p *pipeline.Pipeline, skipVision bool, notes *[]string) Model {
	s := p.Spec
	m := Model{Dir: s.Dir, Family: s.Family, TokensPerImage: s.TokensPerImage,
		InputSize: [2]int{s.Preprocess.Width, s.Preprocess.Height}}
	inter, err := ReadIntermediate(s.Dir)
	if err != nil {
		*notes = append(*notes, fmt.Sprintf("no decoder FLOPs: %v", err))
	}
	m.Decoder = DecoderOf(s.Text, inter)
	// From the opened decoder: reading the file's inputs again would load
	// the whole graph a second time and raise the peak RSS being measured.
	m.MergedLogitsAll = p.MergedLogitsAll()
	m.Files, m.DTypes = map[string]string{}, map[string]string{}
	for role, f := range map[string]string{"vision": s.Files.Vision, "embed": s.Files.Embed,
		"encoder": s.Files.Encoder, "decoder": s.Files.Decoder} {
		if f != "" {
			m.Files[role] = filepath.Base(f)
			m.DTypes[role] = models.DTypeOf(f)
		}
	}
	if wb, err := WeightBytes(s.Files.Decoder); err != nil {
		*notes = append(*notes, fmt.Sprintf("no decoder weight bytes: %v", err))
	} else {
		m.DecoderWeightBytes = wb
	}
	if skipVision {
		return m
	}
	shapes, err := VisionShapes(s.Files.Vision, s.Preprocess.Width, s.Preprocess.Height)
	if err == nil {
		m.Vision, err = GraphFLOPs(s.Files.Vision, shapes)
	}
	if err != nil {
		*notes = append(*notes, fmt.Sprintf("no vision FLOPs: %v", err))
	} else if len(m.Vision.Uncounted) > 0 {
		*notes = append(*notes, fmt.Sprintf("vision FLOPs leave out %d nodes without shapes", len(m.Vision.Uncounted)))
	}
	return m
}

// VisionShapes returns input shapes for one image (or tile) of
// width×height through the vision graph at path: dynamic dimensions are 1,
// except the last two of an input of rank 3 or more, which are height and
// width (pixel values, and a pixel attention mask where the graph has one).
func VisionShapes(path string, width, height int) (map[string][]int64, error) {
	ins, _, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", filepath.Base(path), err)
	}
	shapes := map[string][]int64{}
	for _, in := range ins {
		if in.Name == "grid_thw" || in.Name == "image_grid_thw" {
			// Qwen2-VL's patch grid: the profile run feeds zeros, and a
			// zero grid divides by zero inside the graph (SIGFPE in ORT).
			return nil, fmt.Errorf("bench: %s takes flattened patches with a grid (%s); no FLOPs estimate",
				filepath.Base(path), in.Name)
		}
		s := append([]int64(nil), in.Dimensions...)
		for i, d := range s {
			switch {
			case d >= 0:
			case len(s) >= 3 && i == len(s)-2:
				s[i] = int64(height)
			case len(s) >= 3 && i == len(s)-1:
				s[i] = int64(width)
			default:
				s[i] = 1
			}
		}
		shapes[in.Name] = s
	}
	return shapes, nil
}
