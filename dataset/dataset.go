// Package dataset evaluates captioning on a user's dataset: a JSONL file
// whose lines name an image and its reference captions,
//
//	{"image": "photos/cat.jpg", "captions": ["a cat on a mat", "a grey cat sleeping"]}
//	{"image": "/data/dog.png", "caption": "a dog running"}
//
// (relative image paths are relative to the JSONL file's folder). Every
// image is captioned through the whole pipeline, and the captions are
// scored with corpus BLEU-4 and CIDEr-D (package metrics) against the
// references, and against the unpruned pipeline's captions of the same
// images: the exact agreement rate and BLEU-4 with the unpruned caption as
// the reference.
package dataset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vlmrun/vlmrun/metrics"
	"github.com/vlmrun/vlmrun/pipeline"
)

// Item is one image with its reference captions.
type Item struct {
	Image      string   // path as resolved (relative to the JSONL folder)
	References []string // one or more
}

type line struct {
	Image    string   `json:"image"`
	Captions []string `json:"captions"`
	Caption  string   `json:"caption"`
}

// Load reads a JSONL dataset. Blank lines are skipped; every other line
// must be an object with "image" and "captions" (an array) or "caption" (a
// string), or both.
func Load(path string) ([]Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	dir := filepath.Dir(path)
	var items []Item
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var l line
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return nil, fmt.Errorf("dataset: %s line %d: %w", path, n, err)
		}
		refs := l.Captions
		if l.Caption != "" {
			refs = append(refs, l.Caption)
		}
		var kept []string
		for _, r := range refs {
			if strings.TrimSpace(r) != "" {
				kept = append(kept, r)
			}
		}
		if l.Image == "" || len(kept) == 0 {
			return nil, fmt.Errorf("dataset: %s line %d: want \"image\" and at least one non-empty \"captions\"/\"caption\"", path, n)
		}
		img := l.Image
		if !filepath.IsAbs(img) {
			img = filepath.Join(dir, img)
		}
		items = append(items, Item{Image: img, References: kept})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("dataset: %s has no items", path)
	}
	return items, nil
}

// Output is the pipeline's caption of one item, with what the sweep
// reports about the run.
type Output struct {
	Caption      string  `json:"caption"`
	VisualBefore int     `json:"visual_tokens_before"`
	VisualLast   int     `json:"visual_tokens_last_layer"`
	PrefillMs    float64 `json:"prefill_ms"`
	TotalMs      float64 `json:"total_ms"`
}

// Caption captions every item with req. progress, if not nil, is called
// after each item.
func Caption(ctx context.Context, p *pipeline.Pipeline, items []Item, req pipeline.Request,
	progress func()) ([]Output, error) {
	out := make([]Output, len(items))
	for i, it := range items {
		data, err := os.ReadFile(it.Image)
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		res, err := p.Caption(ctx, filepath.Base(it.Image), bytes.NewReader(data), req, nil)
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", it.Image, err)
		}
		o := Output{Caption: res.Caption, VisualBefore: res.Visual.Before, VisualLast: res.Visual.AfterPre,
			PrefillMs: res.Timings.Prefill, TotalMs: res.Timings.Total}
		if rows := res.Visual.LayerRows; len(rows) > 0 {
			o.VisualLast = rows[len(rows)-1] - (len(res.PromptIDs) - res.Visual.Before)
		}
		out[i] = o
		if progress != nil {
			progress()
		}
	}
	return out, nil
}

// Score is the accuracy of one set of captions.
type Score struct {
	BLEU4  float64 `json:"bleu4"`
	CIDErD float64 `json:"cider_d"`
	// Agreement is the share of images whose caption equals the unpruned
	// one (after Tokenize); BLEU4Unpruned is BLEU-4 with the unpruned
	// captions as the only references (1 for the unpruned run itself when
	// its captions have four words or more).
	Agreement     float64 `json:"agreement_with_unpruned"`
	BLEU4Unpruned float64 `json:"bleu4_vs_unpruned"`
	// Mean visual tokens in the last decoder layer, prefill and total ms.
	MeanVisual    float64 `json:"mean_visual_tokens"`
	MeanPrefillMs float64 `json:"mean_prefill_ms"`
	MeanTotalMs   float64 `json:"mean_total_ms"`
	KeepRatio     float64 `json:"keep_ratio"`
}

// Evaluate scores outs (the captions of items) against the references and
// against base, the unpruned captions of the same items.
func Evaluate(items []Item, outs, base []Output) (Score, error) {
	if len(outs) != len(items) || len(base) != len(items) {
		return Score{}, fmt.Errorf("dataset: %d items, %d captions, %d unpruned captions", len(items), len(outs), len(base))
	}
	cands := make([][]string, len(items))
	refs := make([][][]string, len(items))
	baseRefs := make([][][]string, len(items))
	var s Score
	agree, before := 0, 0
	for i, it := range items {
		cands[i] = metrics.Tokenize(outs[i].Caption)
		for _, r := range it.References {
			refs[i] = append(refs[i], metrics.Tokenize(r))
		}
		b := metrics.Tokenize(base[i].Caption)
		baseRefs[i] = [][]string{b}
		if strings.Join(b, " ") == strings.Join(cands[i], " ") {
			agree++
		}
		s.MeanVisual += float64(outs[i].VisualLast)
		s.MeanPrefillMs += outs[i].PrefillMs
		s.MeanTotalMs += outs[i].TotalMs
		before += outs[i].VisualBefore
	}
	n := float64(len(items))
	s.Agreement = float64(agree) / n
	if before > 0 {
		s.KeepRatio = s.MeanVisual / float64(before)
	}
	s.MeanVisual /= n
	s.MeanPrefillMs /= n
	s.MeanTotalMs /= n
	b, err := metrics.BLEU4(cands, refs)
	if err != nil {
		return s, err
	}
	s.BLEU4 = b.Score
	if s.CIDErD, _, err = metrics.CIDErD(cands, refs); err != nil {
		return s, err
	}
	if b, err = metrics.BLEU4(cands, baseRefs); err != nil {
		return s, err
	}
	s.BLEU4Unpruned = b.Score
	return s, nil
}
