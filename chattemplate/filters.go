package chattemplate

import (
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// builtin is RuntimeValue.builtins.get(name) (nil: none).
func builtin(v value, name string) value {
	switch x := v.(type) {
	case strV:
		return strBuiltin(string(x), name)
	case *arrV:
		if name == "length" {
			return intV(len(x.items))
		}
	case *objV:
		if x.kind != kNamespace {
			return objBuiltin(x, name)
		}
	}
	return nil
}

func fn(f func(args []value) value) *funcV {
	return &funcV{fn: func(args []value, _ *env) value { return f(args) }}
}

func strBuiltin(s, name string) value {
	switch name {
	case "upper":
		return fn(func([]value) value { return strV(jsUpper(s)) })
	case "lower":
		return fn(func([]value) value { return strV(jsLower(s)) })
	case "strip":
		return fn(func([]value) value { return strV(jsTrim(s)) })
	case "title":
		return fn(func([]value) value { return strV(titleCase(s)) })
	case "capitalize":
		return fn(func([]value) value { return strV(capitalize(s)) })
	case "length":
		return intV(utf16Len(s))
	case "rstrip":
		return fn(func([]value) value { return strV(jsTrimEnd(s)) })
	case "lstrip":
		return fn(func([]value) value { return strV(jsTrimStart(s)) })
	case "startswith", "endswith":
		has := strings.HasPrefix
		if name == "endswith" {
			has = strings.HasSuffix
		}
		return fn(func(args []value) value {
			if len(args) == 0 {
				panic(rtErr("%s() requires at least one argument", name))
			}
			switch p := args[0].(type) {
			case strV:
				return boolV(has(s, string(p)))
			case *arrV:
				for _, it := range p.items {
					is, ok := it.(strV)
					if !ok {
						panic(rtErr("%s() tuple elements must be strings", name))
					}
					if has(s, string(is)) {
						return boolV(true)
					}
				}
				return boolV(false)
			}
			panic(rtErr("%s() argument must be a string or tuple of strings", name))
		})
	case "split":
		return fn(func(args []value) value { return split(s, args) })
	case "replace":
		return fn(func(args []value) value {
			if len(args) < 2 {
				panic(rtErr("replace() requires at least two arguments"))
			}
			o, ok1 := args[0].(strV)
			n, ok2 := args[1].(strV)
			if !ok1 || !ok2 {
				panic(rtErr("replace() arguments must be strings"))
			}
			count := null
			if len(args) > 2 {
				if kw, ok := args[2].(*objV); ok && kw.kind == kKwargs {
					if c, ok := kw.get("count"); ok {
						count = c
					}
				} else {
					count = args[2]
				}
			}
			limit := -1
			switch c := count.(type) {
			case intV:
				limit = int(c)
				if limit < 0 {
					limit = -1
				}
			case nullV:
			default:
				panic(rtErr("replace() count argument must be a number or null"))
			}
			return strV(replace(s, string(o), string(n), limit))
		})
	}
	return nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	if r >= 0x10000 {
		return s // charAt(0) is half a surrogate pair: unchanged
	}
	return jsUpper(string(r)) + s[n:]
}

// replace is utils.ts replace (limit < 0: all).
func replace(s, old, new string, limit int) string {
	if limit == 0 {
		return s
	}
	if old == "" {
		var b strings.Builder
		k := 0
		put := func() {
			if limit < 0 || k < limit {
				b.WriteString(new)
				k++
			}
		}
		for _, r := range s {
			put()
			b.WriteRune(r)
		}
		put()
		return b.String()
	}
	return strings.Replace(s, old, new, limit)
}

func split(s string, args []value) value {
	var sep value = null
	if len(args) > 0 {
		sep = args[0]
	}
	var maxsplit value = intV(-1)
	if len(args) > 1 {
		maxsplit = args[1]
	}
	ms, ok := maxsplit.(intV)
	if !ok {
		panic(rtErr("maxsplit argument must be a number"))
	}
	var parts []string
	switch sp := sep.(type) {
	case nullV:
		text := jsTrimStart(s)
		i := 0
		for i < len(text) {
			// next run of non-space characters
			j := i
			for j < len(text) {
				r, n := utf8.DecodeRuneInString(text[j:])
				if jsSpace(r) {
					break
				}
				j += n
			}
			if j > i {
				if ms != -1 && len(parts) >= int(ms) {
					parts = append(parts, text[i:])
					break
				}
				parts = append(parts, text[i:j])
			}
			for j < len(text) {
				r, n := utf8.DecodeRuneInString(text[j:])
				if !jsSpace(r) {
					break
				}
				j += n
			}
			i = j
		}
	case strV:
		if sp == "" {
			panic(rtErr("empty separator"))
		}
		parts = strings.Split(s, string(sp))
		if ms != -1 && len(parts) > int(ms) {
			k := max(int(ms), 0)
			parts = append(parts[:k:k], strings.Join(parts[k:], string(sp)))
		}
	default:
		panic(rtErr("sep argument must be a string or null"))
	}
	out := &arrV{}
	for _, p := range parts {
		out.items = append(out.items, strV(p))
	}
	return out
}

func objBuiltin(o *objV, name string) value {
	switch name {
	case "get":
		return fn(func(args []value) value {
			if len(args) == 0 {
				panic(rtErr("Cannot read properties of undefined (reading 'type')"))
			}
			k, ok := args[0].(strV)
			if !ok {
				panic(rtErr("Object key must be a string: got %s", typeName(args[0])))
			}
			if v, ok := o.get(string(k)); ok {
				return v
			}
			if len(args) > 1 {
				return args[1]
			}
			return null
		})
	case "items":
		return fn(func([]value) value { return items(o) })
	case "keys":
		return fn(func([]value) value {
			a := &arrV{}
			for _, k := range o.keys {
				a.items = append(a.items, strV(k))
			}
			return a
		})
	case "values":
		return fn(func([]value) value {
			a := &arrV{}
			for _, k := range o.keys {
				a.items = append(a.items, o.m[k])
			}
			return a
		})
	case "dictsort":
		return fn(func(args []value) value {
			kw := newObj(kKwargs)
			var pos []value
			for _, a := range args {
				if k, ok := a.(*objV); ok && k.kind == kKwargs {
					kw = k
					continue
				}
				pos = append(pos, a)
			}
			arg := func(i int, name string, def value) value {
				if i < len(pos) {
					return pos[i]
				}
				if v, ok := kw.get(name); ok {
					return v
				}
				return def
			}
			cs, ok := arg(0, "case_sensitive", boolV(false)).(boolV)
			if !ok {
				panic(rtErr("case_sensitive must be a boolean"))
			}
			by, ok := arg(1, "by", strV("key")).(strV)
			if !ok {
				panic(rtErr("by must be a string"))
			}
			if by != "key" && by != "value" {
				panic(rtErr("by must be either 'key' or 'value'"))
			}
			rev, ok := arg(2, "reverse", boolV(false)).(boolV)
			if !ok {
				panic(rtErr("reverse must be a boolean"))
			}
			idx := 0
			if by == "value" {
				idx = 1
			}
			return &arrV{items: sortValues(items(o).items, func(a, b value) int {
				r := compareValues(a.(*arrV).items[idx], b.(*arrV).items[idx], bool(cs))
				if rev {
					return -r
				}
				return r
			})}
		})
	}
	return nil
}

func items(o *objV) *arrV {
	a := &arrV{}
	for _, k := range o.keys {
		a.items = append(a.items, &arrV{items: []value{strV(k), o.m[k]}})
	}
	return a
}

// getAttribute is getAttributeValue (dotted path).
func getAttribute(v value, path string) value {
	for _, part := range strings.Split(path, ".") {
		if o, ok := isAttrContainer(v); ok {
			x, ok := o.get(part)
			if !ok {
				return undef
			}
			v = x
		} else if a, ok := v.(*arrV); ok {
			i, ok := jsParseInt(part)
			if !ok || i < 0 || int(i) >= len(a.items) {
				return undef
			}
			v = a.items[int(i)]
		} else {
			return undef
		}
	}
	return v
}

func applyFilter(operand value, filterNode node, e *env) value {
	switch f := filterNode.(type) {
	case *identNode:
		return applyNamedFilter(operand, f.value, e)
	case *callExpr:
		id, ok := f.callee.(*identNode)
		if !ok {
			panic(rtErr("Unknown filter: %s", nodeType(f.callee)))
		}
		return applyCallFilter(operand, id.value, f, e)
	}
	panic(rtErr("Unknown filter: %s", nodeType(filterNode)))
}

func applyNamedFilter(operand value, name string, e *env) value {
	if name == "safe" {
		return operand
	}
	if name == "tojson" {
		return strV(toJSON(operand, jsonOpts{}, 0, true))
	}
	switch x := operand.(type) {
	case *arrV:
		switch name {
		case "list":
			return x
		case "first":
			if len(x.items) == 0 {
				return undef
			}
			return x.items[0]
		case "last":
			if len(x.items) == 0 {
				return undef
			}
			return x.items[len(x.items)-1]
		case "length":
			return intV(len(x.items))
		case "reverse":
			r := append([]value(nil), x.items...)
			slices.Reverse(r)
			return &arrV{items: r}
		case "sort":
			return &arrV{items: sortValues(x.items, func(a, b value) int { return compareValues(a, b, false) })}
		case "join":
			var b strings.Builder
			for _, it := range x.items {
				b.WriteString(joinString(it))
			}
			return strV(b.String())
		case "string":
			return strV(toJSON(x, jsonOpts{}, 0, false))
		case "unique":
			out := &arrV{}
			for _, it := range x.items {
				dup := false
				for _, o := range out.items {
					if sameValueZero(o, it) {
						dup = true
						break
					}
				}
				if !dup {
					out.items = append(out.items, it)
				}
			}
			return out
		}
		panic(rtErr("Unknown ArrayValue filter: %s", name))
	case strV:
		s := string(x)
		switch name {
		case "length", "upper", "lower", "title", "capitalize":
			b := strBuiltin(s, name)
			if f, ok := b.(*funcV); ok {
				return f.fn(nil, e)
			}
			return b
		case "trim":
			return strV(jsTrim(s))
		case "indent":
			lines := strings.Split(s, "\n")
			for i, l := range lines {
				if i != 0 && l != "" {
					lines[i] = "    " + l
				}
			}
			return strV(strings.Join(lines, "\n"))
		case "join", "string":
			return x
		case "int":
			v, ok := jsParseInt(s)
			if !ok {
				return intV(0)
			}
			return intV(v)
		case "float":
			v, ok := jsParseFloat(s)
			if !ok {
				return floatV(0)
			}
			return floatV(v)
		}
		panic(rtErr("Unknown StringValue filter: %s", name))
	case intV, floatV:
		f, _ := isNumber(x)
		_, isInt := x.(intV)
		switch name {
		case "abs":
			if isInt {
				return intV(math.Abs(f))
			}
			return floatV(math.Abs(f))
		case "int":
			return intV(math.Floor(f))
		case "float":
			return floatV(f)
		case "string":
			return strV(toString(x))
		}
		panic(rtErr("Unknown NumericValue filter: %s", name))
	case *objV:
		if x.kind != kNamespace {
			switch name {
			case "items":
				return items(x)
			case "length":
				return intV(len(x.keys))
			}
			if b := objBuiltin(x, name); b != nil {
				if f, ok := b.(*funcV); ok {
					return f.fn(nil, e)
				}
				return b
			}
			panic(rtErr("Unknown ObjectValue filter: %s", name))
		}
	case boolV:
		switch name {
		case "bool":
			return x
		case "int":
			if x {
				return intV(1)
			}
			return intV(0)
		case "float":
			if x {
				return floatV(1)
			}
			return floatV(0)
		case "string":
			return strV(toString(x))
		}
		panic(rtErr("Unknown BooleanValue filter: %s", name))
	}
	panic(rtErr("Cannot apply filter \"%s\" to type: %s", name, typeName(operand)))
}

func sameValueZero(a, b value) bool {
	fa, okA := isNumber(a)
	fb, okB := isNumber(b)
	if okA && okB && math.IsNaN(fa) && math.IsNaN(fb) {
		return true
	}
	return strictEq(a, b)
}

func applyCallFilter(operand value, name string, f *callExpr, e *env) value {
	switch name {
	case "tojson":
		_, kw := evalArgs(f.args, e)
		o := jsonOpts{}
		if v, ok := kw.get("indent"); ok {
			switch i := v.(type) {
			case intV:
				o.indent, o.hasIndent = int(i), true
			case nullV:
			default:
				panic(rtErr("If set, indent must be a number"))
			}
		}
		if v, ok := kw.get("ensure_ascii"); ok {
			b, ok := v.(boolV)
			if !ok {
				panic(rtErr("If set, ensure_ascii must be a boolean"))
			}
			o.ensureASCII = bool(b)
		}
		if v, ok := kw.get("sort_keys"); ok {
			b, ok := v.(boolV)
			if !ok {
				panic(rtErr("If set, sort_keys must be a boolean"))
			}
			o.sortKeys = bool(b)
		}
		if v, ok := kw.get("separators"); ok {
			switch a := v.(type) {
			case *arrV:
				if len(a.items) != 2 {
					panic(rtErr("separators must be a tuple of two strings"))
				}
				s1, ok1 := a.items[0].(strV)
				s2, ok2 := a.items[1].(strV)
				if !ok1 || !ok2 {
					panic(rtErr("separators must be a tuple of two strings"))
				}
				o.separators = &[2]string{string(s1), string(s2)}
			case nullV:
			default:
				panic(rtErr("If set, separators must be a tuple of two strings"))
			}
		}
		return strV(toJSON(operand, o, 0, true))
	case "join":
		var parts []string
		switch x := operand.(type) {
		case strV:
			for _, r := range string(x) {
				parts = append(parts, string(r))
			}
		case *arrV:
			for _, it := range x.items {
				parts = append(parts, joinString(it))
			}
		default:
			panic(rtErr("Cannot apply filter \"%s\" to type: %s", name, typeName(operand)))
		}
		args, kw := evalArgs(f.args, e)
		var sep value = strV("")
		if len(args) > 0 {
			sep = args[0]
		} else if v, ok := kw.get("separator"); ok {
			sep = v
		}
		ss, ok := sep.(strV)
		if !ok {
			panic(rtErr("separator must be a string"))
		}
		return strV(strings.Join(parts, string(ss)))
	case "int", "float":
		args, kw := evalArgs(f.args, e)
		var def value
		if len(args) > 0 {
			def = args[0]
		} else if v, ok := kw.get("default"); ok {
			def = v
		} else if name == "int" {
			def = intV(0)
		} else {
			def = floatV(0)
		}
		switch x := operand.(type) {
		case strV:
			if name == "int" {
				v, ok := jsParseInt(string(x))
				if !ok {
					return def
				}
				return intV(v)
			}
			v, ok := jsParseFloat(string(x))
			if !ok {
				return def
			}
			return floatV(v)
		case intV, floatV:
			return x
		case boolV:
			n := 0.0
			if x {
				n = 1
			}
			if name == "int" {
				return intV(n)
			}
			return floatV(n)
		}
		panic(rtErr("Cannot apply filter \"%s\" to type: %s", name, typeName(operand)))
	case "default":
		args, kw := evalArgs(f.args, e)
		var def value = strV("")
		if len(args) > 0 {
			def = args[0]
		}
		var bv value = boolV(false)
		if len(args) > 1 {
			bv = args[1]
		} else if v, ok := kw.get("boolean"); ok {
			bv = v
		}
		b, ok := bv.(boolV)
		if !ok {
			panic(rtErr("`default` filter flag must be a boolean"))
		}
		if _, u := operand.(undefV); u || (bool(b) && !truthy(operand)) {
			return def
		}
		return operand
	}
	switch x := operand.(type) {
	case *arrV:
		switch name {
		case "sort":
			args, kw := evalArgs(f.args, e)
			arg := func(i int, n string, def value) value {
				if i < len(args) {
					return args[i]
				}
				if v, ok := kw.get(n); ok {
					return v
				}
				return def
			}
			rev, ok := arg(0, "reverse", boolV(false)).(boolV)
			if !ok {
				panic(rtErr("reverse must be a boolean"))
			}
			cs, ok := arg(1, "case_sensitive", boolV(false)).(boolV)
			if !ok {
				panic(rtErr("case_sensitive must be a boolean"))
			}
			attr := arg(2, "attribute", null)
			var path string
			switch a := attr.(type) {
			case strV:
				path = string(a)
			case intV:
				path = jsNumber(float64(a))
			case nullV:
			default:
				panic(rtErr("attribute must be a string, integer, or null"))
			}
			get := func(v value) value {
				if _, n := attr.(nullV); n {
					return v
				}
				return getAttribute(v, path)
			}
			return &arrV{items: sortValues(x.items, func(a, b value) int {
				r := compareValues(get(a), get(b), bool(cs))
				if rev {
					return -r
				}
				return r
			})}
		case "selectattr", "rejectattr":
			sel := name == "selectattr"
			for _, it := range x.items {
				if _, ok := isAttrContainer(it); !ok {
					panic(rtErr("`%s` can only be applied to array of objects", name))
				}
			}
			for _, a := range f.args {
				if _, ok := a.(*strLit); !ok {
					panic(rtErr("arguments of `%s` must be strings", name))
				}
			}
			var vals []value
			for _, a := range f.args {
				vals = append(vals, eval(a, e))
			}
			if len(vals) == 0 {
				panic(rtErr("Cannot read properties of undefined (reading 'value')"))
			}
			attr := string(vals[0].(strV))
			test := func(v ...value) bool { return truthy(v[0]) }
			if len(vals) > 1 {
				t, ok := tests[string(vals[1].(strV))]
				if !ok {
					panic(rtErr("Unknown test: %s", vals[1]))
				}
				test = t
			}
			var cmp value
			if len(vals) > 2 {
				cmp = vals[2]
			}
			out := &arrV{}
			for _, it := range x.items {
				a, has := it.(*objV).get(attr)
				r := false
				if has {
					if cmp != nil {
						r = test(a, cmp)
					} else {
						r = test(a)
					}
				}
				if r == sel {
					out.items = append(out.items, it)
				}
			}
			return out
		case "map":
			_, kw := evalArgs(f.args, e)
			av, ok := kw.get("attribute")
			if !ok {
				panic(rtErr("`map` expressions without `attribute` set are not currently supported."))
			}
			attr, ok := av.(strV)
			if !ok {
				panic(rtErr("attribute must be a string"))
			}
			def, hasDef := kw.get("default")
			out := &arrV{}
			for _, it := range x.items {
				if _, ok := isAttrContainer(it); !ok {
					panic(rtErr("items in map must be an object"))
				}
				v := getAttribute(it, string(attr))
				if _, u := v.(undefV); u && hasDef {
					v = def
				}
				out.items = append(out.items, v)
			}
			return out
		}
		panic(rtErr("Unknown ArrayValue filter: %s", name))
	case strV:
		switch name {
		case "indent":
			args, kw := evalArgs(f.args, e)
			arg := func(i int, n string, def value) value {
				if i < len(args) {
					return args[i]
				}
				if v, ok := kw.get(n); ok {
					return v
				}
				return def
			}
			w, ok := arg(0, "width", intV(4)).(intV)
			if !ok {
				panic(rtErr("width must be a number"))
			}
			first := truthyRaw(arg(1, "first", boolV(false)))
			blank := truthyRaw(arg(2, "blank", boolV(false)))
			lines := strings.Split(string(x), "\n")
			ind := strings.Repeat(" ", max(int(w), 0))
			for i, l := range lines {
				if (!first && i == 0) || (!blank && l == "") {
					continue
				}
				lines[i] = ind + l
			}
			return strV(strings.Join(lines, "\n"))
		case "replace":
			args, kw := evalArgs(f.args, e)
			return strBuiltin(string(x), "replace").(*funcV).fn(append(args, kw), e)
		}
		panic(rtErr("Unknown StringValue filter: %s", name))
	case *objV:
		if x.kind != kNamespace {
			if b, ok := objBuiltin(x, name).(*funcV); ok {
				args, kw := evalArgs(f.args, e)
				if len(kw.keys) > 0 {
					args = append(args, kw)
				}
				return b.fn(args, e)
			}
			panic(rtErr("Unknown ObjectValue filter: %s", name))
		}
	}
	panic(rtErr("Cannot apply filter \"%s\" to type: %s", name, typeName(operand)))
}

// truthyRaw is JavaScript truthiness of x.value (first.value in indent).
func truthyRaw(v value) bool {
	switch x := v.(type) {
	case *arrV, *objV, *funcV:
		return true
	case strV:
		return x != ""
	}
	return truthy(v)
}
