package bench

import "testing"

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", []float64{3}, Summary{3, 3, 3, 1}},
		{"odd", []float64{5, 1, 3}, Summary{3, 5, 1, 3}},
		{"even", []float64{4, 1, 3, 2}, Summary{2.5, 4, 1, 4}},
		// ⌈0.9·10⌉ = 9: the 9th smallest.
		{"ten", []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, Summary{5.5, 9, 1, 10}},
		// ⌈0.9·20⌉ = 18.
		{"twenty", seq(20), Summary{10.5, 18, 1, 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Summarize(tc.in); got != tc.want {
				t.Errorf("Summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func seq(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = float64(n - i)
	}
	return s
}
