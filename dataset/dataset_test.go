package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/metrics"
	_ "github.com/vlmrun/vlmrun/models/scenes" // the embedded model's family
	"github.com/vlmrun/vlmrun/pipeline"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text string
		want       []Item
		err        string
	}{
		{"both forms", `{"image": "a.png", "captions": ["one", "two"]}` + "\n\n" +
			`{"image": "/abs/b.jpg", "caption": "three"}` + "\n",
			[]Item{{filepath.Join(dir, "a.png"), []string{"one", "two"}}, {"/abs/b.jpg", []string{"three"}}}, ""},
		{"merged and blank refs", `{"image": "c.png", "captions": ["x", " "], "caption": "y"}`,
			[]Item{{filepath.Join(dir, "c.png"), []string{"x", "y"}}}, ""},
		{"no references", `{"image": "a.png", "captions": []}`, nil, "line 1"},
		{"no image", "\n" + `{"caption": "a"}`, nil, "line 2"},
		{"unknown field", `{"image": "a.png", "caption": "a", "extra": 1}`, nil, "unknown field"},
		{"not json", `image,caption`, nil, "line 1"},
		{"empty", "\n\n", nil, "no items"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, strings.ReplaceAll(tc.name, " ", "_")+".jsonl", tc.text)
			got, err := Load(p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i].Image != tc.want[i].Image || !slices.Equal(got[i].References, tc.want[i].References) {
					t.Errorf("item %d: %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.jsonl")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestEvaluate(t *testing.T) {
	items := []Item{
		{"a", []string{"a red circle on the left", "a red circle at the left"}},
		{"b", []string{"a small blue square at the top"}},
		{"c", []string{"a green cross"}},
	}
	base := []Output{{Caption: "a red circle on the left"}, {Caption: "a blue square at the top"}, {Caption: "a green cross"}}
	outs := []Output{
		{Caption: "A red circle, on the left.", VisualBefore: 64, VisualLast: 16, PrefillMs: 2, TotalMs: 10},
		{Caption: "a blue square", VisualBefore: 64, VisualLast: 16, PrefillMs: 4, TotalMs: 20},
		{Caption: "a green cross", VisualBefore: 64, VisualLast: 32, PrefillMs: 6, TotalMs: 30},
	}
	s, err := Evaluate(items, outs, base)
	if err != nil {
		t.Fatal(err)
	}
	var cands [][]string
	var refs, baseRefs [][][]string
	for i := range items {
		cands = append(cands, metrics.Tokenize(outs[i].Caption))
		var r [][]string
		for _, x := range items[i].References {
			r = append(r, metrics.Tokenize(x))
		}
		refs = append(refs, r)
		baseRefs = append(baseRefs, [][]string{metrics.Tokenize(base[i].Caption)})
	}
	b, _ := metrics.BLEU4(cands, refs)
	c, _, _ := metrics.CIDErD(cands, refs)
	bb, _ := metrics.BLEU4(cands, baseRefs)
	want := Score{BLEU4: b.Score, CIDErD: c, Agreement: 2.0 / 3, BLEU4Unpruned: bb.Score,
		MeanVisual: 64.0 / 3, MeanPrefillMs: 4, MeanTotalMs: 20, KeepRatio: 64.0 / 192}
	if s != want {
		t.Errorf("Evaluate = %+v, want %+v", s, want)
	}
	if s.CIDErD <= 0 || s.BLEU4 <= 0 || math.IsNaN(s.CIDErD) {
		t.Errorf("degenerate scores %+v", s)
	}
	if _, err := Evaluate(items, outs[:2], base); err == nil {
		t.Error("length mismatch: no error")
	}
}

// The shipped examples, as a dataset with their ground-truth captions,
// captioned by the embedded model with and without pruning.
func TestCaptionExamples(t *testing.T) {
	testenv.ORT(t)
	repo := testenv.Repo(t)
	var labels map[string]string
	data, err := os.ReadFile(filepath.Join(repo, "examples", "labels.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &labels); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for name, ref := range labels {
		lines = append(lines, fmt.Sprintf(`{"image": %q, "caption": %q}`, filepath.Join(repo, "examples", name), ref))
	}
	slices.Sort(lines)
	items, err := Load(writeFile(t, t.TempDir(), "ex.jsonl", strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.Open(testenv.Model(t), pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	done := 0
	base, err := Caption(context.Background(), p, items, pipeline.Request{}, func() { done++ })
	if err != nil || done != len(items) {
		t.Fatalf("%v after %d of %d", err, done, len(items))
	}
	var req pipeline.Request
	if err := (pipeline.PruneSpec{Method: "stride", Keep: "0.25"}).Apply(&req); err != nil {
		t.Fatal(err)
	}
	pruned, err := Caption(context.Background(), p, items, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Evaluate(items, base, base)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := Evaluate(items, pruned, base)
	if err != nil {
		t.Fatal(err)
	}
	n := p.Spec.TokensPerImage
	// The embedded model captions every example exactly (its labels), so
	// the unpruned run scores BLEU-4 1 against them; agreement of the
	// pruned run is the share of identical captions, counted here.
	exact, agree := 0, 0
	for i, it := range items {
		if base[i].Caption == it.References[0] {
			exact++
		}
		if pruned[i].Caption == base[i].Caption {
			agree++
		}
	}
	if exact != len(items) || math.Abs(sb.BLEU4-1) > 1e-6 {
		t.Errorf("unpruned: %d of %d captions equal their labels, BLEU-4 %v", exact, len(items), sb.BLEU4)
	}
	if want := float64(agree) / float64(len(items)); sp.Agreement != want {
		t.Errorf("stride 0.25 agreement %v, want %v (%d of %d identical)", sp.Agreement, want, agree, len(items))
	}
	if sb.KeepRatio != 1 || sb.MeanVisual != float64(n) {
		t.Errorf("unpruned: %+v", sb)
	}
	if sp.MeanVisual != float64(n/4) || sp.KeepRatio != 0.25 || sp.MeanPrefillMs <= 0 {
		t.Errorf("stride 0.25: %+v", sp)
	}
	for _, s := range []Score{sb, sp} {
		if s.BLEU4 < 0 || s.BLEU4 > 1 || s.CIDErD < 0 || s.CIDErD > 10 {
			t.Errorf("scores out of range: %+v", s)
		}
	}
	t.Logf("unpruned: BLEU-4 %.3f CIDEr-D %.3f; stride 0.25: BLEU-4 %.3f CIDEr-D %.3f agreement %.2f",
		sb.BLEU4, sb.CIDErD, sp.BLEU4, sp.CIDErD, sp.Agreement)
}

func TestCaptionMissingImage(t *testing.T) {
	if _, err := Caption(context.Background(), nil, []Item{{Image: filepath.Join(t.TempDir(), "x.png")}}, pipeline.Request{}, nil); err == nil {
		t.Error("missing image: no error")
	}
}
