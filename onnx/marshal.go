package onnx

import (
	"math"
	"strconv"
)

func float32frombits(b uint32) float32 { return math.Float32frombits(b) }

// inlineLimit: tensors with fewer raw bytes are copied into derived graphs;
// larger ones become references into the source file.
const inlineLimit = 4096

// Marshal encodes the model. Tensors of a model read with Open whose data
// is at least 4 KiB are written as external data referring to the source
// file (location = its base name, the byte offset of the data in it) or to
// the source's own external-data file; smaller ones, and every tensor of a
// model from Parse, are copied. Load the result with the source file's
// folder as the external-data folder (Model.Dir).
func (m *Model) Marshal() []byte {
	return m.marshal(false)
}

// MarshalSelfContained encodes the model with every tensor's data copied
// in (tensors the source itself keeps as external data stay external).
// For small models and tests: the output holds the weights.
func (m *Model) MarshalSelfContained() []byte {
	return m.marshal(true)
}

func (m *Model) marshal(inline bool) []byte {
	if inline {
		cp := *m
		cp.src = nil
		m = &cp
	}
	b := appendInt(nil, 1, m.IRVersion)
	for _, o := range m.Opsets {
		b = appendMsg(b, 8, func(p []byte) []byte {
			if o.Domain != "" {
				p = appendString(p, 1, o.Domain)
			}
			return appendInt(p, 2, o.Version)
		})
	}
	for _, raw := range m.other {
		b = append(b, raw...)
	}
	return appendBytes(b, 7, m.marshalGraph(nil, m.Graph))
}

func (m *Model) marshalGraph(b []byte, g *Graph) []byte {
	for _, n := range g.Nodes {
		b = appendBytes(b, 1, m.marshalNode(nil, n))
	}
	if g.Name != "" {
		b = appendString(b, 2, g.Name)
	}
	for _, t := range g.Initializers {
		b = appendBytes(b, 5, m.marshalTensor(nil, t, true))
	}
	for _, v := range g.Inputs {
		b = appendBytes(b, 11, v.marshal())
	}
	for _, v := range g.Outputs {
		b = appendBytes(b, 12, v.marshal())
	}
	for _, v := range g.ValueInfo {
		b = appendBytes(b, 13, v.marshal())
	}
	for _, raw := range g.other {
		b = append(b, raw...)
	}
	return b
}

func (m *Model) marshalNode(b []byte, n *Node) []byte {
	for _, s := range n.Inputs {
		b = appendString(b, 1, s)
	}
	for _, s := range n.Outputs {
		b = appendString(b, 2, s)
	}
	if n.Name != "" {
		b = appendString(b, 3, n.Name)
	}
	b = appendString(b, 4, n.OpType)
	for _, a := range n.Attrs {
		b = appendBytes(b, 5, m.marshalAttr(nil, a))
	}
	if n.Domain != "" {
		b = appendString(b, 7, n.Domain)
	}
	for _, raw := range n.other {
		b = append(b, raw...)
	}
	return b
}

func (m *Model) marshalAttr(b []byte, a *Attr) []byte {
	if a.raw != nil && a.G == nil && a.Graphs == nil {
		return append(b, a.raw...)
	}
	b = appendString(b, 1, a.Name)
	switch {
	case a.G != nil:
		b = appendBytes(b, 6, m.marshalGraph(nil, a.G))
	case a.Graphs != nil:
		for _, g := range a.Graphs {
			b = appendBytes(b, 11, m.marshalGraph(nil, g))
		}
	case a.T != nil:
		b = appendBytes(b, 5, m.marshalTensor(nil, a.T, false))
	case a.Type == AttrInts:
		b = appendPacked(b, 8, a.Ints)
	case a.Type == AttrInt:
		b = appendInt(b, 3, a.I)
	case a.Type == AttrFloat:
		b = appendTag(b, 2, wtFixed32)
		u := math.Float32bits(a.F)
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	case a.Type == AttrString:
		b = appendString(b, 4, a.S)
	}
	for _, raw := range a.other {
		b = append(b, raw...)
	}
	return appendInt(b, 20, a.Type)
}

// marshalTensor writes t; ref allows a large tensor to become a reference
// into the source file (initializers; never attribute values).
func (m *Model) marshalTensor(b []byte, t *Tensor, ref bool) []byte {
	large := ref && t.Raw != nil && len(t.Raw) >= inlineLimit && m.src != nil
	if t.raw != nil && !large && t.External == nil {
		// Verbatim: strip the tag and length (t.raw is the whole field).
		r := newReader(t.raw, 0)
		var f field
		if r.next(&f) {
			return append(b, f.b...)
		}
	}
	if len(t.Dims) > 0 {
		b = appendPacked(b, 1, t.Dims)
	}
	b = appendInt(b, 2, t.DataType)
	b = appendString(b, 8, t.Name)
	for _, raw := range t.other {
		b = append(b, raw...)
	}
	switch {
	case large:
		ext := [][2]string{{"location", m.src.base}, {"offset", strconv.FormatInt(t.RawOff, 10)},
			{"length", strconv.Itoa(len(t.Raw))}}
		for _, kv := range ext {
			b = appendMsg(b, 13, func(p []byte) []byte {
				return appendString(appendString(p, 1, kv[0]), 2, kv[1])
			})
		}
		b = appendInt(b, 14, 1)
	case t.External != nil:
		for _, k := range []string{"location", "offset", "length", "checksum"} {
			if v, ok := t.External[k]; ok {
				b = appendMsg(b, 13, func(p []byte) []byte {
					return appendString(appendString(p, 1, k), 2, v)
				})
			}
		}
		b = appendInt(b, 14, 1)
	case t.Raw != nil:
		b = appendBytes(b, 9, t.Raw)
	}
	return b
}

func (v *ValueInfo) marshal() []byte {
	if v.raw != nil {
		return v.raw
	}
	b := appendString(nil, 1, v.Name)
	return appendMsg(b, 2, func(p []byte) []byte {
		return appendMsg(p, 1, func(q []byte) []byte {
			q = appendInt(q, 1, v.ElemType)
			if !v.HasShape {
				return q
			}
			return appendMsg(q, 2, func(s []byte) []byte {
				for i, d := range v.Dims {
					s = appendMsg(s, 1, func(e []byte) []byte {
						if d >= 0 {
							return appendInt(e, 1, d)
						}
						if v.DimParams[i] != "" {
							return appendString(e, 2, v.DimParams[i])
						}
						return e
					})
				}
				return s
			})
		})
	})
}

// NewValueInfo returns a tensor value info; dims of -1 are symbolic, named
// by params (which may be nil).
func NewValueInfo(name string, elem int64, dims []int64, params []string) *ValueInfo {
	if params == nil {
		params = make([]string, len(dims))
	}
	return &ValueInfo{Name: name, ElemType: elem, Dims: dims, DimParams: params, HasShape: dims != nil}
}
