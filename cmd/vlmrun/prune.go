package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
)

// pruneFlags select a visual-token pruning method and budget.
type pruneFlags struct {
	method string
	keep   string
}

func (p *pruneFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&p.method, "prune", "none", "pruning method, METHOD[:param=value,...] (see: vlmrun prune list)")
	fs.StringVar(&p.keep, "keep", "", "visual tokens to keep: a ratio (0.25), a percentage (25%) or a count (64); default: the method's")
}

// budget returns the --keep budget, or the method's default when unset.
func (p *pruneFlags) budget(def string) (pruning.Budget, error) {
	s := p.keep
	if s == "" {
		s = def
	}
	if s == "" {
		return pruning.Budget{}, nil
	}
	b, err := pruning.ParseBudget(s)
	if err != nil {
		return b, fmt.Errorf("bad --keep: %w", err)
	}
	return b, nil
}

// count turns --keep into a token count out of n.
func (p *pruneFlags) count(n int) (int, error) {
	b, err := p.budget("1.0")
	if err != nil {
		return 0, err
	}
	return b.Count(n)
}

// apply sets the request's pruning from the flags.
func (p *pruneFlags) apply(req *pipeline.Request) error {
	return p.spec().Apply(req)
}

// spec returns the flags as a pipeline.PruneSpec.
func (p *pruneFlags) spec() pipeline.PruneSpec {
	return pipeline.PruneSpec{Method: p.method, Keep: p.keep, MethodName: "--prune", KeepName: "--keep"}
}

func cmdPrune(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "list" {
		fmt.Fprintln(stderr, "usage: vlmrun prune list")
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			return 0
		}
		return 2
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "METHOD\tWHERE\tNEEDS\tPOSITIONS\tDEFAULT KEEP\tDESCRIPTION")
	for _, m := range pruning.Methods() {
		keep := m.DefaultKeep
		if keep == "" {
			keep = "(params)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Stage, m.Needs, m.Positions, keep, m.Doc)
	}
	tw.Flush()
	fmt.Fprintln(stdout, "\nparameters (METHOD:name=value,...):")
	for _, m := range pruning.Methods() {
		if len(m.Params) == 0 {
			continue
		}
		var ps []string
		for _, p := range m.Params {
			d := p.Default
			if d == "" {
				d = "unset"
			}
			ps = append(ps, fmt.Sprintf("%s=%s (%s)", p.Name, d, p.Doc))
		}
		fmt.Fprintf(stdout, "  %s: %s\n", m.Name, strings.Join(ps, "; "))
	}
	return 0
}
