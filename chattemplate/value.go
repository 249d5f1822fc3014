package chattemplate

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/collate"
	"golang.org/x/text/language"
)

// Runtime values (@huggingface/jinja runtime.ts). Numbers are float64, as
// in JavaScript; integers and floats differ only in how they print and
// combine. Arrays, objects and functions are pointers, so that == compares
// them by identity as JavaScript's == does.
type value interface{}

type (
	undefV struct{}
	nullV  struct{}
	boolV  bool
	intV   float64
	floatV float64
	strV   string
	// arrV is an ArrayValue (tuple: a TupleValue).
	arrV struct {
		items []value
		tuple bool
	}
	// objV is an ObjectValue, KeywordArgumentsValue or NamespaceValue: an
	// insertion-ordered map.
	objV struct {
		kind objKind
		keys []string
		m    map[string]value
	}
	funcV struct {
		fn func(args []value, env *env) value
	}
)

type objKind int

const (
	kObject objKind = iota
	kKwargs
	kNamespace
)

var (
	undef value = undefV{}
	null  value = nullV{}
)

func newObj(kind objKind) *objV { return &objV{kind: kind, m: map[string]value{}} }

func (o *objV) set(k string, v value) {
	if _, ok := o.m[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.m[k] = v
}

func (o *objV) get(k string) (value, bool) { v, ok := o.m[k]; return v, ok }

func (o *objV) del(k string) {
	if _, ok := o.m[k]; !ok {
		return
	}
	delete(o.m, k)
	o.keys = slicesDelete(o.keys, k)
}

func slicesDelete(keys []string, k string) []string {
	out := keys[:0:0]
	for _, x := range keys {
		if x != k {
			out = append(out, x)
		}
	}
	return out
}

func (o *objV) copyAs(kind objKind) *objV {
	c := newObj(kind)
	for _, k := range o.keys {
		c.set(k, o.m[k])
	}
	return c
}

func typeName(v value) string {
	switch x := v.(type) {
	case undefV:
		return "UndefinedValue"
	case nullV:
		return "NullValue"
	case boolV:
		return "BooleanValue"
	case intV:
		return "IntegerValue"
	case floatV:
		return "FloatValue"
	case strV:
		return "StringValue"
	case *arrV:
		if x.tuple {
			return "TupleValue"
		}
		return "ArrayValue"
	case *objV:
		switch x.kind {
		case kKwargs:
			return "KeywordArgumentsValue"
		case kNamespace:
			return "NamespaceValue"
		}
		return "ObjectValue"
	case *funcV:
		return "FunctionValue"
	}
	return "RuntimeValue"
}

// isObject: ObjectValue or KeywordArgumentsValue (instanceof ObjectValue).
func isObject(v value) (*objV, bool) {
	o, ok := v.(*objV)
	if ok && o.kind != kNamespace {
		return o, true
	}
	return nil, false
}

// isAttrContainer: ObjectValue or NamespaceValue.
func isAttrContainer(v value) (*objV, bool) { o, ok := v.(*objV); return o, ok }

func isNumber(v value) (float64, bool) {
	switch x := v.(type) {
	case intV:
		return float64(x), true
	case floatV:
		return float64(x), true
	}
	return 0, false
}

func isNumericLike(v value) (float64, bool) {
	if b, ok := v.(boolV); ok {
		if b {
			return 1, true
		}
		return 0, true
	}
	return isNumber(v)
}

// truthy is __bool__.
func truthy(v value) bool {
	switch x := v.(type) {
	case undefV, nullV:
		return false
	case boolV:
		return bool(x)
	case intV:
		return x != 0 && !math.IsNaN(float64(x))
	case floatV:
		return x != 0 && !math.IsNaN(float64(x))
	case strV:
		return x != ""
	case *arrV:
		return len(x.items) > 0
	case *objV:
		if x.kind == kNamespace {
			return true // a Map object is truthy in JavaScript
		}
		return len(x.keys) > 0
	}
	return true
}

// jsNumber is JavaScript's Number.prototype.toString().
func jsNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	sign := ""
	if f < 0 {
		sign = "-"
		f = -f
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k, n := len(digits), x+1
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits
	}
	s := digits[:1]
	if k > 1 {
		s += "." + digits[1:]
	}
	if n-1 >= 0 {
		return sign + s + "e+" + strconv.Itoa(n-1)
	}
	return sign + s + "e-" + strconv.Itoa(1-n)
}

