package dataset

import (
	"math"
	"testing"
)

// Evaluate's scores against values computed by hand, not with the metric
// functions it calls (issue 20). Two images with disjoint vocabularies;
// the first caption is exact, the second has one wrong word of six:
// corpus n-gram precisions 10/11, 7/9, 5/7, 3/5, equal lengths (brevity
// penalty 1), so BLEU-4 = (10·7·5·3 / (11·9·7·5))^(1/4) = (10/33)^(1/4).
// A corpus of exact captions scores BLEU-4 1 and CIDEr-D 10 (cosine 1 for
// every n, no length penalty, times CIDEr-D's factor 10).
func TestEvaluateHandComputed(t *testing.T) {
	items := []Item{
		{"a", []string{"alpha bravo charlie delta echo"}},
		{"b", []string{"foxtrot golf hotel india juliet kilo"}},
	}
	exact := []Output{{Caption: "Alpha bravo, charlie delta echo."}, {Caption: "foxtrot golf hotel india juliet kilo"}}
	oneWrong := []Output{
		{Caption: "alpha bravo charlie delta echo", VisualBefore: 64, VisualLast: 16, PrefillMs: 3, TotalMs: 10},
		{Caption: "foxtrot golf hotel india xray kilo", VisualBefore: 64, VisualLast: 48, PrefillMs: 5, TotalMs: 30},
	}
	s, err := Evaluate(items, exact, exact)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(s.BLEU4-1) > 1e-6 || math.Abs(s.CIDErD-10) > 1e-6 || s.Agreement != 1 {
		t.Errorf("exact captions: BLEU-4 %v CIDEr-D %v agreement %v; want 1, 10, 1", s.BLEU4, s.CIDErD, s.Agreement)
	}
	s, err = Evaluate(items, oneWrong, exact)
	if err != nil {
		t.Fatal(err)
	}
	want := math.Pow(10.0/33, 0.25) // 0.74194
	if math.Abs(s.BLEU4-want) > 1e-6 || math.Abs(s.BLEU4Unpruned-want) > 1e-6 {
		t.Errorf("one wrong word: BLEU-4 %v (against the unpruned %v), want %v", s.BLEU4, s.BLEU4Unpruned, want)
	}
	if s.CIDErD <= 0 || s.CIDErD >= 10 {
		t.Errorf("one wrong word: CIDEr-D %v, want in (0, 10)", s.CIDErD)
	}
	// exact agrees with the unpruned captions (punctuation and case aside)
	// for image a only; means are plain means; keep ratio = 64/128 kept.
	if s.Agreement != 0.5 || s.MeanVisual != 32 || s.MeanPrefillMs != 4 || s.MeanTotalMs != 20 || s.KeepRatio != 0.5 {
		t.Errorf("one wrong word: %+v; want agreement 0.5, mean visual 32, prefill 4, total 20, keep ratio 0.5", s)
	}
}
