package chattemplate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// AST nodes (@huggingface/jinja ast.ts).
type node interface{}

type (
	program struct{ body []node }
	ifNode  struct {
		test            node
		body, alternate []node
	}
	forNode struct {
		loopvar, iterable  node
		body, defaultBlock []node
	}
	breakNode struct{}
	contNode  struct{}
	setNode   struct {
		assignee, value node
		body            []node
	} // value nil: block set
	macroNode struct {
		name *identNode
		args []node
		body []node
	}
	commentNode struct{}
	callStmt    struct {
		call       *callExpr
		callerArgs []node
		body       []node
	}
	filterStmt struct {
		filter node // *identNode or *callExpr
		body   []node
	}
	memberExpr struct {
		object, property node
		computed         bool
	}
	callExpr struct {
		callee node
		args   []node
	}
	identNode  struct{ value string }
	strLit     struct{ value string }
	intLit     struct{ value float64 }
	floatLit   struct{ value float64 }
	arrayLit   struct{ value []node }
	tupleLit   struct{ value []node }
	objectLit  struct{ keys, values []node }
	binaryExpr struct {
		op          string
		left, right node
	}
	filterExpr struct{ operand, filter node }
	selectExpr struct{ lhs, test node }
	testExpr   struct {
		operand node
		negate  bool
		test    *identNode
	}
	unaryExpr struct {
		op       string
		argument node
	}
	sliceExpr struct{ start, stop, step node }
	kwargExpr struct {
		key   *identNode
		value node
	}
	spreadExpr   struct{ argument node }
	kwSpreadExpr struct{ argument node }
	ternaryExpr  struct{ condition, trueExpr, falseExpr node }
)

func nodeType(n node) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", n), "*chattemplate.")
}

type parser struct {
	toks []token
	cur  int
}

type parseError struct{ msg string }

func (e *parseError) Error() string { return e.msg }

func (p *parser) fail(format string, a ...any) { panic(&parseError{fmt.Sprintf(format, a...)}) }

func (p *parser) tok(i int) *token {
	if i < len(p.toks) {
		return &p.toks[i]
	}
	return nil
}

func (p *parser) expect(t tokType, msg string) token {
	prev := p.tok(p.cur)
	p.cur++
	if prev == nil {
		p.fail("Parser Error: %s. unexpected end of template", msg)
	}
	if prev.typ != t {
		p.fail("Parser Error: %s. %s !== %s.", msg, prev.typ, t)
	}
	return *prev
}

func (p *parser) is(types ...tokType) bool {
	if p.cur+len(types) > len(p.toks) {
		return false
	}
	for i, t := range types {
		if p.toks[p.cur+i].typ != t {
			return false
		}
	}
	return true
}

func (p *parser) isStatement(names ...string) bool {
	a, b := p.tok(p.cur), p.tok(p.cur+1)
	if a == nil || a.typ != tOpenStatement {
		if a == nil {
			p.fail("Parser Error: unexpected end of template, expected {%% %s %%}", strings.Join(names, " | "))
		}
		return false
	}
	return b != nil && b.typ == tIdent && slices.Contains(names, b.value)
}

func (p *parser) isIdentifier(names ...string) bool {
	if p.cur+len(names) > len(p.toks) {
		return false
	}
	for i, n := range names {
		if t := p.toks[p.cur+i]; t.typ != tIdent || t.value != n {
			return false
		}
	}
	return true
}

func (p *parser) expectIdentifier(name string) {
	if !p.isIdentifier(name) {
		p.fail("Expected %s", name)
	}
	p.cur++
}

func parse(toks []token) (prog *program, err error) {
	defer func() {
		if r := recover(); r != nil {
			if pe, ok := r.(*parseError); ok {
				err = pe
				return
			}
			err = fmt.Errorf("Parser Error: %v", r)
		}
	}()
	p := &parser{toks: toks}
	prog = &program{}
	for p.cur < len(p.toks) {
		prog.body = append(prog.body, p.parseAny())
	}
	return prog, nil
}