// floatString is FloatValue.toString().
func floatString(f float64) string {
	if f == 0 && math.Signbit(f) {
		return "-0.0"
	}
	if f == math.Trunc(f) && !math.IsInf(f, 0) {
		if math.Abs(f) >= 1e21 {
			return jsNumber(f)
		}
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return jsNumber(f)
}

// toString is RuntimeValue.toString() as each subclass defines it.
func toString(v value) string {
	switch x := v.(type) {
	case undefV:
		return "undefined"
	case nullV:
		return "null"
	case boolV:
		if x {
			return "true"
		}
		return "false"
	case intV:
		return jsNumber(float64(x))
	case floatV:
		return floatString(float64(x))
	case strV:
		return string(x)
	case *arrV, *objV:
		return toJSON(v, jsonOpts{}, 0, false)
	case *funcV:
		return "function"
	}
	return ""
}

// rawString is String(x.value): the JavaScript string of a value's raw
// value (used by ~, + and join).
func rawString(v value) string {
	switch x := v.(type) {
	case floatV:
		return jsNumber(float64(x))
	case *arrV:
		parts := make([]string, len(x.items))
		for i, it := range x.items {
			parts[i] = toString(it)
		}
		return strings.Join(parts, ",")
	case *objV:
		return "[object Map]"
	}
	return toString(v)
}

// joinString is an element of Array.prototype.join over x.value: null and
// undefined give "".
func joinString(v value) string {
	switch v.(type) {
	case undefV, nullV:
		return ""
	}
	return rawString(v)
}

type jsonOpts struct {
	indent      int
	hasIndent   bool
	ensureASCII bool
	separators  *[2]string
	sortKeys    bool
}

// jsonString is JSON.stringify of a string.
func jsonString(s string, ascii bool) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			switch {
			case r < 0x20:
				b.WriteString(`\u00`)
				b.WriteString(hex2(byte(r)))
			case ascii && r >= 0x7f:
				for _, u := range utf16.Encode([]rune{r}) {
					b.WriteString(`\u`)
					b.WriteString(hex2(byte(u >> 8)))
					b.WriteString(hex2(byte(u)))
				}
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

func hex2(c byte) string {
	const h = "0123456789abcdef"
	return string([]byte{h[c>>4], h[c&15]})
}

// jsonNumber is JSON.stringify of a number.
func jsonNumber(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "null"
	}
	return jsNumber(f)
}

// toJSON is runtime.ts toJSON.
func toJSON(v value, o jsonOpts, depth int, undefToNull bool) string {
	item, key := ", ", ": "
	if o.separators != nil {
		item, key = o.separators[0], o.separators[1]
	} else if o.hasIndent && o.indent != 0 {
		item = ","
	}
	switch x := v.(type) {
	case nullV:
		return "null"
	case undefV:
		if undefToNull {
			return "null"
		}
		return "undefined"
	case intV:
		return jsonNumber(float64(x))
	case floatV:
		return jsonNumber(float64(x))
	case boolV:
		return toString(x)
	case strV:
		return jsonString(string(x), o.ensureASCII)
	case *arrV, *objV:
		// The reference switches on the type name: TupleValue and
		// KeywordArgumentsValue are not serializable.
		if a, ok := x.(*arrV); ok && a.tuple {
			break
		}
		if o, ok := x.(*objV); ok && o.kind == kKwargs {
			break
		}
		ind := ""
		if o.hasIndent && o.indent > 0 {
			ind = strings.Repeat(" ", o.indent)
		}
		pretty := o.hasIndent && o.indent != 0
		base := "\n" + strings.Repeat(ind, depth)
		child := base + ind
		if a, ok := x.(*arrV); ok {
			core := make([]string, len(a.items))
			for i, it := range a.items {
				core[i] = toJSON(it, o, depth+1, undefToNull)
			}
			if pretty && len(core) > 0 {
				return "[" + child + strings.Join(core, item+child) + base + "]"
			}
			return "[" + strings.Join(core, item) + "]"
		}
		ob := x.(*objV)
		keys := ob.keys
		if o.sortKeys {
			keys = append([]string(nil), keys...)
			localeSort(keys)
		}
		core := make([]string, len(keys))
		for i, k := range keys {
			s := jsonString(k, o.ensureASCII) + key + toJSON(ob.m[k], o, depth+1, undefToNull)
			if pretty {
				s = child + s
			}
			core[i] = s
		}
		if pretty && len(core) > 0 {
			return "{" + strings.Join(core, item) + base + "}"
		}
		return "{" + strings.Join(core, item) + "}"
	}
	panic(rtErr("Cannot convert to JSON: %s", typeName(v)))
}

// localeSort orders keys as String.prototype.localeCompare does (ICU root
// collation, which en-US uses): golang.org/x/text/collate.
func localeSort(keys []string) {
	c := collate.New(language.Und)
	sort.SliceStable(keys, func(i, j int) bool { return c.CompareString(keys[i], keys[j]) < 0 })
}

// utf16Len is the JavaScript length of s.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// utf16At is String.prototype.at(i) (negative from the end); ok false when
// out of range.
func utf16At(s string, i int) (string, bool) {
	u := utf16.Encode([]rune(s))
	if i < 0 {
		i += len(u)
	}
	if i < 0 || i >= len(u) {
		return "", false
	}
	if utf16.IsSurrogate(rune(u[i])) {
		return string(utf8.RuneError), true
	}
	return string(rune(u[i])), true
}

// jsUpper / jsLower are toUpperCase / toLowerCase: Unicode full case
// mapping with the root locale's rules (ß → SS, final sigma, İ → i̇), which
// golang.org/x/text/cases implements and strings.ToUpper/ToLower do not. A
// Caser is stateful, so each call makes its own.
func jsUpper(s string) string {
	if isASCII(s) {
		return strings.ToUpper(s)
	}
	return cases.Upper(language.Und).String(s)
}

func jsLower(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	return cases.Lower(language.Und).String(s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// titleCase is utils.ts titleCase: /\b\w/g upper-cased (ASCII word
// characters; the rest of each word is left as is).
func titleCase(s string) string {
	b := []byte(s)
	for i := range b {
		if jsWord(b[i]) && (i == 0 || !jsWord(b[i-1])) {
			if b[i] >= 'a' && b[i] <= 'z' {
				b[i] -= 32
			}
		}
	}
	return string(b)
}

// jsParseInt is parseInt(s, 10); ok false for NaN.
func jsParseInt(s string) (float64, bool) {
	s = jsTrimStart(s)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 0 {
		return 0, false
	}
	f, _ := strconv.ParseFloat(s[:i], 64)
	if neg {
		f = -f
	}
	return f, true
}

// jsParseFloat is parseFloat(s); ok false for NaN.
func jsParseFloat(s string) (float64, bool) {
	s = jsTrimStart(s)
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	if strings.HasPrefix(s[i:], "Infinity") {
		if s[0] == '-' {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	}
	d := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		d++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
			d++
		}
	}
	if d == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k > j {
			i = k
		}
	}
	f, _ := strconv.ParseFloat(strings.TrimSuffix(s[:i], "."), 64)
	return f, true
}
