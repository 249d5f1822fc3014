package eval

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"sort"

	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
	"github.com/vlmrun/vlmrun/scenes"
)

// Oracle selections of the VQA evaluation.
const (
	// OracleQuery keeps the tokens that overlap the objects the question is
	// about (scenes.VQAItem.Relevant) most, then those overlapping the other
	// objects.
	OracleQuery = "oracle"
	// OracleBlind keeps the tokens that overlap any object most, whatever
	// the question (a query-blind oracle).
	OracleBlind = "oracle-blind"
)

// VQAConfig says which held-out questions to answer and how.
type VQAConfig struct {
	Seed     uint64
	Start    int // first question index
	Count    int
	Size     int  // rendered frame side in pixels
	Sequence bool // frame-sequence questions instead of single-image ones
	// Request is the base request (its Prompt is replaced by each question).
	// Oracle, when set (OracleQuery or OracleBlind), replaces its
	// pre-decoder method with that geometry oracle, keeping
	// Request.Keep.Count(visual tokens of all frames) tokens.
	Request pipeline.Request
	Oracle  string
	// Progress, if not nil, is called after each question.
	Progress func(done, total int)
}

// VQASample is one answered question.
type VQASample struct {
	Index     int    `json:"index"`
	Type      string `json:"type"`
	Question  string `json:"question"`
	Reference string `json:"reference"`
	Answer    string `json:"answer"`
	Exact     bool   `json:"exact"`
	InVocab   bool   `json:"in_vocabulary"`
	Frames    int    `json:"frames"`
	Kept      int    `json:"kept"`
	Visual    int    `json:"visual"`
}

// Tally counts exact answers.
type Tally struct {
	N     int `json:"n"`
	Exact int `json:"exact"`
}

// Rate is the exact-match rate (0 when empty).
func (t Tally) Rate() float64 {
	if t.N == 0 {
		return 0
	}
	return float64(t.Exact) / float64(t.N)
}

// VQAReport is the outcome of a VQA evaluation.
type VQAReport struct {
	All        Tally             `json:"all"`
	ByType     map[string]*Tally `json:"by_type"`
	OutOfVocab int               `json:"out_of_vocabulary"`
	Samples    []VQASample       `json:"-"`
	// MeanKept is the mean number of visual tokens given to the decoder,
	// MeanKeptLast the mean number left in the last decoder layer and
	// KeepRatio the mean of the last over the encoder's count.
	MeanKept     float64 `json:"mean_visual_tokens"`
	MeanKeptLast float64 `json:"mean_visual_tokens_last_layer"`
	KeepRatio    float64 `json:"keep_ratio"`
	TotalMs      float64 `json:"total_ms"`
}

// VQA answers cfg.Count held-out questions through the whole pipeline
// (PNG encode → decode → resize → model, every frame) and scores them by
// exact match.
func VQA(ctx context.Context, p *pipeline.Pipeline, cfg VQAConfig) (*VQAReport, error) {
	if cfg.Count <= 0 || cfg.Size <= 0 {
		return nil, fmt.Errorf("eval: count and size must be positive")
	}
	grid := p.Spec.GridH
	if grid <= 0 || grid != p.Spec.GridW || grid*grid != p.Spec.TokensPerImage {
		return nil, fmt.Errorf("eval: the VQA evaluation needs a square token grid per image")
	}
	answers := scenes.VQAAnswers()
	rep := &VQAReport{ByType: map[string]*Tally{}}
	keptSum, lastSum, ratioSum := 0.0, 0.0, 0.0
	for i := 0; i < cfg.Count; i++ {
		idx := cfg.Start + i
		item := scenes.GenerateVQA(cfg.Seed, idx, cfg.Sequence)
		frames := make([]pipeline.Frame, len(item.Frames))
		for f, fr := range item.Frames {
			var buf bytes.Buffer
			if err := png.Encode(&buf, fr.Render(cfg.Size)); err != nil {
				return nil, fmt.Errorf("eval: encode question %d frame %d: %w", idx, f, err)
			}
			frames[f] = pipeline.Frame{Name: fmt.Sprintf("vqa-%05d-%d.png", idx, f), R: &buf}
		}
		req := cfg.Request
		req.Prompt = item.Question
		switch cfg.Oracle {
		case "":
		case OracleQuery, OracleBlind:
			req.Pre = &Oracle{Scores: VQAOracleScores(item, grid, cfg.Oracle == OracleBlind)}
			if req.Keep == nil {
				req.Keep = fixed(len(item.Frames) * grid * grid)
			}
		default:
			return nil, fmt.Errorf("eval: unknown oracle %q", cfg.Oracle)
		}
		if r, ok := req.Pre.(pruning.Random); ok {
			r.Seed += uint64(idx)
			req.Pre = r
		}
		res, err := p.CaptionFrames(ctx, frames, req, nil)
		if err != nil {
			return nil, fmt.Errorf("eval: question %d: %w", idx, err)
		}
		s := VQASample{Index: idx, Type: item.Type, Question: item.Question, Reference: item.Answer,
			Answer: res.Caption, Exact: scenes.VQAExact(res.Caption, item.Answer), Frames: len(item.Frames),
			Kept: res.Visual.AfterPre, Visual: res.Visual.Before}
		s.InVocab = answers[normalize(res.Caption)]
		if !s.InVocab {
			rep.OutOfVocab++
		}
		t := rep.ByType[item.Type]
		if t == nil {
			t = &Tally{}
			rep.ByType[item.Type] = t
		}
		t.N++
		rep.All.N++
		if s.Exact {
			t.Exact++
			rep.All.Exact++
		}
		rep.Samples = append(rep.Samples, s)
		last := float64(res.Visual.AfterPre)
		if rows := res.Visual.LayerRows; len(rows) > 0 {
			text := len(res.PromptIDs) - res.Visual.Before
			last = float64(rows[len(rows)-1] - text)
		}
		keptSum += float64(res.Visual.AfterPre)
		lastSum += last
		ratioSum += last / float64(res.Visual.Before)
		rep.TotalMs += res.Timings.Total
		if cfg.Progress != nil {
			cfg.Progress(i+1, cfg.Count)
		}
	}
	n := float64(cfg.Count)
	rep.MeanKept, rep.MeanKeptLast, rep.KeepRatio = keptSum/n, lastSum/n, ratioSum/n
	return rep, nil
}

// VQAOracleScores returns the oracle score of every visual token of the
// item's frames, in prompt order: with blind, the fraction of the patch
// covered by any object; otherwise the fraction covered by the objects the
// question is about, plus 10⁻³ × the coverage by any object (so the
// relevant tokens come first, then the other objects' tokens).
func VQAOracleScores(item scenes.VQAItem, grid int, blind bool) []float64 {
	var out []float64
	for f, fr := range item.Frames {
		all := fr.Coverage(grid, nil)
		if blind {
			out = append(out, all...)
			continue
		}
		rel := fr.Coverage(grid, item.Relevant[f])
		for i := range rel {
			rel[i] += 1e-3 * all[i]
		}
		out = append(out, rel...)
	}
	return out
}

func normalize(s string) string {
	var out []byte
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\n' {
			space = len(out) > 0
			continue
		}
		if space {
			out = append(out, ' ')
			space = false
		}
		out = append(out, c)
	}
	return string(out)
}

// Types returns the report's question types in sorted order.
func (r *VQAReport) Types() []string {
	var t []string
	for k := range r.ByType {
		t = append(t, k)
	}
	sort.Strings(t)
	return t
}
