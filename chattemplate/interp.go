package chattemplate

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// runtimeError is an error raised while rendering (a JavaScript Error
// thrown by @huggingface/jinja's interpreter).
type runtimeError struct{ msg string }

func (e *runtimeError) Error() string { return e.msg }

func rtErr(format string, a ...any) *runtimeError { return &runtimeError{fmt.Sprintf(format, a...)} }

// RaiseError is the error of the template's raise_exception(message).
type RaiseError struct{ Message string }

func (e *RaiseError) Error() string { return "chat template: raise_exception: " + e.Message }

type breakCtl struct{}
type continueCtl struct{}

type env struct {
	vars   map[string]value
	parent *env
	now    func() time.Time
}

func newEnv(parent *env) *env {
	e := &env{vars: map[string]value{}, parent: parent}
	if parent != nil {
		e.now = parent.now
	}
	return e
}

func (e *env) setVar(name string, v value) { e.vars[name] = v }

func (e *env) lookup(name string) value {
	for s := e; s != nil; s = s.parent {
		if v, ok := s.vars[name]; ok {
			return v
		}
	}
	if name == "namespace" {
		return namespaceFn
	}
	return undef
}

var namespaceFn = &funcV{fn: func(args []value, _ *env) value {
	pos := append([]value(nil), args...)
	var kw *objV
	if len(pos) > 0 {
		if o, ok := pos[len(pos)-1].(*objV); ok && o.kind == kKwargs {
			kw = o
			pos = pos[:len(pos)-1]
		}
	}
	if len(pos) > 1 {
		panic(rtErr("namespace expected at most 1 argument, got %d", len(pos)))
	}
	ns := newObj(kNamespace)
	if len(pos) == 1 {
		switch src := pos[0].(type) {
		case *objV:
			if src.kind == kNamespace {
				panic(rtErr("'%s' object is not iterable", typeName(src)))
			}
			for _, k := range src.keys {
				ns.set(k, src.m[k])
			}
		case *arrV:
			for _, pair := range src.items {
				var vals []value
				switch p := pair.(type) {
				case *arrV:
					vals = p.items
				case strV:
					for _, r := range string(p) {
						vals = append(vals, strV(string(r)))
					}
				}
				if len(vals) != 2 {
					panic(rtErr("namespace expected an object or an iterable of [key, value] pairs"))
				}
				k, ok := vals[0].(strV)
				if !ok {
					panic(rtErr("namespace keys must be strings"))
				}
				ns.set(string(k), vals[1])
			}
		default:
			panic(rtErr("'%s' object is not iterable", typeName(src)))
		}
	}
	if kw != nil {
		for _, k := range kw.keys {
			ns.set(k, kw.m[k])
		}
	}
	return ns
}}

// maxRange caps range(): the reference has no limit (a huge range exhausts
// memory there); no chat template comes near it.
const maxRange = 1 << 20

func setupGlobals(e *env) {
	e.setVar("false", boolV(false))
	e.setVar("true", boolV(true))
	e.setVar("none", null)
	e.setVar("True", boolV(true))
	e.setVar("False", boolV(false))
	e.setVar("None", null)
	e.setVar("raise_exception", &funcV{fn: func(args []value, _ *env) value {
		msg := "undefined"
		if len(args) > 0 {
			msg = jsRawValueString(args[0])
		}
		panic(&RaiseError{Message: msg})
	}})
	e.setVar("range", &funcV{fn: func(args []value, _ *env) value {
		num := func(i int) (float64, bool) {
			if i >= len(args) {
				return 0, false
			}
			f, ok := isNumericLike(args[i])
			if !ok {
				panic(rtErr("range() arguments must be numbers"))
			}
			return f, true
		}
		start, _ := num(0)
		stop, hasStop := num(1)
		step, hasStep := num(2)
		if !hasStop {
			stop, start = start, 0
		}
		if !hasStep {
			step = 1
		}
		if step == 0 {
			panic(rtErr("range() step must not be zero"))
		}
		if n := (stop - start) / step; n > maxRange {
			panic(rtErr("range() of %v items: more than %d", math.Ceil(n), maxRange))
		}
		out := &arrV{}
		for i := start; (step > 0 && i < stop) || (step < 0 && i > stop); i += step {
			out.items = append(out.items, numberValue(i))
		}
		return out
	}})
	e.setVar("strftime_now", &funcV{fn: func(args []value, env *env) value {
		f := "undefined"
		if len(args) > 0 {
			f = jsRawValueString(args[0])
		}
		return strV(strftime(env.now(), f))
	}})
}

