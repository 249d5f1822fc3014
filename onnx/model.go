// Package onnx reads, edits and writes ONNX models (ModelProto) in pure Go,
// without ONNX Runtime.
//
// It decodes only what graph surgery needs — nodes, their attributes and
// subgraphs, initializers, inputs, outputs, value_info and opset imports —
// and keeps every other field as the exact bytes it was read from, so a
// model written back is the model read, plus the edits.
//
// Initializer bytes are never copied: a Model read from a file keeps its
// tensors as positions in that file, and Marshal writes a derived graph
// whose large tensors are external data pointing back into the source file
// (or into the source's own external-data files). Such a graph is tiny; it
// is loaded from memory with the source file's folder as the external-data
// folder, so disk and RAM stay about one copy of the weights.
//
// A hand-written wire reader was chosen over types generated from
// onnx.proto: it needs no protoc, it keeps unknown fields byte-exact, it
// records each tensor's file offset (what zero-copy external references
// need), and it bounds every allocation by the input's own size.
package onnx

import (
	"fmt"
)

// Element types (TensorProto.DataType).
const (
	Float   = 1
	Uint8   = 2
	Int8    = 3
	Int32   = 6
	Int64   = 7
	Bool    = 9
	Float16 = 10
	Double  = 11
)

// maxDepth bounds subgraph nesting (If inside If ...).
const maxDepth = 16

// Opset is one opset_import entry.
type Opset struct {
	Domain  string
	Version int64
}

// Model is a parsed ModelProto.
type Model struct {
	IRVersion int64
	Opsets    []Opset
	Graph     *Graph
	other     [][]byte // undecoded top-level fields, verbatim
	src       *source
}

// Graph is a GraphProto.
type Graph struct {
	Name         string
	Nodes        []*Node
	Initializers []*Tensor
	Inputs       []*ValueInfo
	Outputs      []*ValueInfo
	ValueInfo    []*ValueInfo
	other        [][]byte
}

// Node is a NodeProto.
type Node struct {
	Name    string
	OpType  string
	Domain  string
	Inputs  []string
	Outputs []string
	Attrs   []*Attr
	other   [][]byte
}

// Attr is an AttributeProto. Scalars, lists, tensors and subgraphs are
// decoded; the attribute is written back from raw unless it holds a graph
// or was created by an edit (raw == nil).
type Attr struct {
	Name   string
	Type   int64
	I      int64
	F      float32
	S      string
	Ints   []int64
	T      *Tensor
	G      *Graph
	Graphs []*Graph
	raw    []byte
	other  [][]byte
}

// Attribute types used here (AttributeProto.AttributeType).
const (
	AttrFloat  = 1
	AttrInt    = 2
	AttrString = 3
	AttrTensor = 4
	AttrGraph  = 5
	AttrInts   = 7
	AttrGraphs = 10
)

// Tensor is a TensorProto: an initializer or a Constant's value. Its data
// stays in the source file: Raw is the raw_data payload (a sub-slice of the
// source) at file offset RawOff, or External describes where the source's
// external data lives.
type Tensor struct {
	Name     string
	DataType int64
	Dims     []int64
	Raw      []byte
	RawOff   int64
	External map[string]string // location, offset, length (data_location EXTERNAL)
	raw      []byte            // the whole TensorProto, for verbatim copies
	other    [][]byte          // fields besides name, dims, data_type, raw_data, external_data, data_location
}

// ValueInfo is a ValueInfoProto of a tensor type. Dims holds a dimension's
// value, or -1 for a symbolic or unknown one (its name is in DimParams).
type ValueInfo struct {
	Name      string
	ElemType  int64
	Dims      []int64
	DimParams []string
	HasShape  bool
	raw       []byte // verbatim when unchanged (nil when built by an edit)
}

// Bytes returns the tensor's data size in bytes when it is known.
func (t *Tensor) Bytes() int64 {
	if t.Raw != nil {
		return int64(len(t.Raw))
	}
	var n int64
	fmt.Sscan(t.External["length"], &n)
	return n
}

// Parse decodes a ModelProto. b is not copied: the Model refers into it.
func Parse(b []byte) (*Model, error) {
	return parseModel(b, nil)
}

