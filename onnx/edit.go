package onnx

import (
	"fmt"
	"slices"
)

// Index maps a graph's tensor names to the nodes that produce and consume
// them. It is a snapshot: rebuild it after editing the graph.
type Index struct {
	G         *Graph
	Producer  map[string]int   // tensor → index of the node producing it
	Consumers map[string][]int // tensor → nodes reading it (subgraph uses included)
	Inits     map[string]*Tensor
	Inputs    map[string]*ValueInfo
	known     map[string]*ValueInfo // inputs, outputs and value_info
	uses      [][]string            // per node: inputs plus outer names its subgraphs read
	types     map[string]int64
}

// NewIndex indexes g.
func NewIndex(g *Graph) *Index {
	x := &Index{G: g, Producer: map[string]int{}, Consumers: map[string][]int{},
		Inits: map[string]*Tensor{}, Inputs: map[string]*ValueInfo{}, known: map[string]*ValueInfo{},
		types: map[string]int64{}}
	for _, t := range g.Initializers {
		x.Inits[t.Name] = t
	}
	for _, v := range g.ValueInfo {
		x.known[v.Name] = v
	}
	for _, v := range g.Outputs {
		x.known[v.Name] = v
	}
	for _, v := range g.Inputs {
		x.Inputs[v.Name] = v
		x.known[v.Name] = v
	}
	x.uses = make([][]string, len(g.Nodes))
	for i, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				x.Producer[o] = i
			}
		}
		u := slices.Clone(n.Inputs)
		for _, a := range n.Attrs {
			for _, sg := range append(slices.Clone(a.Graphs), a.G) {
				if sg != nil {
					u = append(u, OuterNames(sg)...)
				}
			}
		}
		x.uses[i] = u
		for _, in := range u {
			if in != "" && (len(x.Consumers[in]) == 0 || x.Consumers[in][len(x.Consumers[in])-1] != i) {
				x.Consumers[in] = append(x.Consumers[in], i)
			}
		}
	}
	return x
}

// Uses returns the tensor names node i reads, including names from the
// enclosing scope that its subgraphs read.
func (x *Index) Uses(i int) []string { return x.uses[i] }

// OuterNames returns the names a subgraph reads from enclosing scopes: read
// by its nodes (or nested subgraphs) but neither produced there nor among
// its inputs or initializers.
func OuterNames(g *Graph) []string {
	local := map[string]bool{}
	for _, v := range g.Inputs {
		local[v.Name] = true
	}
	for _, t := range g.Initializers {
		local[t.Name] = true
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			local[o] = true
		}
	}
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if s != "" && !local[s] && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			add(in)
		}
		for _, a := range n.Attrs {
			for _, sg := range append(slices.Clone(a.Graphs), a.G) {
				if sg != nil {
					for _, s := range OuterNames(sg) {
						add(s)
					}
				}
			}
		}
	}
	for _, v := range g.Outputs {
		add(v.Name)
	}
	return out
}

// Ancestors marks the nodes needed to compute targets, not looking past
// the tensors in stop (treated as given).
func (x *Index) Ancestors(targets []string, stop map[string]bool) []bool {
	need := make([]bool, len(x.G.Nodes))
	stack := slices.Clone(targets)
	seen := map[string]bool{}
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if t == "" || seen[t] || stop[t] {
			continue
		}
		seen[t] = true
		p, ok := x.Producer[t]
		if !ok || need[p] {
			continue
		}
		need[p] = true
		stack = append(stack, x.uses[p]...)
	}
	return need
}

// Descendants marks the nodes that depend on any tensor in from.
func (x *Index) Descendants(from []string) []bool {
	dep := make([]bool, len(x.G.Nodes))
	stack := slices.Clone(from)
	seen := map[string]bool{}
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[t] {
			continue
		}
		seen[t] = true
		for _, c := range x.Consumers[t] {
			if !dep[c] {
				dep[c] = true
				stack = append(stack, x.G.Nodes[c].Outputs...)
			}
		}
	}
	return dep
}

// ElemType returns a tensor's element type: declared (input, output,
// value_info, initializer) or inferred from its producer by the ops'
// typing rules; 0 when unknown.
func (x *Index) ElemType(name string) int64 {
	if t, ok := x.types[name]; ok {
		return t
	}
	x.types[name] = 0 // cycle guard
	t := x.elemType(name)
	x.types[name] = t
	return t
}

func (x *Index) elemType(name string) int64 {
	if v, ok := x.known[name]; ok && v.ElemType != 0 {
		return v.ElemType
	}
	if t, ok := x.Inits[name]; ok {
		return t.DataType
	}
	p, ok := x.Producer[name]
	if !ok {
		return 0
	}
	n := x.G.Nodes[p]
	out := slices.Index(n.Outputs, name)
	in := func(i int) int64 {
		if i < len(n.Inputs) && n.Inputs[i] != "" {
			return x.ElemType(n.Inputs[i])
		}
		return 0
	}
	attr := func(a string) *Attr {
		for _, at := range n.Attrs {
			if at.Name == a {
				return at
			}
		}
		return nil
	}
	switch n.OpType {
	case "Cast":
		if a := attr("to"); a != nil {
			return a.I
		}
	case "CastLike":
		return in(1)
	case "Shape", "Size", "NonZero", "ArgMax", "ArgMin":
		return Int64
	case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf":
		return Bool
	case "Constant":
		for _, a := range n.Attrs {
			switch a.Name {
			case "value":
				if a.T != nil {
					return a.T.DataType
				}
			case "value_int", "value_ints":
				return Int64
			case "value_float", "value_floats":
				return Float
			}
		}
	case "ConstantOfShape":
		if a := attr("value"); a != nil && a.T != nil {
			return a.T.DataType
		}
		return Float
	case "DynamicQuantizeLinear":
		if out == 1 {
			return Float
		}
		return Uint8
	case "QuantizeLinear":
		if t := in(2); t != 0 {
			return t
		}
		return Uint8
	case "DequantizeLinear":
		return in(1)
	case "MatMulInteger", "ConvInteger":
		return Int32
	case "Where":
		return in(1)
	}
	for i := range n.Inputs {
		if t := in(i); t != 0 {
			return t
		}
	}
	return 0
}

