package metrics

import (
	"fmt"
	"math"
)

// CIDErD scores candidate captions cands[i] against their references
// refs[i], all tokenized, and returns the corpus score (the mean) and the
// score of each caption. For caption i with references r_1..r_m:
//
//	g_n(s)[w] = tf_s(w) · (log N − log max(1, df(w)))     for n-grams w of length n
//	sim_n(c, r) = Σ_w min(g_n(c)[w], g_n(r)[w]) · g_n(r)[w] / (‖g_n(c)‖ ‖g_n(r)‖)
//	              · exp(−(ℓ(c) − ℓ(r))² / (2σ²))
//	CIDEr-D_i = 10 / m · Σ_j ¼ Σ_{n=1..4} sim_n(c, r_j)
//
// with N the number of captions scored (images), df(w) the number of
// images whose references contain w, σ = 6, and ℓ a caption's bigram count
// (pycocoevalcap's length; its differences equal word-count differences
// for non-empty captions). A zero-norm vector makes sim_n zero. The
// document frequencies come from this corpus alone, so one image alone
// scores 0 (log N = 0), as in pycocoevalcap.
func CIDErD(cands [][]string, refs [][][]string) (float64, []float64, error) {
	const N = 4
	const sigma = 6.0
	if len(cands) != len(refs) {
		return 0, nil, fmt.Errorf("metrics: %d candidates but %d reference sets", len(cands), len(refs))
	}
	if len(cands) == 0 {
		return 0, nil, nil
	}
	refCounts := make([][][]map[ngram]int, len(refs))
	df := map[ngram]int{}
	for i, rs := range refs {
		if len(rs) == 0 {
			return 0, nil, fmt.Errorf("metrics: caption %d has no reference", i)
		}
		seen := map[ngram]bool{}
		for _, r := range rs {
			c := counts(r, N)
			refCounts[i] = append(refCounts[i], c)
			for _, m := range c {
				for g := range m {
					seen[g] = true
				}
			}
		}
		for g := range seen {
			df[g]++
		}
	}
	logN := math.Log(float64(len(cands)))
	type vec struct {
		w    []map[ngram]float64
		norm []float64
		len  int
	}
	toVec := func(c []map[ngram]int) vec {
		v := vec{w: make([]map[ngram]float64, N), norm: make([]float64, N)}
		for n, m := range c {
			v.w[n] = make(map[ngram]float64, len(m))
			for g, tf := range m {
				x := float64(tf) * (logN - math.Log(math.Max(1, float64(df[g]))))
				v.w[n][g] = x
				v.norm[n] += x * x
				if n == 1 {
					v.len += tf
				}
			}
			v.norm[n] = math.Sqrt(v.norm[n])
		}
		return v
	}
	scores := make([]float64, len(cands))
	sum := 0.0
	for i, c := range cands {
		cv := toVec(counts(c, N))
		total := 0.0
		for _, rc := range refCounts[i] {
			rv := toVec(rc)
			d := float64(cv.len - rv.len)
			pen := math.Exp(-d * d / (2 * sigma * sigma))
			for n := 0; n < N; n++ {
				if cv.norm[n] == 0 || rv.norm[n] == 0 {
					continue
				}
				dot := 0.0
				for g, x := range cv.w[n] {
					y := rv.w[n][g]
					dot += math.Min(x, y) * y
				}
				total += dot / (cv.norm[n] * rv.norm[n]) * pen / N
			}
		}
		scores[i] = 10 * total / float64(len(refCounts[i]))
		sum += scores[i]
	}
	return sum / float64(len(cands)), scores, nil
}