// jsRawValueString is String(x.value) for an argument handed to a
// JavaScript global function.
func jsRawValueString(v value) string { return rawString(v) }

func numberValue(f float64) value {
	if f == math.Trunc(f) && !math.IsInf(f, 0) {
		return intV(f)
	}
	return floatV(f)
}

var months = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

// strftime is utils.ts strftime (English month names: transformers.js
// formats them with the default locale).
func strftime(t time.Time, format string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 >= len(format) {
			b.WriteByte(format[i])
			continue
		}
		switch format[i+1] {
		case 'Y':
			b.WriteString(strconv.Itoa(t.Year()))
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'b':
			b.WriteString(months[t.Month()-1][:3])
		case 'B':
			b.WriteString(months[t.Month()-1])
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			continue
		}
		i++
	}
	return b.String()
}

// ---- equality ----

// jsToNumber is ToNumber of a JavaScript string.
func jsToNumber(s string) float64 {
	t := jsTrim(s)
	if t == "" {
		return 0
	}
	if len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X' || t[1] == 'o' || t[1] == 'O' || t[1] == 'b' || t[1] == 'B') {
		base := map[byte]int{'x': 16, 'X': 16, 'o': 8, 'O': 8, 'b': 2, 'B': 2}[t[1]]
		if n, err := strconv.ParseUint(t[2:], base, 64); err == nil {
			return float64(n)
		}
		return math.NaN()
	}
	switch t {
	case "Infinity", "+Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	if strings.ContainsAny(t, "_xXpPinfINF") {
		return math.NaN()
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

// looseEq is JavaScript's == on the values' raw values.
func looseEq(a, b value) bool {
	prim := func(v value) value { // ToPrimitive for objects
		switch v.(type) {
		case *arrV, *objV, *funcV:
			return strV(rawString(v))
		}
		return v
	}
	for {
		switch x := a.(type) {
		case undefV, nullV:
			switch b.(type) {
			case undefV, nullV:
				return true
			}
			return false
		case intV, floatV:
			fa, _ := isNumber(x)
			switch y := b.(type) {
			case intV, floatV:
				fb, _ := isNumber(y)
				return fa == fb
			case strV:
				return fa == jsToNumber(string(y))
			case boolV:
				b, _ = isNumericLike(y)
				b = floatV(b.(float64))
				continue
			case *arrV, *objV, *funcV:
				b = prim(y)
				continue
			}
			return false
		case strV:
			switch y := b.(type) {
			case strV:
				return x == y
			case intV, floatV:
				fb, _ := isNumber(y)
				return jsToNumber(string(x)) == fb
			case boolV:
				f, _ := isNumericLike(y)
				return jsToNumber(string(x)) == f
			case *arrV, *objV, *funcV:
				b = prim(y)
				continue
			}
			return false
		case boolV:
			switch y := b.(type) {
			case boolV:
				return x == y
			case undefV, nullV:
				return false
			}
			f, _ := isNumericLike(x)
			a = floatV(f)
			continue
		case *arrV, *objV, *funcV:
			switch b.(type) {
			case *arrV, *objV, *funcV:
				return sameRef(a, b)
			case undefV, nullV:
				return false
			}
			a = prim(x)
			continue
		}
		return false
	}
}

func sameRef(a, b value) bool {
	switch x := a.(type) {
	case *arrV:
		y, ok := b.(*arrV)
		return ok && x == y
	case *objV:
		y, ok := b.(*objV)
		return ok && x == y
	case *funcV:
		y, ok := b.(*funcV)
		return ok && x == y
	}
	return false
}

// strictEq is JavaScript's === on raw values.
func strictEq(a, b value) bool {
	switch x := a.(type) {
	case undefV:
		_, ok := b.(undefV)
		return ok
	case nullV:
		_, ok := b.(nullV)
		return ok
	case intV, floatV:
		fa, _ := isNumber(x)
		fb, ok := isNumber(b)
		return ok && fa == fb
	case strV:
		y, ok := b.(strV)
		return ok && x == y
	case boolV:
		y, ok := b.(boolV)
		return ok && x == y
	}
	return sameRef(a, b)
}

// ---- tests ----

var tests = map[string]func(v ...value) bool{
	"boolean":  func(v ...value) bool { _, ok := v[0].(boolV); return ok },
	"callable": func(v ...value) bool { _, ok := v[0].(*funcV); return ok },
	"odd": func(v ...value) bool {
		i, ok := v[0].(intV)
		if !ok {
			panic(rtErr("cannot odd on %s", typeName(v[0])))
		}
		return math.Mod(float64(i), 2) != 0
	},
	"even": func(v ...value) bool {
		i, ok := v[0].(intV)
		if !ok {
			panic(rtErr("cannot even on %s", typeName(v[0])))
		}
		return math.Mod(float64(i), 2) == 0
	},
	"false":   func(v ...value) bool { b, ok := v[0].(boolV); return ok && !bool(b) },
	"true":    func(v ...value) bool { b, ok := v[0].(boolV); return ok && bool(b) },
	"none":    func(v ...value) bool { _, ok := v[0].(nullV); return ok },
	"string":  func(v ...value) bool { _, ok := v[0].(strV); return ok },
	"number":  func(v ...value) bool { _, ok := isNumber(v[0]); return ok },
	"integer": func(v ...value) bool { _, ok := v[0].(intV); return ok },
	"iterable": func(v ...value) bool {
		if a, ok := v[0].(*arrV); ok {
			return !a.tuple
		}
		_, ok := v[0].(strV)
		return ok
	},
	"mapping": func(v ...value) bool { _, ok := isObject(v[0]); return ok },
	"sequence": func(v ...value) bool {
		switch v[0].(type) {
		case *arrV, strV:
			return true
		}
		_, ok := isObject(v[0])
		return ok
	},
	"lower":     func(v ...value) bool { s, ok := v[0].(strV); return ok && string(s) == jsLower(string(s)) },
	"upper":     func(v ...value) bool { s, ok := v[0].(strV); return ok && string(s) == jsUpper(string(s)) },
	"defined":   func(v ...value) bool { _, ok := v[0].(undefV); return !ok },
	"undefined": func(v ...value) bool { _, ok := v[0].(undefV); return ok },
	"equalto":   func(v ...value) bool { return eqTest(v) },
	"eq":        func(v ...value) bool { return eqTest(v) },
}

func eqTest(v []value) bool {
	if len(v) < 2 || v[1] == nil {
		panic(rtErr("Cannot read properties of undefined (reading 'value')"))
	}
	return strictEq(v[0], v[1])
}

// ---- interpreter ----

func evalBlock(stmts []node, e *env) strV {
	var b strings.Builder
	for _, s := range stmts {
		v := eval(s, e)
		switch v.(type) {
		case nullV, undefV:
			continue
		}
		b.WriteString(toString(v))
	}
	return strV(b.String())
}

func eval(n node, e *env) value {
	switch s := n.(type) {
	case nil:
		return undef
	case *program:
		return evalBlock(s.body, e)
	case *setNode:
		return evalSet(s, e)
	case *ifNode:
		if truthy(eval(s.test, e)) {
			return evalBlock(s.body, e)
		}
		return evalBlock(s.alternate, e)
	case *forNode:
		return evalFor(s, e)
	case *macroNode:
		return evalMacro(s, e)
	case *callStmt:
		return evalCallStmt(s, e)
	case *breakNode:
		panic(breakCtl{})
	case *contNode:
		panic(continueCtl{})
	case *intLit:
		return intV(s.value)
	case *floatLit:
		return floatV(s.value)
	case *strLit:
		return strV(s.value)
	case *arrayLit:
		a := &arrV{}
		for _, x := range s.value {
			a.items = append(a.items, eval(x, e))
		}
		return a
	case *tupleLit:
		a := &arrV{tuple: true}
		for _, x := range s.value {
			a.items = append(a.items, eval(x, e))
		}
		return a
	case *objectLit:
		o := newObj(kObject)
		for i, k := range s.keys {
			kv, ok := eval(k, e).(strV)
			if !ok {
				panic(rtErr("Object keys must be strings: got %s", typeName(eval(k, e))))
			}
			o.set(string(kv), eval(s.values[i], e))
		}
		return o
	case *identNode:
		return e.lookup(s.value)
	case *callExpr:
		args, kw := evalArgs(s.args, e)
		if len(kw.keys) > 0 {
			args = append(args, kw)
		}
		fn, ok := eval(s.callee, e).(*funcV)
		if !ok {
			panic(rtErr("Cannot call something that is not a function: got %s", typeName(eval(s.callee, e))))
		}
		return fn.fn(args, e)
	case *memberExpr:
		return evalMember(s, e)
	case *unaryExpr:
		return evalUnary(s, e)
	case *binaryExpr:
		return evalBinary(s, e)
	case *filterExpr:
		return applyFilter(eval(s.operand, e), s.filter, e)
	case *filterStmt:
		return applyFilter(evalBlock(s.body, e), s.filter, e)
	case *testExpr:
		operand := eval(s.operand, e)
		t, ok := tests[s.test.value]
		if !ok {
			panic(rtErr("Unknown test: %s", s.test.value))
		}
		r := t(operand)
		return boolV(r != s.negate)
	case *selectExpr:
		if !truthy(eval(s.test, e)) {
			return undef
		}
		return eval(s.lhs, e)
	case *ternaryExpr:
		if truthy(eval(s.condition, e)) {
			return eval(s.trueExpr, e)
		}
		return eval(s.falseExpr, e)
	case *commentNode:
		return null
	}
	panic(&syntaxError{"Unknown node type: " + nodeType(n)})
}

func evalUnary(s *unaryExpr, e *env) value {
	arg := eval(s.argument, e)
	switch s.op {
	case "not":
		return boolV(!truthy(arg))
	case "+", "-":
		sign := 1.0
		if s.op == "-" {
			sign = -1
		}
		f, ok := isNumericLike(arg)
		if !ok {
			panic(&syntaxError{fmt.Sprintf("Unknown operator %q for %s", s.op, typeName(arg))})
		}
		if _, isF := arg.(floatV); isF {
			return floatV(sign * f)
		}
		return intV(sign * f)
	}
	panic(&syntaxError{"Unknown operator: " + s.op})
}

func evalBinary(s *binaryExpr, e *env) value {
	left := eval(s.left, e)
	switch s.op {
	case "and":
		if truthy(left) {
			return eval(s.right, e)
		}
		return left
	case "or":
		if truthy(left) {
			return left
		}
		return eval(s.right, e)
	}
	right := eval(s.right, e)
	switch s.op {
	case "==":
		return boolV(looseEq(left, right))
	case "!=":
		return boolV(!looseEq(left, right))
	}
	_, lu := left.(undefV)
	_, ru := right.(undefV)
	_, ln := left.(nullV)
	_, rn := right.(nullV)
	if lu || ru {
		if ru && (s.op == "in" || s.op == "not in") {
			return boolV(s.op == "not in")
		}
		panic(rtErr("Cannot perform operation %s on undefined values", s.op))
	} else if ln || rn {
		panic(rtErr("Cannot perform operation on null values"))
	} else if s.op == "~" {
		return strV(rawString(left) + rawString(right))
	}
	if s.op == "**" {
		a, okA := isNumericLike(left)
		b, okB := isNumericLike(right)
		if okA && okB {
			if a == 0 && b < 0 {
				panic(rtErr("0.0 cannot be raised to a negative power"))
			}
			r := math.Pow(a, b)
			if math.IsNaN(r) || math.IsInf(r, 0) {
				panic(rtErr("Exponentiation result is not a finite real number"))
			}
			_, lf := left.(floatV)
			_, rf := right.(floatV)
			if lf || rf || b < 0 {
				return floatV(r)
			}
			return intV(r)
		}
	}
	a, okA := isNumber(left)
	b, okB := isNumber(right)
	if okA && okB {
		_, lf := left.(floatV)
		_, rf := right.(floatV)
		isF := lf || rf
		num := func(r float64) value {
			if isF {
				return floatV(r)
			}
			return intV(r)
		}
		switch s.op {
		case "+":
			return num(a + b)
		case "-":
			return num(a - b)
		case "*":
			return num(a * b)
		case "/":
			return floatV(a / b)
		case "//":
			return num(math.Floor(a / b))
		case "%":
			return num(math.Mod(a, b))
		case "<":
			return boolV(a < b)
		case ">":
			return boolV(a > b)
		case ">=":
			return boolV(a >= b)
		case "<=":
			return boolV(a <= b)
		}
	} else if la, ok := left.(*arrV); ok {
		if ra, ok := right.(*arrV); ok {
			if s.op == "+" {
				return &arrV{items: append(append([]value(nil), la.items...), ra.items...)}
			}
			goto strOps
		}
	}
	if ra, ok := right.(*arrV); ok {
		if _, lArr := left.(*arrV); !lArr {
			member := false
			for _, x := range ra.items {
				if strictEq(x, left) {
					member = true
					break
				}
			}
			switch s.op {
			case "in":
				return boolV(member)
			case "not in":
				return boolV(!member)
			}
		}
	}
strOps:
	ls, lIsStr := left.(strV)
	rs, rIsStr := right.(strV)
	if (lIsStr || rIsStr) && s.op == "+" {
		return strV(rawString(left) + rawString(right))
	}
	if lIsStr && rIsStr {
		switch s.op {
		case "in":
			return boolV(strings.Contains(string(rs), string(ls)))
		case "not in":
			return boolV(!strings.Contains(string(rs), string(ls)))
		}
	}
	if ro, ok := isObject(right); ok && lIsStr {
		_, has := ro.get(string(ls))
		switch s.op {
		case "in":
			return boolV(has)
		case "not in":
			return boolV(!has)
		}
	}
	panic(&syntaxError{fmt.Sprintf("Unknown operator %q between %s and %s", s.op, typeName(left), typeName(right))})
}

func evalArgs(args []node, e *env) ([]value, *objV) {
	var pos []value
	kw := newObj(kKwargs)
	add := func(k string, v value) {
		if _, ok := kw.get(k); ok {
			panic(rtErr("Got multiple values for keyword argument '%s'", k))
		}
		kw.set(k, v)
	}
	for _, a := range args {
		switch x := a.(type) {
		case *spreadExpr:
			v := eval(x.argument, e)
			arr, ok := v.(*arrV)
			if !ok {
				panic(rtErr("Cannot unpack non-iterable type: %s", typeName(v)))
			}
			pos = append(pos, arr.items...)
		case *kwargExpr, *kwSpreadExpr:
		default:
			pos = append(pos, eval(a, e))
		}
	}
	for _, a := range args {
		switch x := a.(type) {
		case *kwargExpr:
			add(x.key.value, eval(x.value, e))
		case *kwSpreadExpr:
			v := eval(x.argument, e)
			o, ok := isObject(v)
			if !ok {
				panic(rtErr("Argument after ** must be a mapping, not %s", typeName(v)))
			}
			for _, k := range o.keys {
				add(k, o.m[k])
			}
		}
	}
	return pos, kw
}

func evalMember(s *memberExpr, e *env) value {
	obj := eval(s.object, e)
	var prop value
	if s.computed {
		if sl, ok := s.property.(*sliceExpr); ok {
			return evalSlice(obj, sl, e)
		}
		prop = eval(s.property, e)
	} else if il, ok := s.property.(*intLit); ok {
		prop = intV(il.value)
	} else {
		prop = strV(s.property.(*identNode).value)
	}
	var v value
	if o, ok := isAttrContainer(obj); ok {
		p, ok := prop.(strV)
		if !ok {
			panic(rtErr("Cannot access property with non-string: got %s", typeName(prop)))
		}
		if x, ok := o.get(string(p)); ok {
			v = x
		} else if o.kind != kNamespace {
			v = builtin(obj, string(p))
		}
	} else if _, isArr := obj.(*arrV); isArr || isStr(obj) {
		switch p := prop.(type) {
		case intV:
			i := int(p)
			if sv, ok := obj.(strV); ok {
				if c, ok := utf16At(string(sv), i); ok {
					v = strV(c)
				}
			} else {
				items := obj.(*arrV).items
				if i < 0 {
					i += len(items)
				}
				if i >= 0 && i < len(items) {
					v = items[i]
				}
			}
		case strV:
			v = builtin(obj, string(p))
		default:
			panic(rtErr("Cannot access property with non-string/non-number: got %s", typeName(prop)))
		}
	} else {
		p, ok := prop.(strV)
		if !ok {
			panic(rtErr("Cannot access property with non-string: got %s", typeName(prop)))
		}
		v = builtin(obj, string(p))
	}
	if v == nil {
		return undef
	}
	return v
}

func isStr(v value) bool { _, ok := v.(strV); return ok }

// jsSlice is utils.ts slice over n elements: the indices taken.
func jsSlice(n int, start, stop, step value) []int {
	st := 1
	if s, ok := step.(intV); ok {
		st = int(s)
	}
	if st == 0 {
		panic(rtErr("slice step cannot be zero"))
	}
	var a, b int
	if st > 0 {
		a = 0
		if s, ok := start.(intV); ok {
			a = int(s)
		}
		if a < 0 {
			a = max(n+a, 0)
		} else {
			a = min(a, n)
		}
		b = n
		if s, ok := stop.(intV); ok {
			b = int(s)
		}
		if b < 0 {
			b = max(n+b, 0)
		} else {
			b = min(b, n)
		}
	} else {
		a = n - 1
		if s, ok := start.(intV); ok {
			a = int(s)
		}
		if a < 0 {
			a = max(n+a, -1)
		} else {
			a = min(a, n-1)
		}
		b = -1
		if s, ok := stop.(intV); ok {
			b = int(s)
		}
		if b < -1 {
			b = max(n+b, -1)
		} else {
			b = min(b, n-1)
		}
	}
	var idx []int
	dir := 1
	if st < 0 {
		dir = -1
	}
	for i := a; dir*i < dir*b; i += st {
		idx = append(idx, i)
	}
	return idx
}

func evalSlice(obj value, s *sliceExpr, e *env) value {
	_, isArr := obj.(*arrV)
	if !isArr && !isStr(obj) {
		panic(rtErr("Slice object must be an array or string"))
	}
	start, stop, step := eval(s.start, e), eval(s.stop, e), eval(s.step, e)
	for i, x := range []value{start, stop, step} {
		switch x.(type) {
		case intV, undefV:
		default:
			panic(rtErr("Slice %s must be numeric or undefined", [...]string{"start", "stop", "step"}[i]))
		}
	}
	if a, ok := obj.(*arrV); ok {
		out := &arrV{}
		for _, i := range jsSlice(len(a.items), start, stop, step) {
			out.items = append(out.items, a.items[i])
		}
		return out
	}
	rs := []rune(string(obj.(strV)))
	var b strings.Builder
	for _, i := range jsSlice(len(rs), start, stop, step) {
		b.WriteRune(rs[i])
	}
	return strV(b.String())
}

func evalSet(s *setNode, e *env) value {
	var rhs value
	if s.value != nil {
		rhs = eval(s.value, e)
	} else {
		rhs = evalBlock(s.body, e)
	}
	switch a := s.assignee.(type) {
	case *identNode:
		e.setVar(a.value, rhs)
	case *tupleLit:
		arr, ok := rhs.(*arrV)
		if !ok {
			panic(rtErr("Cannot unpack non-iterable type in set: %s", typeName(rhs)))
		}
		if len(arr.items) != len(a.value) {
			w := "many"
			if len(a.value) > len(arr.items) {
				w = "few"
			}
			panic(rtErr("Too %s items to unpack in set", w))
		}
		for i, el := range a.value {
			id, ok := el.(*identNode)
			if !ok {
				panic(rtErr("Cannot unpack to non-identifier in set: %s", nodeType(el)))
			}
			e.setVar(id.value, arr.items[i])
		}
	case *memberExpr:
		obj := eval(a.object, e)
		ns, ok := obj.(*objV)
		if !ok || ns.kind != kNamespace {
			panic(rtErr("cannot assign attribute on non-namespace object"))
		}
		id, ok := a.property.(*identNode)
		if !ok {
			panic(rtErr("Cannot assign to member with non-identifier property"))
		}
		ns.set(id.value, rhs)
	default:
		panic(rtErr("Invalid LHS inside assignment expression"))
	}
	return null
}

func evalFor(s *forNode, e *env) value {
	scope := newEnv(e)
	var test node
	var iterable value
	if sel, ok := s.iterable.(*selectExpr); ok {
		iterable = eval(sel.lhs, scope)
		test = sel.test
	} else {
		iterable = eval(s.iterable, scope)
	}
	var list []value
	switch it := iterable.(type) {
	case *arrV:
		list = it.items
	case *objV:
		if it.kind == kNamespace {
			panic(rtErr("Expected iterable or object type in for loop: got %s", typeName(it)))
		}
		for _, k := range it.keys {
			list = append(list, strV(k))
		}
	default:
		panic(rtErr("Expected iterable or object type in for loop: got %s", typeName(iterable)))
	}
	bind := func(cur value) func(*env) {
		switch lv := s.loopvar.(type) {
		case *identNode:
			return func(sc *env) { sc.setVar(lv.value, cur) }
		case *tupleLit:
			c, ok := cur.(*arrV)
			if !ok || c.tuple { // the reference checks the type name "ArrayValue"
				panic(rtErr("Cannot unpack non-iterable type: %s", typeName(cur)))
			}
			if len(lv.value) != len(c.items) {
				w := "many"
				if len(lv.value) > len(c.items) {
					w = "few"
				}
				panic(rtErr("Too %s items to unpack", w))
			}
			return func(sc *env) {
				for j, x := range lv.value {
					id, ok := x.(*identNode)
					if !ok {
						panic(rtErr("Cannot unpack non-identifier type: %s", nodeType(x)))
					}
					sc.setVar(id.value, c.items[j])
				}
			}
		}
		panic(rtErr("Invalid loop variable(s): %s", nodeType(s.loopvar)))
	}
	var items []value
	var binds []func(*env)
	for _, cur := range list {
		loopScope := newEnv(scope)
		f := bind(cur)
		if test != nil {
			f(loopScope)
			if !truthy(eval(test, loopScope)) {
				continue
			}
		}
		items = append(items, cur)
		binds = append(binds, f)
	}
	var b strings.Builder
	noIteration := true
	for i := range items {
		loop := newObj(kObject)
		n := len(items)
		loop.set("index", intV(i+1))
		loop.set("index0", intV(i))
		loop.set("revindex", intV(n-i))
		loop.set("revindex0", intV(n-i-1))
		loop.set("first", boolV(i == 0))
		loop.set("last", boolV(i == n-1))
		loop.set("length", intV(n))
		if i > 0 {
			loop.set("previtem", items[i-1])
		} else {
			loop.set("previtem", undef)
		}
		if i < n-1 {
			loop.set("nextitem", items[i+1])
		} else {
			loop.set("nextitem", undef)
		}
		scope.setVar("loop", loop)
		binds[i](scope)
		ctl := runBody(s.body, scope, &b)
		if ctl == 1 {
			continue
		}
		if ctl == 2 {
			break
		}
		noIteration = false
	}
	if noIteration {
		b.WriteString(string(evalBlock(s.defaultBlock, scope)))
	}
	return strV(b.String())
}

// runBody evaluates a loop body; 1: continue, 2: break (the iteration's
// output is dropped, as the reference's exception discards it).
func runBody(body []node, scope *env, b *strings.Builder) (ctl int) {
	defer func() {
		if r := recover(); r != nil {
			switch r.(type) {
			case continueCtl:
				ctl = 1
			case breakCtl:
				ctl = 2
			default:
				panic(r)
			}
		}
	}()
	out := evalBlock(body, scope)
	b.WriteString(string(out))
	return 0
}

func paramDesc(p node) (string, node) {
	switch x := p.(type) {
	case *identNode:
		return x.value, nil
	case *kwargExpr:
		return x.key.value, x.value
	}
	return "", nil
}

// accessedSpecial approximates findAccessedSpecialMacroArguments: kwargs
// and varargs are bound when the body names them and they are not
// parameters.
func accessedSpecial(params []node, body []node) map[string]bool {
	declared := map[string]bool{}
	for _, p := range params {
		n, _ := paramDesc(p)
		declared[n] = true
	}
	acc := map[string]bool{}
	var walk func(n any)
	walk = func(n any) {
		switch x := n.(type) {
		case nil:
		case []node:
			for _, c := range x {
				walk(c)
			}
		case *identNode:
			if (x.value == "kwargs" || x.value == "varargs") && !declared[x.value] {
				acc[x.value] = true
			}
		case *ifNode:
			walk(x.test)
			walk(x.body)
			walk(x.alternate)
		case *forNode:
			walk(x.iterable)
			walk(x.body)
			walk(x.defaultBlock)
		case *setNode:
			walk(x.value)
			walk(x.body)
		case *macroNode:
			walk(x.body)
		case *callStmt:
			walk(x.call)
			walk(x.body)
		case *filterStmt:
			walk(x.filter)
			walk(x.body)
		case *memberExpr:
			walk(x.object)
			if x.computed {
				walk(x.property)
			}
		case *callExpr:
			walk(x.callee)
			walk(x.args)
		case *arrayLit:
			walk(x.value)
		case *tupleLit:
			walk(x.value)
		case *objectLit:
			walk(x.keys)
			walk(x.values)
		case *binaryExpr:
			walk(x.left)
			walk(x.right)
		case *filterExpr:
			walk(x.operand)
			if c, ok := x.filter.(*callExpr); ok {
				walk(c.args)
			}
		case *selectExpr:
			walk(x.test)
			walk(x.lhs)
		case *testExpr:
			walk(x.operand)
		case *unaryExpr:
			walk(x.argument)
		case *sliceExpr:
			walk(x.start)
			walk(x.stop)
			walk(x.step)
		case *kwargExpr:
			walk(x.value)
		case *spreadExpr:
			walk(x.argument)
		case *kwSpreadExpr:
			walk(x.argument)
		case *ternaryExpr:
			walk(x.condition)
			walk(x.trueExpr)
			walk(x.falseExpr)
		}
	}
	walk(body)
	return acc
}

func bindMacroArgs(name string, params []node, special map[string]bool, args []value, scope *env) {
	pos := append([]value(nil), args...)
	kw := newObj(kObject)
	if len(pos) > 0 {
		if o, ok := pos[len(pos)-1].(*objV); ok && o.kind == kKwargs {
			kw = o.copyAs(kObject)
			pos = pos[:len(pos)-1]
		}
	}
	type pending struct {
		name string
		def  node
	}
	var pend []pending
	for i, p := range params {
		n, def := paramDesc(p)
		var v value
		if i < len(pos) {
			v = pos[i]
		}
		if v == nil {
			if x, ok := kw.get(n); ok {
				v = x
				kw.del(n)
			}
		}
		if v == nil && def != nil {
			pend = append(pend, pending{n, def})
		}
		if v == nil {
			v = undef
		}
		scope.setVar(n, v)
	}
	if special["kwargs"] {
		scope.setVar("kwargs", kw)
	} else if len(kw.keys) > 0 {
		panic(rtErr("macro %s takes no keyword argument '%s'", name, kw.keys[0]))
	}
	if special["varargs"] {
		va := &arrV{}
		if len(pos) > len(params) {
			va.items = pos[len(params):]
		}
		scope.setVar("varargs", va)
	} else if len(pos) > len(params) {
		panic(rtErr("macro %s takes not more than %d argument(s)", name, len(params)))
	}
	for _, p := range pend {
		scope.setVar(p.name, eval(p.def, scope))
	}
}

func evalMacro(s *macroNode, e *env) value {
	special := accessedSpecial(s.args, s.body)
	e.setVar(s.name.value, &funcV{fn: func(args []value, caller *env) value {
		ms := newEnv(caller)
		bindMacroArgs("'"+s.name.value+"'", s.args, special, args, ms)
		return evalBlock(s.body, ms)
	}})
	return null
}

func evalCallStmt(s *callStmt, e *env) value {
	special := accessedSpecial(s.callerArgs, s.body)
	callerFn := &funcV{fn: func(args []value, _ *env) value {
		ce := newEnv(e)
		bindMacroArgs("None", s.callerArgs, special, args, ce)
		return evalBlock(s.body, ce)
	}}
	args, kw := evalArgs(s.call.args, e)
	args = append(args, kw)
	fv := eval(s.call.callee, e)
	fn, ok := fv.(*funcV)
	if !ok {
		panic(rtErr("Cannot call something that is not a function: got %s", typeName(fv)))
	}
	ne := newEnv(e)
	ne.setVar("caller", callerFn)
	return fn.fn(args, ne)
}

// compareValues is compareRuntimeValues.
func compareValues(a, b value, caseSensitive bool) int {
	_, an := a.(nullV)
	_, bn := b.(nullV)
	if an && bn {
		return 0
	}
	if an || bn {
		panic(rtErr("Cannot compare %s with %s", typeName(a), typeName(b)))
	}
	_, au := a.(undefV)
	_, bu := b.(undefV)
	if au && bu {
		return 0
	}
	if au || bu {
		panic(rtErr("Cannot compare %s with %s", typeName(a), typeName(b)))
	}
	fa, okA := isNumericLike(a)
	fb, okB := isNumericLike(b)
	if okA && okB {
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	if typeName(a) != typeName(b) {
		panic(rtErr("Cannot compare different types: %s and %s", typeName(a), typeName(b)))
	}
	sa, ok := a.(strV)
	if !ok {
		panic(rtErr("Cannot compare type: %s", typeName(a)))
	}
	x, y := string(sa), string(b.(strV))
	if !caseSensitive {
		x, y = jsLower(x), jsLower(y)
	}
	return strings.Compare(x, y)
}

func sortValues(items []value, cmp func(a, b value) int) []value {
	out := append([]value(nil), items...)
	sort.SliceStable(out, func(i, j int) bool { return cmp(out[i], out[j]) < 0 })
	return out
}
