package chattemplate

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// tokType is a lexer token type (@huggingface/jinja lexer.ts TOKEN_TYPES).
type tokType int

const (
	tText tokType = iota
	tNumeric
	tString
	tIdent
	tEquals
	tOpenParen
	tCloseParen
	tOpenStatement
	tCloseStatement
	tOpenExpression
	tCloseExpression
	tOpenSquare
	tCloseSquare
	tOpenCurly
	tCloseCurly
	tComma
	tDot
	tColon
	tPipe
	tAdditive
	tMultiplicative
	tExponent
	tComparison
	tUnary
	tComment
)

var tokNames = [...]string{"Text", "NumericLiteral", "StringLiteral", "Identifier", "Equals", "OpenParen",
	"CloseParen", "OpenStatement", "CloseStatement", "OpenExpression", "CloseExpression", "OpenSquareBracket",
	"CloseSquareBracket", "OpenCurlyBracket", "CloseCurlyBracket", "Comma", "Dot", "Colon", "Pipe",
	"AdditiveBinaryOperator", "MultiplicativeBinaryOperator", "ExponentiationBinaryOperator",
	"ComparisonBinaryOperator", "UnaryOperator", "Comment"}

func (t tokType) String() string { return tokNames[t] }

type token struct {
	value string
	typ   tokType
}