func (p *parser) parseAny() node {
	t := p.tok(p.cur)
	if t == nil {
		p.fail("Parser Error: unexpected end of template")
	}
	switch t.typ {
	case tComment:
		p.cur++
		return &commentNode{}
	case tText:
		return &strLit{p.expect(tText, "Expected text token").value}
	case tOpenStatement:
		return p.parseJinjaStatement()
	case tOpenExpression:
		p.expect(tOpenExpression, "Expected opening expression token")
		r := p.parseExpression()
		p.expect(tCloseExpression, "Expected closing expression token")
		return r
	}
	p.fail("Unexpected token type: %s", t.typ)
	return nil
}

func (p *parser) parseJinjaStatement() node {
	p.expect(tOpenStatement, "Expected opening statement token")
	t := p.tok(p.cur)
	if t == nil || t.typ != tIdent {
		p.fail("Unknown statement, got %v", t)
	}
	switch name := t.value; name {
	case "set":
		p.cur++
		return p.parseSet()
	case "if":
		p.cur++
		r := p.parseIf()
		p.expect(tOpenStatement, "Expected {% token")
		p.expectIdentifier("endif")
		p.expect(tCloseStatement, "Expected %} token")
		return r
	case "macro":
		p.cur++
		r := p.parseMacro()
		p.expect(tOpenStatement, "Expected {% token")
		p.expectIdentifier("endmacro")
		p.expect(tCloseStatement, "Expected %} token")
		return r
	case "for":
		p.cur++
		r := p.parseFor()
		p.expect(tOpenStatement, "Expected {% token")
		p.expectIdentifier("endfor")
		p.expect(tCloseStatement, "Expected %} token")
		return r
	case "call":
		p.cur++
		var callerArgs []node
		if p.is(tOpenParen) {
			callerArgs = p.parseArgs(true)
		}
		callee := p.parsePrimary()
		if _, ok := callee.(*identNode); !ok {
			p.fail("Expected identifier following call statement")
		}
		args := p.parseArgs(false)
		p.expect(tCloseStatement, "Expected closing statement token")
		var body []node
		for !p.isStatement("endcall") {
			body = append(body, p.parseAny())
		}
		p.expect(tOpenStatement, "Expected '{%'")
		p.expectIdentifier("endcall")
		p.expect(tCloseStatement, "Expected closing statement token")
		return &callStmt{call: &callExpr{callee, args}, callerArgs: callerArgs, body: body}
	case "break":
		p.cur++
		p.expect(tCloseStatement, "Expected closing statement token")
		return &breakNode{}
	case "continue":
		p.cur++
		p.expect(tCloseStatement, "Expected closing statement token")
		return &contNode{}
	case "filter":
		p.cur++
		f := p.parsePrimary()
		if _, ok := f.(*identNode); ok && p.is(tOpenParen) {
			f = p.parseCall(f)
		}
		p.expect(tCloseStatement, "Expected closing statement token")
		var body []node
		for !p.isStatement("endfilter") {
			body = append(body, p.parseAny())
		}
		p.expect(tOpenStatement, "Expected '{%'")
		p.expectIdentifier("endfilter")
		p.expect(tCloseStatement, "Expected '%}'")
		return &filterStmt{filter: f, body: body}
	default:
		p.fail("Unknown statement type: %s", name)
	}
	return nil
}

func (p *parser) parseSet() node {
	left := p.parseExpressionSequence(false)
	var value node
	var body []node
	if p.is(tEquals) {
		p.cur++
		value = p.parseExpressionSequence(false)
	} else {
		p.expect(tCloseStatement, "Expected %} token")
		for !p.isStatement("endset") {
			body = append(body, p.parseAny())
		}
		p.expect(tOpenStatement, "Expected {% token")
		p.expectIdentifier("endset")
	}
	p.expect(tCloseStatement, "Expected closing statement token")
	return &setNode{assignee: left, value: value, body: body}
}

