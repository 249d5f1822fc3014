package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// commandFlags returns every flag of every command that has a flag set,
// by running "COMMAND --help" with a hook on newFlagSet.
func commandFlags(t *testing.T) map[string][]*pflag.Flag {
	t.Helper()
	out := map[string][]*pflag.Flag{}
	var cur *pflag.FlagSet
	flagSetMade = func(fs *pflag.FlagSet) { cur = fs }
	defer func() { flagSetMade = nil }()
	for _, c := range commands() {
		cur = nil
		if code, _, stderr := runCLI(t, nil, c.name, "--help"); code != 0 {
			t.Fatalf("%s --help: exit %d: %s", c.name, code, stderr)
		}
		if cur == nil {
			continue // prune: no flags
		}
		cur.VisitAll(func(f *pflag.Flag) {
			if f.Name != "help" {
				out[c.name] = append(out[c.name], f)
			}
		})
	}
	return out
}

// invalidValues returns values a flag must refuse, by kind: negative, zero
// where zero is out of range, huge, the wrong type, and (nil) a missing
// value.
func invalidValues(f *pflag.Flag) map[string]*string {
	s := func(v string) *string { return &v }
	vals := map[string]*string{"missing value": nil}
	switch v := f.Value.(type) {
	case *rangeValue[int]:
		addInts(vals, int64(v.lo), int64(v.hi), s)
	case *rangeValue[int64]:
		addInts(vals, v.lo, v.hi, s)
	case *rangeValue[float64]:
		vals["wrong type"] = s("abc")
		vals["nan"] = s("NaN")
		vals["inf"] = s("+Inf")
		vals["huge"] = s(fmt.Sprint(v.hi*10 + 1))
		if v.lo >= 0 {
			vals["negative"] = s("-0.5")
		}
	case *durationValue:
		vals["wrong type"] = s("soon")
		vals["no unit"] = s("5")
		vals["negative"] = s("-1s")
		vals["huge"] = s((v.hi + time.Hour).String())
	case *choiceValue:
		vals["unknown"] = s("nosuch-value")
		vals["wrong type"] = s("-1")
	default:
		switch f.Value.Type() {
		case "bool":
			delete(vals, "missing value") // --flag alone means true
			vals["wrong type"] = s("maybe")
		case "uint64":
			vals["negative"] = s("-1")
			vals["wrong type"] = s("abc")
			vals["huge"] = s("18446744073709551616")
		case "int", "int64", "float64", "duration":
			return nil // numeric without a range: TestNumericFlagsDocumentRange reports it
		}
	}
	return vals
}

func addInts(vals map[string]*string, lo, hi int64, s func(string) *string) {
	vals["wrong type"] = s("abc")
	vals["fraction"] = s("1.5")
	vals["huge"] = s("99999999999999999999")
	vals["above range"] = s(fmt.Sprint(hi + 1))
	if lo >= 0 {
		vals["negative"] = s("-1")
	}
	if lo > 0 {
		vals["zero"] = s("0")
	}
}

// Every command, every flag at invalid values: exit status 2, one line on
// stderr that names the flag and says what is allowed, nothing on stdout,
// no panic or goroutine dump. (Issue 20, defects 1-4.)
func TestInvalidFlagValues(t *testing.T) {
	all := commandFlags(t)
	n := 0
	for cmd, flags := range all {
		for _, f := range flags {
			if f.Value.Type() == "string" && !isChecked(f) {
				continue // free text (paths, prompts): nothing is invalid at parse time
			}
			for kind, v := range invalidValues(f) {
				var args []string
				if v == nil {
					args = []string{cmd, "x.png", "--" + f.Name}
				} else {
					args = []string{cmd, "--" + f.Name + "=" + *v, "x.png"}
				}
				n++
				t.Run(cmd+"/"+f.Name+"/"+kind, func(t *testing.T) {
					checkUsageError(t, args, "--"+f.Name)
				})
			}
		}
	}
	// a few that are not one flag's value
	for _, c := range [][]string{
		{"caption", "--nosuchflag", "x.png"}, {"serve", "--nosuchflag"}, {"bench", "--nosuchflag", "x.png"},
		{"eval", "--nosuchflag"}, {"plot", "--nosuchflag"}, {"version", "--nosuchflag"},
		{"tokenize", "--nosuchflag"}, {"detokenize", "--nosuchflag"}, {"graph", "--nosuchflag"},
	} {
		t.Run(strings.Join(c, " "), func(t *testing.T) { checkUsageError(t, c, "--nosuchflag") })
	}
	if n < 150 {
		t.Errorf("only %d flag cases: the flag sets were not found", n)
	}
}

func isChecked(f *pflag.Flag) bool {
	_, ok := f.Value.(*choiceValue)
	return ok
}

func checkUsageError(t *testing.T, args []string, name string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, nil, args...)
	if code != 2 {
		t.Errorf("%q: exit %d, want 2; stderr %q", args, code, stderr)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("%q: want one line on stderr, got %q", args, stderr)
	}
	if !strings.HasPrefix(stderr, "vlmrun "+args[0]+": ") || !strings.Contains(stderr, name) {
		t.Errorf("%q: stderr %q does not start with the command or name %s", args, stderr, name)
	}
	if name != "--nosuchflag" && !strings.Contains(stderr, "allowed: ") {
		t.Errorf("%q: stderr %q does not say what is allowed", args, stderr)
	}
	if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
		t.Errorf("%q: stderr shows a panic: %q", args, stderr)
	}
	if stdout != "" {
		t.Errorf("%q: stdout %q, want nothing", args, stdout)
	}
}

// Every numeric flag documents its range in --help.
func TestNumericFlagsDocumentRange(t *testing.T) {
	for cmd, flags := range commandFlags(t) {
		for _, f := range flags {
			switch f.Value.Type() {
			case "int", "int64", "float", "float64", "duration", "uint64":
				if !strings.Contains(f.Usage, "allowed: ") {
					t.Errorf("%s --%s: help %q has no range", cmd, f.Name, f.Usage)
				}
			}
		}
	}
}

// Errors that are not one flag's value: one line, exit 2.
func TestUsageErrorsOneLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"caption"}, "no image given"},
		{[]string{"bench"}, "no image given"},
		{[]string{"caption", "--json", "--jsonl", "out.jsonl", "x.png"}, "--json and --jsonl"}, // defect 8
		{[]string{"caption", "--shard", "0/2", "x.png"}, "need --jsonl"},
		{[]string{"bench", "--json", "--csv", "x.png"}, "--json and --csv"},
		{[]string{"serve", "extra"}, "unexpected argument"},
		{[]string{"eval", "extra"}, "unexpected argument"},
		{[]string{"tokenize"}, "--tokenizer"},
		{[]string{"prune", "lst"}, "allowed: list"},
		{[]string{"caption", "--max-new-tokens", "0", "x.png"}, "--max-new-tokens"},
	} {
		code, _, stderr := runCLI(t, nil, c.args...)
		if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line with %q", c.args, code, stderr, c.want)
		}
	}
}
