package pruning

import (
	"fmt"
	"strings"
	"unicode"
)

// A combination runs a pre-decoder method and then an in-decoder method in
// one request: "PRE+IN", e.g. "dycoke+dycoke-kv" (DyCoke's token merging
// before the decoder, then its decode-time KV selection) or
// "holitom:keep=0.5+holitom-inner:k=2". The pre-decoder method selects
// from the vision tokens under the request's budget (--keep); the
// in-decoder method runs on the tokens it kept, with its own parameters
// only (the budget is the first stage's). "+" and not "," joins the stages
// because commas already separate parameters ("fastv:k=2,r=0.5") and the
// methods of a sweep (bench and eval's --prune a,b,c).

// splitStages splits a combination at its "+": the first "+" followed (after
// any spaces) by a letter, a method name ("1e+3" in a value is not a
// split). ok is false for a single method.
func splitStages(spec string) (pre, in string, ok bool) {
	for i := 0; i < len(spec); i++ {
		if spec[i] != '+' {
			continue
		}
		rest := strings.TrimLeft(spec[i+1:], " ")
		if rest != "" && unicode.IsLetter(rune(rest[0])) {
			return spec[:i], rest, true
		}
	}
	return spec, "", false
}

// parseCombined parses "PRE+IN": PRE a pre-decoder method other than
// none, IN an in-decoder method, nothing more.
func parseCombined(preSpec, inSpec string) (Method, error) {
	if _, _, more := splitStages(inSpec); more {
		return Method{}, fmt.Errorf("pruning: %q: at most two stages, a pre-decoder method + an in-decoder method: %w",
			preSpec+"+"+inSpec, ErrBadValue)
	}
	pre, err := Parse(preSpec)
	if err != nil {
		return Method{}, err
	}
	in, err := Parse(inSpec)
	if err != nil {
		return Method{}, err
	}
	switch {
	case pre.Pre == nil:
		return Method{}, fmt.Errorf("pruning: %s+%s: the first stage must be a pre-decoder method (%s runs inside the decoder): %w",
			pre.Info.Name, in.Info.Name, pre.Info.Name, ErrBadValue)
	case in.In == nil:
		return Method{}, fmt.Errorf("pruning: %s+%s: the second stage must be an in-decoder method (%s runs before the decoder): %w",
			pre.Info.Name, in.Info.Name, in.Info.Name, ErrBadValue)
	case pre.Info.Name == "none":
		return Method{}, fmt.Errorf("pruning: none+%s: give %s alone: %w", in.Info.Name, in.Info.Name, ErrBadValue)
	}
	m := Method{Info: pre.Info, Pre: pre.Pre, In: in.In, stages: []Method{pre, in}}
	m.Info.Name = pre.Info.Name + "+" + in.Info.Name
	m.Info.Needs = pre.Info.Needs | in.Info.Needs
	m.Info.Doc = pre.Info.Name + " before the decoder, then " + in.Info.Name + " inside it"
	m.Info.Params = nil // each stage keeps its own (Stages)
	return m, nil
}

// Stages returns a combination's two methods (pre-decoder, in-decoder), or
// the method alone.
func (m Method) Stages() []Method {
	if len(m.stages) == 2 {
		return m.stages
	}
	return []Method{m}
}