func parseModel(b []byte, src *source) (*Model, error) {
	m := &Model{src: src}
	r := newReader(b, 0)
	var f field
	for r.next(&f) {
		switch {
		case f.num == 1 && f.wt == wtVarint:
			m.IRVersion = int64(f.v)
		case f.num == 8 && f.wt == wtBytes:
			o, err := parseOpset(&f)
			if err != nil {
				return nil, err
			}
			m.Opsets = append(m.Opsets, o)
		case f.num == 7 && f.wt == wtBytes:
			if m.Graph != nil {
				return nil, fmt.Errorf("onnx: two graphs in one model: %w", ErrMalformed)
			}
			g, err := parseGraph(&f, 0)
			if err != nil {
				return nil, err
			}
			m.Graph = g
		default:
			m.other = append(m.other, f.raw)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if m.Graph == nil {
		return nil, fmt.Errorf("onnx: no graph in the model: %w", ErrMalformed)
	}
	return m, nil
}

func parseOpset(f *field) (Opset, error) {
	var o Opset
	r := f.sub()
	var g field
	for r.next(&g) {
		switch {
		case g.num == 1 && g.wt == wtBytes:
			o.Domain = string(g.b)
		case g.num == 2 && g.wt == wtVarint:
			o.Version = int64(g.v)
		}
	}
	return o, r.err
}

func parseGraph(f *field, depth int) (*Graph, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("onnx: subgraphs nested deeper than %d: %w", maxDepth, ErrMalformed)
	}
	g := &Graph{}
	r := f.sub()
	var h field
	for r.next(&h) {
		if h.wt != wtBytes {
			g.other = append(g.other, h.raw)
			continue
		}
		switch h.num {
		case 1:
			n, err := parseNode(&h, depth)
			if err != nil {
				return nil, err
			}
			g.Nodes = append(g.Nodes, n)
		case 2:
			g.Name = string(h.b)
		case 5:
			t, err := parseTensor(&h)
			if err != nil {
				return nil, err
			}
			g.Initializers = append(g.Initializers, t)
		case 11, 12, 13:
			v, err := parseValueInfo(&h)
			if err != nil {
				return nil, err
			}
			switch h.num {
			case 11:
				g.Inputs = append(g.Inputs, v)
			case 12:
				g.Outputs = append(g.Outputs, v)
			default:
				g.ValueInfo = append(g.ValueInfo, v)
			}
		default:
			g.other = append(g.other, h.raw)
		}
	}
	return g, r.err
}

func parseNode(f *field, depth int) (*Node, error) {
	n := &Node{}
	r := f.sub()
	var h field
	for r.next(&h) {
		if h.wt != wtBytes {
			n.other = append(n.other, h.raw)
			continue
		}
		switch h.num {
		case 1:
			n.Inputs = append(n.Inputs, string(h.b))
		case 2:
			n.Outputs = append(n.Outputs, string(h.b))
		case 3:
			n.Name = string(h.b)
		case 4:
			n.OpType = string(h.b)
		case 7:
			n.Domain = string(h.b)
		case 5:
			a, err := parseAttr(&h, depth)
			if err != nil {
				return nil, fmt.Errorf("onnx: node %q: %w", n.Name, err)
			}
			n.Attrs = append(n.Attrs, a)
		default:
			n.other = append(n.other, h.raw)
		}
	}
	return n, r.err
}

func parseAttr(f *field, depth int) (*Attr, error) {
	a := &Attr{raw: f.b}
	r := f.sub()
	var h field
	for r.next(&h) {
		switch {
		case h.num == 1 && h.wt == wtBytes:
			a.Name = string(h.b)
		case h.num == 20 && h.wt == wtVarint:
			a.Type = int64(h.v)
		case h.num == 3 && h.wt == wtVarint:
			a.I = int64(h.v)
		case h.num == 2 && h.wt == wtFixed32:
			a.F = float32frombits(uint32(h.v))
		case h.num == 4 && h.wt == wtBytes:
			a.S = string(h.b)
		case h.num == 8:
			var err error
			if a.Ints, err = h.ints(a.Ints); err != nil {
				return nil, err
			}
		case h.num == 5 && h.wt == wtBytes:
			t, err := parseTensor(&h)
			if err != nil {
				return nil, err
			}
			a.T = t
		case h.num == 6 && h.wt == wtBytes:
			g, err := parseGraph(&h, depth+1)
			if err != nil {
				return nil, err
			}
			a.G = g
		case h.num == 11 && h.wt == wtBytes:
			g, err := parseGraph(&h, depth+1)
			if err != nil {
				return nil, err
			}
			a.Graphs = append(a.Graphs, g)
		default:
			a.other = append(a.other, h.raw)
		}
	}
	return a, r.err
}

func parseTensor(f *field) (*Tensor, error) {
	t := &Tensor{raw: f.raw}
	r := f.sub()
	var h field
	external := false
	for r.next(&h) {
		switch {
		case h.num == 1:
			var err error
			if t.Dims, err = h.ints(t.Dims); err != nil {
				return nil, err
			}
		case h.num == 2 && h.wt == wtVarint:
			t.DataType = int64(h.v)
		case h.num == 8 && h.wt == wtBytes:
			t.Name = string(h.b)
		case h.num == 9 && h.wt == wtBytes:
			t.Raw, t.RawOff = h.b, h.off
		case h.num == 13 && h.wt == wtBytes:
			k, v, err := parseEntry(&h)
			if err != nil {
				return nil, err
			}
			if t.External == nil {
				t.External = map[string]string{}
			}
			t.External[k] = v
		case h.num == 14 && h.wt == wtVarint:
			external = h.v == 1
		default:
			t.other = append(t.other, h.raw)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	for _, d := range t.Dims {
		if d < 0 {
			return nil, fmt.Errorf("onnx: tensor %q: negative dimension %d: %w", t.Name, d, ErrMalformed)
		}
	}
	if external && t.External["location"] == "" {
		return nil, fmt.Errorf("onnx: tensor %q: external data without a location: %w", t.Name, ErrMalformed)
	}
	if !external {
		t.External = nil
	}
	return t, nil
}

func parseEntry(f *field) (k, v string, err error) {
	r := f.sub()
	var h field
	for r.next(&h) {
		if h.wt != wtBytes {
			continue
		}
		switch h.num {
		case 1:
			k = string(h.b)
		case 2:
			v = string(h.b)
		}
	}
	return k, v, r.err
}

func parseValueInfo(f *field) (*ValueInfo, error) {
	v := &ValueInfo{raw: f.b}
	r := f.sub()
	var h field
	for r.next(&h) {
		switch {
		case h.num == 1 && h.wt == wtBytes:
			v.Name = string(h.b)
		case h.num == 2 && h.wt == wtBytes:
			if err := parseType(&h, v); err != nil {
				return nil, err
			}
		}
	}
	return v, r.err
}

// parseType reads TypeProto.tensor_type (other kinds are left undecoded).
func parseType(f *field, v *ValueInfo) error {
	r := f.sub()
	var h field
	for r.next(&h) {
		if h.num != 1 || h.wt != wtBytes {
			continue
		}
		tr := h.sub()
		var t field
		for tr.next(&t) {
			switch {
			case t.num == 1 && t.wt == wtVarint:
				v.ElemType = int64(t.v)
			case t.num == 2 && t.wt == wtBytes:
				v.HasShape = true
				sr := t.sub()
				var d field
				for sr.next(&d) {
					if d.num != 1 || d.wt != wtBytes {
						continue
					}
					val, param := int64(-1), ""
					dr := d.sub()
					var e field
					for dr.next(&e) {
						switch {
						case e.num == 1 && e.wt == wtVarint:
							val = int64(e.v)
						case e.num == 2 && e.wt == wtBytes:
							param = string(e.b)
						}
					}
					if dr.err != nil {
						return dr.err
					}
					v.Dims = append(v.Dims, val)
					v.DimParams = append(v.DimParams, param)
				}
				if sr.err != nil {
					return sr.err
				}
			}
		}
		if tr.err != nil {
			return tr.err
		}
	}
	return r.err
}