func (p *parser) parseIf() *ifNode {
	test := p.parseExpression()
	p.expect(tCloseStatement, "Expected closing statement token")
	n := &ifNode{test: test}
	for !p.isStatement("elif", "else", "endif") {
		n.body = append(n.body, p.parseAny())
	}
	if p.isStatement("elif") {
		p.cur += 2
		n.alternate = append(n.alternate, p.parseIf())
	} else if p.isStatement("else") {
		p.cur += 2
		p.expect(tCloseStatement, "Expected closing statement token")
		for !p.isStatement("endif") {
			n.alternate = append(n.alternate, p.parseAny())
		}
	}
	return n
}

func (p *parser) parseMacro() node {
	name, ok := p.parsePrimary().(*identNode)
	if !ok {
		p.fail("Expected identifier following macro statement")
	}
	args := p.parseArgs(true)
	p.expect(tCloseStatement, "Expected closing statement token")
	n := &macroNode{name: name, args: args}
	for !p.isStatement("endmacro") {
		n.body = append(n.body, p.parseAny())
	}
	return n
}

func (p *parser) parseExpressionSequence(primary bool) node {
	fn := p.parseExpression
	if primary {
		fn = p.parsePrimary
	}
	exprs := []node{fn()}
	isTuple := p.is(tComma)
	for isTuple {
		p.cur++
		exprs = append(exprs, fn())
		if !p.is(tComma) {
			break
		}
	}
	if isTuple {
		return &tupleLit{exprs}
	}
	return exprs[0]
}

func (p *parser) parseFor() node {
	lv := p.parseExpressionSequence(true)
	switch lv.(type) {
	case *identNode, *tupleLit:
	default:
		p.fail("Expected identifier/tuple for the loop variable, got %s instead", nodeType(lv))
	}
	if !p.isIdentifier("in") {
		p.fail("Expected `in` keyword following loop variable")
	}
	p.cur++
	it := p.parseExpression()
	p.expect(tCloseStatement, "Expected closing statement token")
	n := &forNode{loopvar: lv, iterable: it}
	for !p.isStatement("endfor", "else") {
		n.body = append(n.body, p.parseAny())
	}
	if p.isStatement("else") {
		p.cur += 2
		p.expect(tCloseStatement, "Expected closing statement token")
		for !p.isStatement("endfor") {
			n.defaultBlock = append(n.defaultBlock, p.parseAny())
		}
	}
	return n
}

func (p *parser) parseExpression() node { return p.parseIfExpression() }

func (p *parser) parseIfExpression() node {
	a := p.parseOr()
	if p.isIdentifier("if") {
		p.cur++
		test := p.parseOr()
		if p.isIdentifier("else") {
			p.cur++
			f := p.parseIfExpression()
			return &ternaryExpr{test, a, f}
		}
		return &selectExpr{a, test}
	}
	return a
}

func (p *parser) parseOr() node {
	left := p.parseAnd()
	for p.isIdentifier("or") {
		p.cur++
		left = &binaryExpr{"or", left, p.parseAnd()}
	}
	return left
}

func (p *parser) parseAnd() node {
	left := p.parseNot()
	for p.isIdentifier("and") {
		p.cur++
		left = &binaryExpr{"and", left, p.parseNot()}
	}
	return left
}

func (p *parser) parseNot() node {
	var right node
	for p.isIdentifier("not") {
		p.cur++
		right = &unaryExpr{"not", p.parseNot()}
	}
	if right != nil {
		return right
	}
	return p.parseComparison()
}

func (p *parser) parseComparison() node {
	left := p.parseAdditive()
	for {
		var op string
		if p.isIdentifier("not", "in") {
			op = "not in"
			p.cur += 2
		} else if p.isIdentifier("in") {
			op = "in"
			p.cur++
		} else if p.is(tComparison) {
			op = p.toks[p.cur].value
			p.cur++
		} else {
			break
		}
		left = &binaryExpr{op, left, p.parseAdditive()}
	}
	return left
}

