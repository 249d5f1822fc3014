package metrics

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func toks(s string) []string { return strings.Fields(s) }

func refsOf(rs ...string) [][]string {
	var out [][]string
	for _, r := range rs {
		out = append(out, toks(r))
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12 }

func TestTokenize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"A red Circle, on the LEFT.", []string{"a", "red", "circle", "on", "the", "left"}},
		{"don't stop", []string{"don't", "stop"}},
		{"'quoted' words", []string{"quoted", "words"}},
		{"a 3x3 grid; two-tone", []string{"a", "3x3", "grid", "two", "tone"}},
		{"  ", nil},
	} {
		if got := Tokenize(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("Tokenize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBLEU4(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cands []string
		refs  [][][]string
		want  float64
		p1    float64
	}{
		{"identical", []string{"a b c d e"}, [][][]string{refsOf("a b c d e")}, 1, 1},
		// p = 4/5, 3/4, 2/3, 1/2; c = 5 < r = 6.
		{"brevity", []string{"a b c d e"}, [][][]string{refsOf("a b c d f g")},
			math.Pow(4.0/5*3/4*2/3*1/2, 0.25) * math.Exp(1-6.0/5), 0.8},
		// reference lengths 7 and 3 are equally close to 5: the shorter
		// one is used, so there is no brevity penalty.
		{"closest tie", []string{"a b c d e"}, [][][]string{refsOf("a b c d e f g", "x y z")}, 1, 1},
		// no bigram matches: BLEU 0, p1 clipped to 2/7.
		{"clipped zero", []string{"the the the the the the the"}, [][][]string{refsOf("the cat is on the mat")}, 0, 2.0 / 7},
		// counts clip to the most frequent reference (2).
		{"multi-ref clip", []string{"the the the"}, [][][]string{refsOf("the cat", "the the dog")}, 0, 2.0 / 3},
		// corpus sums: p = 7/8, 4/6, 2/4, 1/2.
		{"corpus", []string{"a b c d", "a b c d"}, [][][]string{refsOf("a b c d"), refsOf("a b x d")},
			math.Pow(7.0/8*4/6*2/4*1/2, 0.25), 7.0 / 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cs [][]string
			for _, c := range tc.cands {
				cs = append(cs, toks(c))
			}
			got, err := BLEU4(cs, tc.refs)
			if err != nil {
				t.Fatal(err)
			}
			if !near(got.Score, tc.want) || !near(got.Precisions[0], tc.p1) {
				t.Errorf("BLEU4 = %v (p1 %v), want %v (p1 %v)", got.Score, got.Precisions[0], tc.want, tc.p1)
			}
		})
	}
}

func TestBLEU4Errors(t *testing.T) {
	if _, err := BLEU4([][]string{{"a"}}, nil); err == nil {
		t.Error("length mismatch: no error")
	}
	if _, err := BLEU4([][]string{{"a"}}, [][][]string{{}}); err == nil {
		t.Error("no reference: no error")
	}
	if b, err := BLEU4([][]string{{}}, [][][]string{refsOf("a")}); err != nil || b.Score != 0 {
		t.Errorf("empty candidate: %v, %v", b, err)
	}
}

func TestCIDErD(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cands []string
		refs  [][][]string
		want  []float64
	}{
		// N = 2 images: every n-gram of a reference has df 1 and weight
		// tf·ln 2. Image 1: sim_1 = 1, no longer n-grams; 10·(1/4) = 2.5.
		// Image 2: no shared n-gram.
		{"unigram", []string{"a", "b"}, [][][]string{refsOf("a"), refsOf("c")}, []float64{2.5, 0}},
		// Image 1, reference 1 identical (sim_1 = sim_2 = 1); reference 2
		// has 8 words: sim_1 = 2/(√2·√8) = 1/2, sim_2 = 1/√7, length
		// penalty exp(−(1−7)²/72) = exp(−1/2).
		{"two refs and length penalty", []string{"a b", "x"},
			[][][]string{refsOf("a b", "a b c d e f g h"), refsOf("y")},
			[]float64{10.0 / 2 * ((1.0+1)/4 + (0.5+1/math.Sqrt(7))*math.Exp(-0.5)/4), 0}},
		// Clipping: the candidate's "a" weighs 2 ln 2, the reference's
		// ln 2: sim_1 = min(2,1)·1/(2·1) = 1/2; lengths 1 and 0 bigrams.
		{"clipping", []string{"a a", "x"}, [][][]string{refsOf("a"), refsOf("y")},
			[]float64{10 * 0.5 * math.Exp(-1.0/72) / 4, 0}},
		// One image: log N = 0, every weight is 0.
		{"single image", []string{"a b c"}, [][][]string{refsOf("a b c")}, []float64{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cs [][]string
			for _, c := range tc.cands {
				cs = append(cs, toks(c))
			}
			mean, per, err := CIDErD(cs, tc.refs)
			if err != nil {
				t.Fatal(err)
			}
			wantMean := 0.0
			for i, w := range tc.want {
				if !near(per[i], w) {
					t.Errorf("caption %d: CIDEr-D %v, want %v", i, per[i], w)
				}
				wantMean += w / float64(len(tc.want))
			}
			if !near(mean, wantMean) {
				t.Errorf("corpus CIDEr-D %v, want %v", mean, wantMean)
			}
		})
	}
}

func TestCIDErDIdenticalCorpus(t *testing.T) {
	// Candidates equal to their single reference, on images with no
	// n-gram in common: every sim_n with both norms non-zero is 1, so a
	// caption of k ≥ 4 words scores 10.
	cands := [][]string{toks("a b c d"), toks("e f g h i"), toks("j k l m")}
	refs := [][][]string{{cands[0]}, {cands[1]}, {cands[2]}}
	mean, _, err := CIDErD(cands, refs)
	if err != nil || !near(mean, 10) {
		t.Errorf("CIDEr-D = %v, %v; want 10", mean, err)
	}
}
