package chattemplate

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"
)

// Template is a parsed chat template.
type Template struct {
	src  string
	prog *program
}

// Parse tokenizes and parses a template as @huggingface/jinja's Template
// constructor does (trim_blocks and lstrip_blocks on, one trailing newline
// dropped, {% generation %} tags removed).
func Parse(src string) (*Template, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	prog, err := parse(toks)
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	return &Template{src: src, prog: prog}, nil
}

// Source is the template text.
func (t *Template) Source() string { return t.src }

// Object is a mapping whose keys keep their order (JavaScript objects and
// Python dicts keep insertion order; it shows in tojson and in loops over a
// mapping). A Go map[string]any is taken in sorted key order instead.
type Object []Field

// Field is one key of an Object.
type Field struct {
	Key   string
	Value any
}

// Vars are the variables of one rendering, in order.
type Vars = Object

// Render renders the template with the variables, converted as
// @huggingface/jinja converts JavaScript values: nil → none, bool, numbers
// (integral ones are integers), string, []any (and other slices of these),
// Object, map[string]any, json.RawMessage (decoded keeping key order). now
// (nil: time.Now) is the clock of strftime_now.
func (t *Template) Render(vars Vars, now func() time.Time) (out string, err error) {
	e := newEnv(nil)
	if now == nil {
		now = time.Now
	}
	e.now = now
	setupGlobals(e)
	defer func() {
		if r := recover(); r != nil {
			switch x := r.(type) {
			case *RaiseError:
				err = x
			case *runtimeError:
				err = fmt.Errorf("chat template: %w", x)
			case *syntaxError:
				err = fmt.Errorf("chat template: %w", x)
			case breakCtl, continueCtl:
				err = fmt.Errorf("chat template: break or continue outside a loop")
			default:
				// A JavaScript TypeError in the reference (e.g. a test
				// called without its argument) or a bug here: an error,
				// never a crash of the caller.
				err = fmt.Errorf("chat template: %v", r)
			}
		}
	}()
	for _, f := range vars {
		if _, ok := e.vars[f.Key]; ok {
			return "", fmt.Errorf("chat template: SyntaxError: Variable already declared: %s", f.Key)
		}
		v, err := convert(f.Value)
		if err != nil {
			return "", err
		}
		e.setVar(f.Key, v)
	}
	return string(eval(t.prog, e).(strV)), nil
}

// convert is convertToRuntimeValues.
func convert(x any) (value, error) {
	switch v := x.(type) {
	case nil:
		return null, nil
	case bool:
		return boolV(v), nil
	case string:
		return strV(v), nil
	case int:
		return intV(v), nil
	case int64:
		return intV(v), nil
	case float64:
		if v == math.Trunc(v) && !math.IsInf(v, 0) {
			return intV(v), nil
		}
		return floatV(v), nil
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return nil, err
		}
		return convert(f)
	case []any:
		a := &arrV{}
		for _, it := range v {
			c, err := convert(it)
			if err != nil {
				return nil, err
			}
			a.items = append(a.items, c)
		}
		return a, nil
	case []string:
		a := &arrV{}
		for _, it := range v {
			a.items = append(a.items, strV(it))
		}
		return a, nil
	case []Object:
		a := &arrV{}
		for _, it := range v {
			c, err := convert(it)
			if err != nil {
				return nil, err
			}
			a.items = append(a.items, c)
		}
		return a, nil
	case Object:
		o := newObj(kObject)
		for _, f := range v {
			c, err := convert(f.Value)
			if err != nil {
				return nil, err
			}
			o.set(f.Key, c)
		}
		return o, nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		o := newObj(kObject)
		for _, k := range keys {
			c, err := convert(v[k])
			if err != nil {
				return nil, err
			}
			o.set(k, c)
		}
		return o, nil
	case json.RawMessage:
		d, err := DecodeJSON(v)
		if err != nil {
			return nil, err
		}
		return convert(d)
	}
	return nil, fmt.Errorf("chat template: cannot convert %T to a template value", x)
}