func (p *parser) parseAdditive() node {
	left := p.parseMultiplicative()
	for p.is(tAdditive) {
		op := p.toks[p.cur].value
		p.cur++
		left = &binaryExpr{op, left, p.parseMultiplicative()}
	}
	return left
}

func (p *parser) parseCallMember() node {
	m := p.parseMember(p.parsePrimary())
	if p.is(tOpenParen) {
		return p.parseCall(m)
	}
	return m
}

func (p *parser) parseCall(callee node) node {
	var e node = &callExpr{callee, p.parseArgs(false)}
	e = p.parseMember(e)
	if p.is(tOpenParen) {
		e = p.parseCall(e)
	}
	return e
}

func (p *parser) parseArgs(params bool) []node {
	p.expect(tOpenParen, "Expected opening parenthesis for arguments list")
	args := p.parseArgumentsList(params)
	p.expect(tCloseParen, "Expected closing parenthesis for arguments list")
	return args
}

func (p *parser) parseArgumentsList(params bool) []node {
	var args []node
	names := map[string]bool{}
	sawKw, sawSpread := false, false
	for !p.is(tCloseParen) {
		if p.cur >= len(p.toks) {
			p.fail("Parser Error: unexpected end of template in an argument list")
		}
		isKwSpread := p.is(tExponent)
		isPosSpread := p.is(tMultiplicative) && p.toks[p.cur].value == "*"
		if params && (isKwSpread || isPosSpread) {
			p.fail("Argument unpacking is not allowed in parameter declarations")
		}
		if isKwSpread {
			p.cur++
			args = append(args, &kwSpreadExpr{p.parseExpression()})
			if p.is(tComma) {
				p.cur++
			}
			if !p.is(tCloseParen) {
				p.fail("Expected closing parenthesis: `**` must be applied to the final argument")
			}
			break
		}
		var arg node
		if isPosSpread {
			if sawSpread {
				p.fail("Only one `*` argument unpacking is allowed")
			}
			sawSpread = true
			p.cur++
			arg = &spreadExpr{p.parseExpression()}
		} else {
			arg = p.parseExpression()
			if p.is(tEquals) {
				p.cur++
				id, ok := arg.(*identNode)
				if !ok {
					if params {
						p.fail("Expected identifier for parameter declaration")
					}
					p.fail("Expected identifier for keyword argument")
				}
				arg = &kwargExpr{id, p.parseExpression()}
			}
			if params {
				var name string
				switch a := arg.(type) {
				case *identNode:
					name = a.value
				case *kwargExpr:
					name = a.key.value
				default:
					p.fail("Expected identifier for parameter declaration")
				}
				if names[name] {
					p.fail("Duplicate parameter name: %s", name)
				}
				names[name] = true
			}
			if _, ok := arg.(*kwargExpr); ok {
				sawKw = true
			} else if sawKw {
				if params {
					p.fail("Non-default argument follows default argument")
				}
				p.fail("Positional arguments must come before keyword arguments")
			} else if sawSpread {
				p.fail("Positional arguments must not follow `*` argument unpacking")
			}
		}
		args = append(args, arg)
		if p.is(tComma) {
			p.cur++
		}
	}
	return args
}

func (p *parser) parseMemberArgs() node {
	var slices []node
	isSlice := false
	for !p.is(tCloseSquare) {
		if p.cur >= len(p.toks) {
			p.fail("Parser Error: unexpected end of template in a subscript")
		}
		if p.is(tColon) {
			slices = append(slices, nil)
			p.cur++
			isSlice = true
		} else {
			slices = append(slices, p.parseExpression())
			if p.is(tColon) {
				p.cur++
				isSlice = true
			}
		}
	}
	if len(slices) == 0 {
		p.fail("Expected at least one argument for member/slice expression")
	}
	if isSlice {
		if len(slices) > 3 {
			p.fail("Expected 0-3 arguments for slice expression")
		}
		s := &sliceExpr{}
		s.start = slices[0]
		if len(slices) > 1 {
			s.stop = slices[1]
		}
		if len(slices) > 2 {
			s.step = slices[2]
		}
		return s
	}
	return slices[0]
}