// Extract returns a new graph computing outputs from inputs: the nodes
// needed (in their original, topological order), the initializers they
// read, the original graph inputs they reach, and the given inputs (which
// cut the graph: nothing before them is kept). Output types are taken from
// the graph's declarations or inferred.
func (x *Index) Extract(name string, outputs []string, inputs []*ValueInfo) (*Graph, error) {
	stop := map[string]bool{}
	for _, v := range inputs {
		stop[v.Name] = true
	}
	need := x.Ancestors(outputs, stop)
	var nodes []*Node
	for i, n := range x.G.Nodes {
		if need[i] {
			nodes = append(nodes, n)
		}
	}
	outs := make([]*ValueInfo, len(outputs))
	for i, o := range outputs {
		if _, ok := x.Producer[o]; !ok && !stop[o] && x.Inputs[o] == nil && x.Inits[o] == nil {
			return nil, fmt.Errorf("onnx: extract %s: no tensor %q in the graph", name, o)
		}
		v, err := x.OutputInfo(o)
		if err != nil {
			return nil, fmt.Errorf("onnx: extract %s: %w", name, err)
		}
		outs[i] = v
	}
	return x.Assemble(name, nodes, inputs, outs, nil), nil
}

// OutputInfo returns the declared value info of a tensor, or one with its
// inferred element type and no shape.
func (x *Index) OutputInfo(name string) (*ValueInfo, error) {
	if v, ok := x.known[name]; ok && v.ElemType != 0 {
		if v.Name == name {
			return v, nil
		}
	}
	t := x.ElemType(name)
	if t == 0 {
		return nil, fmt.Errorf("cannot tell the element type of %q", name)
	}
	return NewValueInfo(name, t, nil, nil), nil
}

// Assemble builds a graph from nodes (of x's graph, or new ones): inputs
// first, then the original graph inputs the nodes read that are not among
// them; the original initializers they read plus extra; the original
// value_info of the tensors they touch.
func (x *Index) Assemble(name string, nodes []*Node, inputs, outputs []*ValueInfo, extra []*Tensor) *Graph {
	g := &Graph{Name: name, Nodes: nodes, Inputs: slices.Clone(inputs), Outputs: outputs}
	given := map[string]bool{}
	for _, v := range inputs {
		given[v.Name] = true
	}
	refs := map[string]bool{}
	for _, n := range nodes {
		for _, in := range n.Inputs {
			refs[in] = true
		}
		for _, a := range n.Attrs {
			for _, sg := range append(slices.Clone(a.Graphs), a.G) {
				if sg != nil {
					for _, s := range OuterNames(sg) {
						refs[s] = true
					}
				}
			}
		}
	}
	for _, v := range outputs {
		refs[v.Name] = true
	}
	for _, t := range x.G.Initializers {
		if refs[t.Name] && !given[t.Name] {
			g.Initializers = append(g.Initializers, t)
		}
	}
	g.Initializers = append(g.Initializers, extra...)
	for _, v := range x.G.Inputs {
		if refs[v.Name] && !given[v.Name] && x.Inits[v.Name] == nil {
			g.Inputs = append(g.Inputs, v)
		}
	}
	for _, v := range x.G.ValueInfo {
		if refs[v.Name] && !given[v.Name] {
			g.ValueInfo = append(g.ValueInfo, v)
		}
	}
	return g
}

// Derive returns a model with the same header (IR version, opsets, other
// fields) and tensor source as m, holding graph g.
func (m *Model) Derive(g *Graph) *Model {
	return &Model{IRVersion: m.IRVersion, Opsets: m.Opsets, other: m.other, src: m.src, Graph: g}
}

// NewNode builds a node.
func NewNode(name, op string, inputs, outputs []string, attrs ...*Attr) *Node {
	return &Node{Name: name, OpType: op, Inputs: inputs, Outputs: outputs, Attrs: attrs}
}

// IntAttr, IntsAttr build attributes.
func IntAttr(name string, v int64) *Attr { return &Attr{Name: name, Type: AttrInt, I: v} }

// IntsAttr builds an integer-list attribute.
func IntsAttr(name string, v ...int64) *Attr { return &Attr{Name: name, Type: AttrInts, Ints: v} }

// Int64Tensor builds a small constant initializer.
func Int64Tensor(name string, dims []int64, vals ...int64) *Tensor {
	raw := make([]byte, 0, 8*len(vals))
	for _, v := range vals {
		u := uint64(v)
		raw = append(raw, byte(u), byte(u>>8), byte(u>>16), byte(u>>24), byte(u>>32), byte(u>>40), byte(u>>48), byte(u>>56))
	}
	return &Tensor{Name: name, DataType: Int64, Dims: dims, Raw: raw}
}
