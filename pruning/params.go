package pruning

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// args holds the parameter values of one Parse call (defaults filled in)
// and the first conversion error.
type args struct {
	method string
	vals   map[string]string
	given  map[string]bool // parameters written in the specification
	err    error
}

func (a *args) fail(name, want string) {
	if a.err == nil {
		a.err = fmt.Errorf("pruning: %s: %w %q for %s: want %s", a.method, ErrBadValue, a.vals[name], name, want)
	}
}

func (a *args) enum(name string, choices ...string) string {
	v := strings.ToLower(a.vals[name])
	for _, c := range choices {
		if v == c {
			return v
		}
	}
	a.fail(name, "one of "+strings.Join(choices, ", "))
	return choices[0]
}

func (a *args) intv(name string, lo, hi int) int {
	v, err := strconv.Atoi(a.vals[name])
	if err != nil || v < lo || v > hi {
		a.fail(name, fmt.Sprintf("an integer in [%d, %d]", lo, hi))
		return lo
	}
	return v
}

func (a *args) uint64v(name string) uint64 {
	v, err := strconv.ParseUint(a.vals[name], 10, 64)
	if err != nil {
		a.fail(name, "an unsigned integer")
	}
	return v
}

// float parses a number in the interval described by want and in.
func (a *args) float(name, want string, in func(float64) bool) float64 {
	v, err := strconv.ParseFloat(a.vals[name], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || !in(v) {
		a.fail(name, want)
		return 0
	}
	return v
}

func (a *args) boolean(name string) bool {
	switch strings.ToLower(a.vals[name]) {
	case "true", "1", "yes", "on":
		return true
	case "false", "0", "no", "off":
		return false
	}
	a.fail(name, "true or false")
	return false
}

// list splits a list value ("8/16/24"; Parse also accepts "8,16,24").
func (a *args) list(name string) []string {
	v := a.vals[name]
	if v == "" {
		return nil
	}
	return strings.Split(v, "/")
}

func (a *args) ints(name string, lo, hi int, ascending bool) []int {
	var out []int
	for _, s := range a.list(name) {
		v, err := strconv.Atoi(s)
		if err != nil || v < lo || v > hi || (ascending && len(out) > 0 && v <= out[len(out)-1]) {
			want := fmt.Sprintf("integers in [%d, %d] separated by /", lo, hi)
			if ascending {
				want = "strictly ascending " + want
			}
			a.fail(name, want)
			return nil
		}
		out = append(out, v)
	}
	return out
}

func (a *args) floats(name, want string, in func(float64) bool) []float64 {
	var out []float64
	for _, s := range a.list(name) {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || !in(v) {
			a.fail(name, want)
			return nil
		}
		out = append(out, v)
	}
	return out
}

// budget parses a budget value; "" is the zero (unset) budget.
func (a *args) budget(name string) Budget {
	if a.vals[name] == "" {
		return Budget{}
	}
	b, err := ParseBudget(a.vals[name])
	if err != nil {
		a.fail(name, "a ratio in (0, 1] or a count >= 1")
	}
	return b
}

// check records a cross-parameter error.
func (a *args) check(ok bool, format string, v ...any) {
	if !ok && a.err == nil {
		a.err = fmt.Errorf("pruning: %s: %s: %w", a.method, fmt.Sprintf(format, v...), ErrBadValue)
	}
}

// splitSpec splits "name:k=v,k=v" into the lower-cased name and the
// ordered parameters. A segment without "=" continues the previous value
// as a list item ("layers=8,16,24" reads as "layers=8/16/24").
func splitSpec(spec string) (string, [][2]string, error) {
	spec = strings.TrimSpace(spec)
	name, rest, _ := strings.Cut(spec, ":")
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		return "", nil, fmt.Errorf("pruning: empty method name in %q: %w", spec, ErrUnknownMethod)
	}
	var kv [][2]string
	if strings.TrimSpace(rest) == "" {
		return name, nil, nil
	}
	for _, seg := range strings.Split(rest, ",") {
		seg = strings.TrimSpace(seg)
		k, v, ok := strings.Cut(seg, "=")
		if !ok {
			if len(kv) == 0 || seg == "" {
				return "", nil, fmt.Errorf("pruning: %s: bad parameter %q: want name=value: %w", name, seg, ErrBadValue)
			}
			kv[len(kv)-1][1] += "/" + seg
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "" {
			return "", nil, fmt.Errorf("pruning: %s: bad parameter %q: want name=value: %w", name, seg, ErrBadValue)
		}
		kv = append(kv, [2]string{k, strings.TrimSpace(v)})
	}
	return name, kv, nil
}
