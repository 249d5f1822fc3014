package decoder

import "testing"

func TestSampling(t *testing.T) {
	logits := []float32{1, 3, 3, -2, 0.5}
	if got := newSampler(Sampling{}).next(logits); got != 1 {
		t.Errorf("greedy = %d, want 1 (first maximum)", got)
	}
	if got := newSampler(Sampling{Temperature: 1, TopK: 1, Seed: 9}).next(logits); got != 1 {
		t.Errorf("top-k 1 = %d, want the argmax 1", got)
	}
	// top-p small enough keeps only the two tied maxima
	counts := map[int]int{}
	s := newSampler(Sampling{Temperature: 1, TopP: 0.5, Seed: 3})
	for range 2000 {
		counts[s.next(logits)]++
	}
	if len(counts) != 2 || counts[1] == 0 || counts[2] == 0 {
		t.Errorf("top-p 0.5 sampled %v, want only ids 1 and 2", counts)
	}
	// same seed, same stream
	a, b := newSampler(Sampling{Temperature: 0.8, Seed: 42}), newSampler(Sampling{Temperature: 0.8, Seed: 42})
	for i := range 100 {
		if x, y := a.next(logits), b.next(logits); x != y {
			t.Fatalf("draw %d: %d != %d with the same seed", i, x, y)
		}
	}
	for _, bad := range []Sampling{{Temperature: -1}, {TopK: -1}, {TopP: 1.5}} {
		if bad.Validate() == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
