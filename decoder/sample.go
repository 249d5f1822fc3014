package decoder

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Sampling chooses the next token from logits. The zero value is greedy.
type Sampling struct {
	Temperature float64 // 0 = greedy (argmax, lowest id on ties)
	TopK        int     // 0 = no limit
	TopP        float64 // 0 or 1 = no nucleus cut
	Seed        uint64
}

// Validate checks the settings.
func (s Sampling) Validate() error {
	switch {
	case s.Temperature < 0 || math.IsNaN(s.Temperature) || math.IsInf(s.Temperature, 0):
		return fmt.Errorf("decoder: temperature must be >= 0, got %v", s.Temperature)
	case s.TopK < 0:
		return fmt.Errorf("decoder: top-k must be >= 0, got %d", s.TopK)
	case s.TopP < 0 || s.TopP > 1 || math.IsNaN(s.TopP):
		return fmt.Errorf("decoder: top-p must be in [0, 1], got %v", s.TopP)
	}
	return nil
}

// sampler is a Sampling with its random source.
type sampler struct {
	s   Sampling
	rng *rand.Rand
	idx []int
	p   []float64
}

func newSampler(s Sampling) *sampler {
	return &sampler{s: s, rng: rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))}
}

// argmax returns the index of the largest logit (lowest index on ties).
func argmax(logits []float32) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return best
}

// next picks a token id from one row of logits.
func (sm *sampler) next(logits []float32) int {
	if sm.s.Temperature == 0 {
		return argmax(logits)
	}
	n := len(logits)
	if cap(sm.idx) < n {
		sm.idx = make([]int, n)
		sm.p = make([]float64, n)
	}
	idx, p := sm.idx[:n], sm.p[:n]
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	k := n
	if sm.s.TopK > 0 && sm.s.TopK < k {
		k = sm.s.TopK
	}
	maxv := float64(logits[idx[0]])
	sum := 0.0
	for i := 0; i < k; i++ {
		p[i] = math.Exp((float64(logits[idx[i]]) - maxv) / sm.s.Temperature)
		sum += p[i]
	}
	if sm.s.TopP > 0 && sm.s.TopP < 1 {
		acc := 0.0
		for i := 0; i < k; i++ {
			acc += p[i] / sum
			if acc >= sm.s.TopP {
				k = i + 1
				break
			}
		}
		sum = 0
		for i := 0; i < k; i++ {
			sum += p[i]
		}
	}
	r := sm.rng.Float64() * sum
	for i := 0; i < k; i++ {
		r -= p[i]
		if r < 0 {
			return idx[i]
		}
	}
	return idx[k-1]
}
