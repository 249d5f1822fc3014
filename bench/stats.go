package bench

import (
	"math"
	"slices"
)

// Summary describes the measured values of one quantity over the measured
// runs of a cell.
//
// Median is the middle value (the mean of the two middle values for an
// even count); P90 is the nearest-rank 90th percentile, the ⌈0.9·n⌉-th
// smallest value (for n < 10 it is the largest); Min is the smallest.
type Summary struct {
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	Min    float64 `json:"min"`
	N      int     `json:"n"`
}

// Summarize returns the Summary of xs (the zero Summary for none).
func Summarize(xs []float64) Summary {
	n := len(xs)
	if n == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	rank := int(math.Ceil(0.9 * float64(n)))
	return Summary{Median: med, P90: s[max(rank, 1)-1], Min: s[0], N: n}
}