func (p *parser) parseMember(obj node) node {
	for p.is(tDot) || p.is(tOpenSquare) {
		op := p.toks[p.cur]
		p.cur++
		computed := op.typ == tOpenSquare
		var prop node
		if computed {
			prop = p.parseMemberArgs()
			p.expect(tCloseSquare, "Expected closing square bracket")
		} else {
			prop = p.parsePrimary()
			switch prop.(type) {
			case *identNode, *intLit:
			default:
				p.fail("Expected identifier or integer following dot operator")
			}
		}
		obj = &memberExpr{obj, prop, computed}
	}
	return obj
}

func (p *parser) parseMultiplicative() node {
	left := p.parsePower()
	for p.is(tMultiplicative) {
		op := p.toks[p.cur].value
		p.cur++
		left = &binaryExpr{op, left, p.parsePower()}
	}
	return left
}

func (p *parser) parsePower() node {
	left := p.parseTest()
	for p.is(tExponent) {
		p.cur++
		left = &binaryExpr{"**", left, p.parseTest()}
	}
	return left
}

func (p *parser) parseTest() node {
	operand := p.parseFilter()
	for p.isIdentifier("is") {
		p.cur++
		negate := p.isIdentifier("not")
		if negate {
			p.cur++
		}
		f, ok := p.parsePrimary().(*identNode)
		if !ok {
			p.fail("Expected identifier for the test")
		}
		operand = &testExpr{operand, negate, f}
	}
	return operand
}

func (p *parser) parseFilter() node {
	operand := p.parseUnarySign()
	for p.is(tPipe) {
		p.cur++
		var f node = p.parsePrimary()
		if _, ok := f.(*identNode); !ok {
			p.fail("Expected identifier for the filter")
		}
		if p.is(tOpenParen) {
			f = p.parseCall(f)
		}
		operand = &filterExpr{operand, f}
	}
	return operand
}

func (p *parser) parseUnarySign() node {
	if t := p.tok(p.cur); t != nil && (t.typ == tUnary || t.typ == tAdditive) && (t.value == "-" || t.value == "+") {
		p.cur++
		return &unaryExpr{t.value, p.parseUnarySign()}
	}
	return p.parseCallMember()
}

func (p *parser) parsePrimary() node {
	t := p.tok(p.cur)
	if t == nil {
		p.fail("Parser Error: unexpected end of template")
	}
	p.cur++
	switch t.typ {
	case tNumeric:
		f, err := strconv.ParseFloat(t.value, 64)
		if err != nil {
			p.fail("bad number %q", t.value)
		}
		if strings.Contains(t.value, ".") {
			return &floatLit{f}
		}
		return &intLit{f}
	case tString:
		v := t.value
		for p.is(tString) {
			v += p.toks[p.cur].value
			p.cur++
		}
		return &strLit{v}
	case tIdent:
		return &identNode{t.value}
	case tOpenParen:
		e := p.parseExpressionSequence(false)
		p.expect(tCloseParen, "Expected closing parenthesis, got ${tokens[current].type} instead.")
		return e
	case tOpenSquare:
		var vals []node
		for !p.is(tCloseSquare) {
			if p.cur >= len(p.toks) {
				p.fail("Parser Error: unexpected end of template in a list")
			}
			vals = append(vals, p.parseExpression())
			if p.is(tComma) {
				p.cur++
			}
		}
		p.cur++
		return &arrayLit{vals}
	case tOpenCurly:
		o := &objectLit{}
		for !p.is(tCloseCurly) {
			if p.cur >= len(p.toks) {
				p.fail("Parser Error: unexpected end of template in a mapping")
			}
			k := p.parseExpression()
			p.expect(tColon, "Expected colon between key and value in object literal")
			v := p.parseExpression()
			o.keys = append(o.keys, k)
			o.values = append(o.values, v)
			if p.is(tComma) {
				p.cur++
			}
		}
		p.cur++
		return o
	}
	p.fail("Unexpected token: %s", t.typ)
	return nil
}
