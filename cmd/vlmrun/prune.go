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
	checkedFlag(fs, &p.method, "prune", "none", pruneAllowed(), checkMethods, "pruning method (see: vlmrun prune list)")
	checkedFlag(fs, &p.keep, "keep", "", keepAllowed, checkKeeps, "visual tokens to keep (default: the method's)")
}

// keepAllowed describes --keep's values.
const keepAllowed = "a ratio in (0, 1] (0.25), a percentage (25%) or a token count >= 1 (64); eval and bench take a comma-separated list"

// pruneAllowed describes --prune's values.
func pruneAllowed() string {
	var names []string
	for _, m := range pruning.Methods() {
		names = append(names, m.Name)
	}
	return "METHOD[:param=value,...] with METHOD one of " + strings.Join(names, ", ") + " (eval also: oracle; eval and bench take a comma-separated list); PRE+IN runs a pre-decoder method then an in-decoder one (dycoke+dycoke-kv), --keep applying to PRE"
}

// checkMethods checks every method of a --prune value (eval's oracle is
// not in the registry).
func checkMethods(s string) error {
	for _, m := range splitMethods([]string{s}, "oracle", "oracle-blind") {
		name, _, _ := strings.Cut(m, ":")
		if n := strings.ToLower(strings.TrimSpace(name)); n == "oracle" || n == "oracle-blind" {
			continue
		}
		if _, err := pruning.Parse(m); err != nil {
			return err
		}
	}
	return nil
}

// checkKeeps checks every budget of a --keep value.
func checkKeeps(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("empty budget")
	}
	for _, k := range splitKeeps(s) {
		if _, err := pruning.ParseBudget(k); err != nil {
			return err
		}
	}
	return nil
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
		if len(args) > 0 && args[0] != "--help" && args[0] != "-h" {
			fmt.Fprintf(stderr, "vlmrun prune: unknown argument %q; allowed: list (usage: vlmrun prune list)\n", args[0])
			return 2
		}
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
