package metrics

import (
	"fmt"
	"math"
)

// BLEU is a corpus BLEU-4 score and its parts.
type BLEU struct {
	Score float64 `json:"bleu4"`
	// Precisions are the clipped n-gram precisions p1..p4.
	Precisions [4]float64 `json:"precisions"`
	// BrevityPenalty is min(1, exp(1 − RefLen/CandLen)).
	BrevityPenalty float64 `json:"brevity_penalty"`
	CandLen        int     `json:"candidate_length"`
	RefLen         int     `json:"reference_length"`
}

// BLEU4 scores candidate captions cands[i] against their references
// refs[i] (one or more each), all tokenized:
//
//	p_n = Σ_i Σ_g min(count_i(g), max_r count_{i,r}(g)) / Σ_i max(0, len_i − n + 1)
//	BLEU-4 = BP · exp(¼ Σ_{n=1..4} log p_n),  BP = 1 if c > r else exp(1 − r/c)
//
// where g ranges over the candidate's n-grams, c = Σ_i len_i and r = Σ_i
// the length of the reference of caption i closest to len_i (the shorter
// on a tie). An empty candidate corpus or any p_n = 0 gives 0.
func BLEU4(cands [][]string, refs [][][]string) (BLEU, error) {
	const N = 4
	if len(cands) != len(refs) {
		return BLEU{}, fmt.Errorf("metrics: %d candidates but %d reference sets", len(cands), len(refs))
	}
	var match, total [N]int
	var out BLEU
	for i, c := range cands {
		if len(refs[i]) == 0 {
			return BLEU{}, fmt.Errorf("metrics: caption %d has no reference", i)
		}
		maxRef := make([]map[ngram]int, N)
		for n := range maxRef {
			maxRef[n] = map[ngram]int{}
		}
		best := -1
		for _, r := range refs[i] {
			if best < 0 || closer(len(r), best, len(c)) {
				best = len(r)
			}
			for n, m := range counts(r, N) {
				for g, k := range m {
					maxRef[n][g] = max(maxRef[n][g], k)
				}
			}
		}
		out.CandLen += len(c)
		out.RefLen += best
		for n, m := range counts(c, N) {
			for g, k := range m {
				match[n] += min(k, maxRef[n][g])
			}
			total[n] += max(0, len(c)-n)
		}
	}
	logSum := 0.0
	zero := false
	for n := 0; n < N; n++ {
		if total[n] > 0 {
			out.Precisions[n] = float64(match[n]) / float64(total[n])
		}
		if out.Precisions[n] == 0 {
			zero = true
			continue
		}
		logSum += math.Log(out.Precisions[n]) / N
	}
	out.BrevityPenalty = 1
	if out.CandLen == 0 {
		out.BrevityPenalty = 0
	} else if out.CandLen < out.RefLen {
		out.BrevityPenalty = math.Exp(1 - float64(out.RefLen)/float64(out.CandLen))
	}
	if !zero {
		out.Score = out.BrevityPenalty * math.Exp(logSum)
	}
	return out, nil
}

// closer reports whether reference length a is closer to the candidate
// length c than b is, preferring the shorter on a tie.
func closer(a, b, c int) bool {
	da, db := abs(a-c), abs(b-c)
	return da < db || (da == db && a < b)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
