package main

// The flag-validation layer every command shares. A usage error (an unknown
// flag, a flag without its value, a value of the wrong type or out of its
// range, flags that exclude each other, a missing argument) prints ONE line
// on stderr, "vlmrun COMMAND: ...", naming the flag and the allowed values,
// and exits 2. Runtime errors (a model that does not load, an unreadable
// image, an output file that cannot be written) exit 1.
//
// Numeric and enumerated flags are registered through intFlag, floatFlag,
// durationFlag and choiceFlag below: the value is checked when pflag parses
// it (so the error names the flag), and the allowed range is appended to
// the flag's help text, so every range is documented in --help.

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// usageError is an error in how the command was invoked: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef returns a usage error.
func usagef(format string, a ...any) error {
	return &usageError{fmt.Sprintf(format, a...)}
}

// asUsage marks err as a usage error (nil stays nil).
func asUsage(err error) error {
	if err == nil {
		return nil
	}
	var u *usageError
	if errors.As(err, &u) {
		return err
	}
	return &usageError{err.Error()}
}

// exitCode prints err as one "vlmrun CMD: ..." line (its first line: any
// further lines of a runtime error, such as the paths tried, follow) and
// returns 2 for a usage error, 1 otherwise.
func exitCode(stderr io.Writer, cmd string, err error) int {
	if err == nil {
		return 0
	}
	var u *usageError
	if errors.As(err, &u) {
		fmt.Fprintf(stderr, "vlmrun %s: %s\n", cmd, oneLine(err.Error()))
		return 2
	}
	fmt.Fprintf(stderr, "vlmrun %s: %v\n", cmd, err)
	return 1
}

// oneLine joins a message's lines so a usage error stays one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// flagSetMade, when set (by tests), sees every command's flag set as it is
// made, so a test can list every flag of every command.
var flagSetMade func(*pflag.FlagSet)

// newFlagSet returns a command's flag set: errors are returned (not
// printed by pflag), --help prints usage to stderr.
func newFlagSet(cmd string, stderr io.Writer, usage func(fs *pflag.FlagSet)) *pflag.FlagSet {
	fs := pflag.NewFlagSet(cmd, pflag.ContinueOnError)
	if flagSetMade != nil {
		flagSetMade(fs)
	}
	fs.SetOutput(stderr)
	fs.Usage = func() {
		if usage != nil {
			usage(fs)
		}
		fs.PrintDefaults()
	}
	return fs
}

// parseCommand parses args. done reports that the command must return code
// now: 0 after --help, 2 after a usage error, printed as one line naming
// the flag and its allowed values.
func parseCommand(fs *pflag.FlagSet, args []string) (code int, done bool) {
	err := fs.Parse(args)
	if err == nil {
		return 0, false
	}
	if errors.Is(err, pflag.ErrHelp) {
		return 0, true
	}
	fmt.Fprintf(fs.Output(), "vlmrun %s: %s\n", fs.Name(), flagErrorLine(fs, err))
	return 2, true
}

// flagErrorLine rewrites a pflag parse error as one line that names the
// flag and what it accepts.
func flagErrorLine(fs *pflag.FlagSet, err error) string {
	help := fmt.Sprintf("run \"vlmrun %s --help\" for the flags", fs.Name())
	var ne *pflag.NotExistError
	var vr *pflag.ValueRequiredError
	var iv *pflag.InvalidValueError
	var is *pflag.InvalidSyntaxError
	switch {
	case errors.As(err, &ne):
		name := "--" + ne.GetSpecifiedName()
		if ne.GetSpecifiedShortnames() != "" {
			name = "-" + ne.GetSpecifiedName()[:1]
		}
		return fmt.Sprintf("unknown flag %s (%s)", name, help)
	case errors.As(err, &vr):
		f := vr.GetFlag()
		return fmt.Sprintf("flag --%s needs a value; allowed: %s", f.Name, allowedValues(f))
	case errors.As(err, &iv):
		f := iv.GetFlag()
		cause := ""
		if c := errors.Unwrap(iv); c != nil {
			cause = " (" + oneLine(c.Error()) + ")"
		}
		return fmt.Sprintf("invalid value %q for --%s%s; allowed: %s", iv.GetValue(), f.Name, cause, allowedValues(f))
	case errors.As(err, &is):
		return fmt.Sprintf("bad flag syntax %s (%s)", is.GetSpecifiedFlag(), help)
	}
	return oneLine(err.Error()) + " (" + help + ")"
}

// allowed is implemented by the checked flag values.
type allowed interface{ allowed() string }

// allowedValues describes what a flag accepts.
func allowedValues(f *pflag.Flag) string {
	if a, ok := f.Value.(allowed); ok {
		return a.allowed()
	}
	switch f.Name { // bench's list-valued flags
	case "prune":
		return pruneAllowed()
	case "keep":
		return keepAllowed
	}
	switch f.Value.Type() {
	case "bool":
		return "true or false (--" + f.Name + " alone means true)"
	case "int", "int64":
		return "an integer"
	case "uint64":
		return "an integer from 0 to " + strconv.FormatUint(math.MaxUint64, 10)
	case "float64":
		return "a number"
	case "duration":
		return "a duration such as 30s or 2m"
	case "stringArray", "stringSlice":
		return "a string (the flag may repeat)"
	}
	return "a string"
}

// number is the numeric flag types.
type number interface{ ~int | ~int64 | ~float64 }