// jsSpace reports whether r is matched by JavaScript's \s.
func jsSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// jsWord reports whether b is matched by JavaScript's \w (ASCII only).
func jsWord(b byte) bool {
	return b == '_' || (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// jsTrimEnd / jsTrimStart / jsTrim are String.prototype.trimEnd etc.
func jsTrimEnd(s string) string   { return strings.TrimRightFunc(s, jsSpace) }
func jsTrimStart(s string) string { return strings.TrimLeftFunc(s, jsSpace) }
func jsTrim(s string) string      { return strings.TrimFunc(s, jsSpace) }

const jsSpaceClass = `[\t\n\v\f\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}]`

var generationTag = regexp.MustCompile(`(?s)(` + jsSpaceClass + `*)\{%(-?)` + jsSpaceClass + `*(?:end)?generation` + jsSpaceClass + `*(-?)%\}(` + jsSpaceClass + `*)`)

// preprocess is lexer.ts preprocess with lstrip_blocks and trim_blocks on
// (as Template's constructor sets them).
func preprocess(t string) string {
	t = strings.TrimSuffix(t, "\n")
	// lstrip_blocks: /^[ \t]*({[#%-])/gm — "^" after any JS line terminator.
	var b strings.Builder
	lineStart := true
	for i := 0; i < len(t); {
		if lineStart {
			j := i
			for j < len(t) && (t[j] == ' ' || t[j] == '\t') {
				j++
			}
			if j+1 < len(t) && t[j] == '{' && (t[j+1] == '#' || t[j+1] == '%' || t[j+1] == '-') {
				i = j
			}
			lineStart = false
			continue
		}
		r, n := utf8.DecodeRuneInString(t[i:])
		b.WriteString(t[i : i+n])
		i += n
		if r == '\n' || r == '\r' || r == 0x2028 || r == 0x2029 {
			lineStart = true
		}
	}
	t = b.String()
	// trim_blocks: /([#%-]})\n/g
	b.Reset()
	for i := 0; i < len(t); i++ {
		b.WriteByte(t[i])
		if i+2 < len(t) && (t[i] == '#' || t[i] == '%' || t[i] == '-') && t[i+1] == '}' && t[i+2] == '\n' {
			b.WriteByte('}')
			i += 2
		}
	}
	t = b.String()
	return generationTag.ReplaceAllStringFunc(t, func(m string) string {
		sm := generationTag.FindStringSubmatch(m)
		out := ""
		if sm[2] == "" {
			out += sm[1]
		}
		if sm[3] == "" {
			out += sm[4]
		}
		return out
	})
}

var mappingTable = []struct {
	seq string
	typ tokType
}{
	{"{%", tOpenStatement}, {"%}", tCloseStatement}, {"{{", tOpenExpression}, {"}}", tCloseExpression},
	{"(", tOpenParen}, {")", tCloseParen}, {"{", tOpenCurly}, {"}", tCloseCurly}, {"[", tOpenSquare},
	{"]", tCloseSquare}, {",", tComma}, {".", tDot}, {":", tColon}, {"|", tPipe},
	{"<=", tComparison}, {">=", tComparison}, {"==", tComparison}, {"!=", tComparison}, {"<", tComparison}, {">", tComparison},
	{"+", tAdditive}, {"-", tAdditive}, {"~", tAdditive},
	{"**", tExponent}, {"*", tMultiplicative}, {"//", tMultiplicative}, {"/", tMultiplicative}, {"%", tMultiplicative},
	{"=", tEquals},
}

var escapes = map[byte]string{'n': "\n", 't': "\t", 'r': "\r", 'b': "\b", 'f': "\f", 'v': "\v", '\'': "'", '"': "\"", '\\': "\\"}

type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return "SyntaxError: " + e.msg }

func synErr(format string, a ...any) *syntaxError { return &syntaxError{fmt.Sprintf(format, a...)} }

// tokenize is lexer.ts tokenize. The source is UTF-8; every character the
// lexer acts on is ASCII except whitespace, which is decoded as runes.
func tokenize(source string) (toks []token, err error) {
	src := preprocess(source)
	pos := 0
	depth := 0
	at := func(i int) byte {
		if i < len(src) {
			return src[i]
		}
		return 0
	}
	spaceAt := func(i int) (bool, int) {
		if i >= len(src) {
			return false, 0
		}
		r, n := utf8.DecodeRuneInString(src[i:])
		return jsSpace(r), n
	}
	last := func() (tokType, bool) {
		if len(toks) == 0 {
			return 0, false
		}
		return toks[len(toks)-1].typ, true
	}
	// consumeWhile: pred is given the position and returns whether to
	// consume and the byte length of the character.
	consumeWhile := func(pred func(i int) (bool, int)) (string, error) {
		var s strings.Builder
		for {
			ok, n := pred(pos)
			if !ok {
				break
			}
			if pos >= len(src) {
				return "", synErr("Unexpected end of input")
			}
			if src[pos] == '\\' {
				pos++
				if pos >= len(src) {
					return "", synErr("Unexpected end of input")
				}
				esc := src[pos]
				pos++
				if esc == 'x' || esc == 'u' {
					l := 2
					if esc == 'u' {
						l = 4
					}
					hex := src[pos:min(pos+l, len(src))]
					v, perr := strconv.ParseUint(hex, 16, 32)
					if len(hex) != l || perr != nil || strings.ContainsAny(hex, "+-_xX") {
						return "", synErr("Invalid hexadecimal escape sequence: \\%c%s", esc, hex)
					}
					if utf16.IsSurrogate(rune(v)) {
						s.WriteRune(utf8.RuneError)
					} else {
						s.WriteRune(rune(v))
					}
					pos += l
					continue
				}
				u, ok := escapes[esc]
				if !ok {
					return "", synErr("Unexpected escaped character: %c", esc)
				}
				s.WriteString(u)
				continue
			}
			s.WriteString(src[pos : pos+n])
			pos += n
			if pos >= len(src) {
				return "", synErr("Unexpected end of input")
			}
		}
		return s.String(), nil
	}
	stripTrailing := func() {
		if len(toks) > 0 && toks[len(toks)-1].typ == tText {
			toks[len(toks)-1].value = jsTrimEnd(toks[len(toks)-1].value)
			if toks[len(toks)-1].value == "" {
				toks = toks[:len(toks)-1]
			}
		}
	}
	skipLeading := func() {
		for {
			ok, n := spaceAt(pos)
			if !ok {
				return
			}
			pos += n
		}
	}
	byteIs := func(f func(byte) bool) func(int) (bool, int) {
		return func(i int) (bool, int) {
			if i >= len(src) {
				return false, 0
			}
			return f(src[i]), 1
		}
	}
main:
	for pos < len(src) {
		lt, ok := last()
		if !ok || lt == tCloseStatement || lt == tCloseExpression || lt == tComment {
			start := pos
			for pos < len(src) && !(src[pos] == '{' && (at(pos+1) == '%' || at(pos+1) == '{' || at(pos+1) == '#')) {
				pos++
			}
			if pos > start {
				toks = append(toks, token{src[start:pos], tText})
				continue
			}
		}
		if at(pos) == '{' && at(pos+1) == '#' {
			pos += 2
			stripBefore := at(pos) == '-'
			if stripBefore {
				pos++
			}
			start := pos
			for at(pos) != '#' || at(pos+1) != '}' {
				if pos+2 >= len(src) {
					return nil, synErr("Missing end of comment tag")
				}
				pos++
			}
			comment := src[start:pos]
			stripAfter := strings.HasSuffix(comment, "-")
			if stripAfter {
				comment = comment[:len(comment)-1]
			}
			if stripBefore {
				stripTrailing()
			}
			toks = append(toks, token{comment, tComment})
			pos += 2
			if stripAfter {
				skipLeading()
			}
			continue
		}
		if strings.HasPrefix(src[pos:], "{%-") {
			stripTrailing()
			toks = append(toks, token{"{%", tOpenStatement})
			pos += 3
			continue
		}
		if strings.HasPrefix(src[pos:], "{{-") {
			stripTrailing()
			toks = append(toks, token{"{{", tOpenExpression})
			depth = 0
			pos += 3
			continue
		}
		if _, err := consumeWhile(spaceAt); err != nil {
			return nil, err
		}
		if strings.HasPrefix(src[pos:], "-%}") {
			toks = append(toks, token{"%}", tCloseStatement})
			pos += 3
			skipLeading()
			continue
		}
		if strings.HasPrefix(src[pos:], "-}}") {
			toks = append(toks, token{"}}", tCloseExpression})
			pos += 3
			skipLeading()
			continue
		}
		ch := at(pos)
		if ch == '-' || ch == '+' {
			lt, ok := last()
			if lt == tText || !ok {
				return nil, synErr("Unexpected character: %c", ch)
			}
			switch lt {
			case tIdent, tNumeric, tString, tCloseParen, tCloseSquare:
			default:
				pos++
				num, err := consumeWhile(byteIs(isDigit))
				if err != nil {
					return nil, err
				}
				if num != "" && at(pos) == '.' && isDigit(at(pos+1)) {
					pos++
					frac, err := consumeWhile(byteIs(isDigit))
					if err != nil {
						return nil, err
					}
					num += "." + frac
				}
				typ := tUnary
				if num != "" {
					typ = tNumeric
				}
				toks = append(toks, token{string(ch) + num, typ})
				continue main
			}
		}
		for _, m := range mappingTable {
			if m.seq == "}}" && depth > 0 {
				continue
			}
			if strings.HasPrefix(src[pos:], m.seq) {
				toks = append(toks, token{m.seq, m.typ})
				switch m.typ {
				case tOpenExpression:
					depth = 0
				case tOpenCurly:
					depth++
				case tCloseCurly:
					depth--
				}
				pos += len(m.seq)
				continue main
			}
		}
		if ch == '\'' || ch == '"' {
			pos++
			s, err := consumeWhile(func(i int) (bool, int) {
				if i >= len(src) {
					return true, 0 // JS: undefined !== quote; the end-of-input check fires
				}
				_, n := utf8.DecodeRuneInString(src[i:])
				return src[i] != ch, n
			})
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{s, tString})
			pos++
			continue
		}
		if isDigit(ch) {
			num, err := consumeWhile(byteIs(isDigit))
			if err != nil {
				return nil, err
			}
			if lt, _ := last(); lt != tDot && at(pos) == '.' && isDigit(at(pos+1)) {
				pos++
				frac, err := consumeWhile(byteIs(isDigit))
				if err != nil {
					return nil, err
				}
				num += "." + frac
			}
			toks = append(toks, token{num, tNumeric})
			continue
		}
		if jsWord(ch) {
			w, err := consumeWhile(byteIs(jsWord))
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{w, tIdent})
			continue
		}
		r, _ := utf8.DecodeRuneInString(src[pos:])
		return nil, synErr("Unexpected character: %c", r)
	}
	return toks, nil
}
