package pruning

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Budget is a visual-token budget: either a ratio of the tokens (--keep 0.25)
// or a count (--keep 64). The zero Budget is invalid ("not set").
type Budget struct {
	ratio float64 // in (0, 1] for a ratio budget
	count int     // >= 1 for a count budget
}

// KeepRatio returns a ratio budget; r must be in (0, 1] (checked by Count).
func KeepRatio(r float64) Budget { return Budget{ratio: r} }

// KeepCount returns a count budget; k must be >= 1 (checked by Count).
func KeepCount(k int) Budget { return Budget{count: k} }

// ParseBudget parses a --keep value. A plain integer ("64") is a count
// (>= 1); anything else must be a ratio in (0, 1] written as a decimal
// ("0.25", "1.0", "1e-1") or a percentage ("25%"). "1" is the count one
// token; "1.0" keeps everything.
func ParseBudget(s string) (Budget, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return Budget{}, fmt.Errorf("pruning: empty budget: want a ratio in (0, 1] such as 0.25 or a count such as 64: %w", ErrBudget)
	}
	if isDigits(t) {
		k, err := strconv.Atoi(t)
		if err != nil || k < 1 {
			return Budget{}, fmt.Errorf("pruning: budget %q: a count must be an integer >= 1: %w", s, ErrBudget)
		}
		return Budget{count: k}, nil
	}
	pct := strings.HasSuffix(t, "%")
	num := strings.TrimSuffix(t, "%")
	r, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(r) || math.IsInf(r, 0) {
		return Budget{}, fmt.Errorf("pruning: budget %q: want a ratio in (0, 1] such as 0.25, a percentage such as 25%%, or a count such as 64: %w", s, ErrBudget)
	}
	if pct {
		r /= 100
	}
	if !(r > 0 && r <= 1) {
		return Budget{}, fmt.Errorf("pruning: budget %q: a ratio must be in (0, 1] (write an integer for a token count): %w", s, ErrBudget)
	}
	return Budget{ratio: r}, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// IsZero reports whether b is the zero (unset) budget.
func (b Budget) IsZero() bool { return b.ratio == 0 && b.count == 0 }

// IsRatio reports whether b is a ratio budget.
func (b Budget) IsRatio() bool { return b.count == 0 && b.ratio != 0 }

// Ratio returns the ratio of a ratio budget (0 for a count budget).
func (b Budget) Ratio() float64 { return b.ratio }

// Count returns the number of tokens to keep out of n.
//
// A ratio keeps round(ratio·n) tokens with Python's round (half to even,
// math.RoundToEven), as DivPrune's int(round(ratio·N)) and FastV's
// round(N·(1−R)): 0.098·576 = 56.448 → 56; 0.5·5 = 2.5 → 2. The result is
// clamped to [1, n]. A count is clamped to n (a budget of 64 on a 36-token
// tile keeps all 36). n must be >= 1.
func (b Budget) Count(n int) (int, error) {
	if n < 1 {
		return 0, fmt.Errorf("pruning: budget %s of %d tokens: need at least one token: %w", b, n, ErrBudget)
	}
	switch {
	case b.count != 0 && b.ratio != 0:
		return 0, fmt.Errorf("pruning: malformed budget: %w", ErrBudget)
	case b.count != 0:
		if b.count < 1 {
			return 0, fmt.Errorf("pruning: budget count %d: must be >= 1: %w", b.count, ErrBudget)
		}
		return min(b.count, n), nil
	case b.ratio != 0:
		if !(b.ratio > 0 && b.ratio <= 1) {
			return 0, fmt.Errorf("pruning: budget ratio %v: must be in (0, 1]: %w", b.ratio, ErrBudget)
		}
		k := int(math.RoundToEven(b.ratio * float64(n)))
		return max(1, min(k, n)), nil
	}
	return 0, fmt.Errorf("pruning: budget not set: %w", ErrBudget)
}

// String formats b so that ParseBudget reads it back: a ratio always has a
// decimal point or exponent ("1.0", "0.25"), a count never does ("64").
func (b Budget) String() string {
	if b.count != 0 {
		return strconv.Itoa(b.count)
	}
	if b.ratio == 0 {
		return "unset"
	}
	s := strconv.FormatFloat(b.ratio, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") { // "n": NaN/Inf stay as they are
		s += ".0"
	}
	return s
}