// rangeValue is a numeric pflag.Value that refuses values outside [lo, hi].
type rangeValue[T number] struct {
	p      *T
	lo, hi T
	note   string // extra words for the allowed values, e.g. "0 = all cores"
}

func (v *rangeValue[T]) String() string { return fmtNum(*v.p) }

func (v *rangeValue[T]) Type() string {
	switch any(*v.p).(type) {
	case float64:
		return "float"
	case int64:
		return "int64"
	}
	return "int"
}

func (v *rangeValue[T]) allowed() string {
	s := fmtNum(v.lo) + ".." + fmtNum(v.hi)
	if _, ok := any(*v.p).(float64); !ok {
		s = "an integer in " + s
	} else {
		s = "a number in " + s
	}
	if v.note != "" {
		s += " (" + v.note + ")"
	}
	return s
}

func (v *rangeValue[T]) Set(s string) error {
	var x T
	switch any(x).(type) {
	case float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return errors.New("not a number")
		}
		x = T(f)
	default:
		i, err := strconv.ParseInt(strings.TrimSpace(s), 0, 64)
		if err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
				return errors.New("out of range")
			}
			return errors.New("not an integer")
		}
		if int64(T(i)) != i {
			return errors.New("out of range")
		}
		x = T(i)
	}
	if x < v.lo || x > v.hi {
		return errors.New("out of range")
	}
	*v.p = x
	return nil
}

func fmtNum[T number](x T) string {
	switch v := any(x).(type) {
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case int64:
		return groupDigits(strconv.FormatInt(v, 10))
	case int:
		return groupDigits(strconv.Itoa(v))
	}
	return fmt.Sprint(x)
}

// groupDigits writes large integers with thousands separators (1_000_000 is
// hard to read in help text otherwise); small ones stay as they are.
func groupDigits(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if len(s) <= 5 {
		if neg {
			return "-" + s
		}
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// numFlag registers a numeric flag allowed in [lo, hi]; the range (and
// note) is appended to the help text.
func numFlag[T number](fs *pflag.FlagSet, p *T, name, short string, def, lo, hi T, note, usage string) {
	*p = def
	v := &rangeValue[T]{p: p, lo: lo, hi: hi, note: note}
	fs.VarP(v, name, short, usage+"; allowed: "+v.allowed())
}

// intFlag registers an int flag allowed in [lo, hi].
func intFlag(fs *pflag.FlagSet, p *int, name string, def, lo, hi int, note, usage string) {
	numFlag(fs, p, name, "", def, lo, hi, note, usage)
}

// int64Flag registers an int64 flag allowed in [lo, hi].
func int64Flag(fs *pflag.FlagSet, p *int64, name string, def, lo, hi int64, note, usage string) {
	numFlag(fs, p, name, "", def, lo, hi, note, usage)
}

// floatFlag registers a float64 flag allowed in [lo, hi] (NaN and ±Inf
// are refused).
func floatFlag(fs *pflag.FlagSet, p *float64, name string, def, lo, hi float64, note, usage string) {
	numFlag(fs, p, name, "", def, lo, hi, note, usage)
}

// durationValue is a time.Duration flag allowed in [lo, hi].
type durationValue struct {
	p      *time.Duration
	lo, hi time.Duration
	note   string
}

func (v *durationValue) String() string { return v.p.String() }
func (v *durationValue) Type() string   { return "duration" }
func (v *durationValue) allowed() string {
	s := fmt.Sprintf("a duration from %s to %s, e.g. 30s or 2m", v.lo, v.hi)
	if v.note != "" {
		s += " (" + v.note + ")"
	}
	return s
}
func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return errors.New("not a duration")
	}
	if d < v.lo || d > v.hi {
		return errors.New("out of range")
	}
	*v.p = d
	return nil
}

// durationFlag registers a duration flag allowed in [lo, hi].
func durationFlag(fs *pflag.FlagSet, p *time.Duration, name string, def, lo, hi time.Duration, note, usage string) {
	*p = def
	v := &durationValue{p: p, lo: lo, hi: hi, note: note}
	fs.Var(v, name, usage+"; allowed: "+v.allowed())
}

// choiceValue is a string flag checked when parsed: against a list of
// choices, or by a function (for values with a grammar, such as --dtype).
type choiceValue struct {
	p     *string
	desc  string // the allowed values, in words
	check func(string) error
}

func (v *choiceValue) String() string  { return *v.p }
func (v *choiceValue) Type() string    { return "string" }
func (v *choiceValue) allowed() string { return v.desc }
func (v *choiceValue) Set(s string) error {
	if err := v.check(s); err != nil {
		return err
	}
	*v.p = s
	return nil
}

// choiceFlag registers a string flag whose value must be one of choices.
func choiceFlag(fs *pflag.FlagSet, p *string, name, def string, choices []string, usage string) {
	desc := strings.Join(choices, ", ")
	checkedFlag(fs, p, name, def, desc, func(s string) error {
		for _, c := range choices {
			if s == c {
				return nil
			}
		}
		return errors.New("not one of " + desc)
	}, usage)
}

// checkedFlag registers a string flag whose value check accepts; desc says
// what is allowed (it is appended to the help text).
func checkedFlag(fs *pflag.FlagSet, p *string, name, def, desc string, check func(string) error, usage string) {
	*p = def
	fs.Var(&choiceValue{p: p, desc: desc, check: check}, name, usage+"; allowed: "+desc)
}
