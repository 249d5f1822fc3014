package main

import (
	"fmt"
	"math"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/pipeline"
)

// pruneFlags select a visual-token pruning method and budget.
type pruneFlags struct {
	method string
	keep   string
}

func (p *pruneFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&p.method, "prune", "none", "pruning method, METHOD[:param=value,...] (see vlmrun prune list)")
	fs.StringVar(&p.keep, "keep", "1.0", "visual tokens to keep: a ratio (0.25) or a count (64)")
}

// count turns --keep into a token count out of n.
func (p *pruneFlags) count(n int) (int, error) {
	v, err := strconv.ParseFloat(p.keep, 64)
	if err != nil || v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("bad --keep %q: want a ratio in (0, 1] or a positive count", p.keep)
	}
	if v <= 1 && !(v == 1 && p.keep == "1") {
		return max(1, int(math.RoundToEven(v*float64(n)))), nil
	}
	if v != math.Trunc(v) {
		return 0, fmt.Errorf("bad --keep %q: a count must be a whole number", p.keep)
	}
	return min(int(v), n), nil
}

func (p *pruneFlags) apply(req *pipeline.Request) error {
	if p.method == "" || p.method == "none" {
		return nil
	}
	return fmt.Errorf("unknown --prune method %q", p.method)
}
