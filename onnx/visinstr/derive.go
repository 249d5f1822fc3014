package visinstr

import (
	"math"
	"slices"
	"strconv"

	"github.com/vlmrun/vlmrun/onnx"
)

// Outputs lists the extra outputs the derived graph has, in order:
// OutAttention, then OutPreProj and OutKeys when found.
func (p *Plan) Outputs() []string {
	out := []string{OutAttention}
	if p.PreProj != "" {
		out = append(out, OutPreProj)
	}
	if p.KeysT != "" {
		out = append(out, OutKeys)
	}
	return out
}

// Model returns the derived graph: the source graph, unchanged, plus the
// nodes computing the extra outputs (all float32, batch of one image):
//
//	OutAttention (1, T):     the Softmax output viewed as (X, T, T) — X =
//	                         batch·heads or heads — then row 0 (CLS) or the
//	                         mean over query rows (Received), then the mean
//	                         over X;
//	OutPreProj   (1, T, Dz): the residual stream, viewed as (1, −1, Dz);
//	OutKeys      (1, T, dh): Kᵀ viewed as (X, dh, T), mean over X,
//	                         transposed.
//
// With Order (a window-attention graph) each of them is then viewed as
// (len(Order), −1), gathered by Order and given its shape back, so that
// its rows follow the features' order.
//
// Its large tensors refer into the source file (load it with the source's
// folder as the external-data folder).
func (p *Plan) Model() *onnx.Model {
	src := p.x.G
	g := *src
	g.Nodes = slices.Clone(src.Nodes)
	g.Initializers = slices.Clone(src.Initializers)
	g.Outputs = slices.Clone(src.Outputs)
	b := &builder{g: &g, x: p.x, opset: defaultOpset(p.m)}

	// out names where an extra is written: the output itself, or a
	// tensor in window order that reorder then gathers into it
	out := func(name string) string {
		if p.Order == "" {
			return name
		}
		return b.name("window_order") + "_" + name
	}
	a := b.float(p.Softmax)
	a3 := b.reshape(a, b.shapeTail(a, 2, -1))
	if p.Options.Attention == CLS {
		row := b.node("Gather", []string{a3, b.ints("row0", nil, 0)}, onnx.IntAttr("axis", 1))
		b.reorder(b.mean(row, out(OutAttention), 0, true), OutAttention, p.Order)
	} else {
		rows := b.mean(a3, "", 1, false)
		b.reorder(b.mean(rows, out(OutAttention), 0, true), OutAttention, p.Order)
	}
	if p.PreProj != "" {
		z := b.float(p.PreProj)
		o := out(OutPreProj)
		b.nodeTo("Reshape", []string{z, b.shapeTail(z, 1, 1, -1)}, o)
		b.reorder(o, OutPreProj, p.Order)
	}
	if p.KeysT != "" {
		k := b.float(p.KeysT)
		k3 := b.reshape(k, b.shapeTail(k, 2, -1))
		km := b.mean(k3, "", 0, true)
		o := out(OutKeys)
		b.nodeTo("Transpose", []string{km}, o, onnx.IntsAttr("perm", 0, 2, 1))
		b.reorder(o, OutKeys, p.Order)
	}
	for _, n := range p.Outputs() {
		g.Outputs = append(g.Outputs, onnx.NewValueInfo(n, onnx.Float, nil, nil))
	}
	return p.m.Derive(&g)
}

// builder appends nodes and constants to a graph copy.
type builder struct {
	g     *onnx.Graph
	x     *onnx.Index
	opset int64
	n     int
}

func (b *builder) name(op string) string {
	b.n++
	return "vlmrun/visx/" + op + "_" + strconv.Itoa(b.n)
}

// node appends op on inputs with one fresh output, which it returns.
func (b *builder) node(op string, inputs []string, attrs ...*onnx.Attr) string {
	nm := b.name(op)
	b.g.Nodes = append(b.g.Nodes, onnx.NewNode(nm, op, inputs, []string{nm + "_output"}, attrs...))
	return nm + "_output"
}

// nodeTo appends op on inputs writing the named output.
func (b *builder) nodeTo(op string, inputs []string, out string, attrs ...*onnx.Attr) {
	b.g.Nodes = append(b.g.Nodes, onnx.NewNode(b.name(op), op, inputs, []string{out}, attrs...))
}

// ints adds an int64 constant (dims nil: a scalar).
func (b *builder) ints(tag string, dims []int64, v ...int64) string {
	nm := b.name(tag)
	if dims == nil {
		dims = []int64{}
	}
	b.g.Initializers = append(b.g.Initializers, onnx.Int64Tensor(nm, dims, v...))
	return nm
}

// float casts t to float32 unless it already is.
func (b *builder) float(t string) string {
	if b.x.ElemType(t) == onnx.Float {
		return t
	}
	return b.node("Cast", []string{t}, onnx.IntAttr("to", onnx.Float))
}

// shapeTail returns the shape lead ++ the last k dimensions of t.
func (b *builder) shapeTail(t string, k int, lead ...int64) string {
	sh := b.node("Shape", []string{t})
	tail := b.node("Slice", []string{sh, b.ints("start", []int64{1}, int64(-k)),
		b.ints("end", []int64{1}, math.MaxInt64), b.ints("axes", []int64{1}, 0)})
	return b.node("Concat", []string{b.ints("lead", []int64{int64(len(lead))}, lead...), tail}, onnx.IntAttr("axis", 0))
}

func (b *builder) reshape(t, shape string) string {
	return b.node("Reshape", []string{t, shape})
}

// mean appends ReduceMean over one axis (out "" = a fresh name).
func (b *builder) mean(t, out string, axis int64, keep bool) string {
	k := int64(0)
	if keep {
		k = 1
	}
	inputs := []string{t}
	attrs := []*onnx.Attr{onnx.IntAttr("keepdims", k)}
	if b.opset >= 18 {
		inputs = append(inputs, b.ints("axes", []int64{1}, axis))
	} else {
		attrs = append(attrs, onnx.IntsAttr("axes", axis))
	}
	if out == "" {
		return b.node("ReduceMean", inputs, attrs...)
	}
	b.nodeTo("ReduceMean", inputs, out, attrs...)
	return out
}

// reorder writes t gathered by the token order into out: t viewed as
// (len(order), −1), its rows gathered by order, reshaped to t's shape.
// Without an order (t == out) it does nothing.
func (b *builder) reorder(t, out, order string) {
	if order == "" || t == out {
		return
	}
	shape := b.node("Shape", []string{t})
	rows := b.node("Concat", []string{b.node("Shape", []string{order}), b.ints("rest", []int64{1}, -1)}, onnx.IntAttr("axis", 0))
	g := b.node("Gather", []string{b.reshape(t, rows), order}, onnx.IntAttr("axis", 0))
	b.nodeTo("Reshape", []string{g, shape}, out)
}
