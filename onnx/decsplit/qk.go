package decsplit

import (
	"fmt"
	"strconv"

	"github.com/vlmrun/vlmrun/onnx"
)

// Names of the outputs a stage adds for the layer whose pre-RoPE query and
// key projections were asked for (StagesQK).
const (
	QOut = "vlmrun_q" // float32 [1, s, heads·head_dim]: the query projection, before RoPE
	KOut = "vlmrun_k" // float32 [1, s, kv_heads·head_dim]: the key projection, before RoPE
)

// Projections finds layer l's query and key projections as they leave
// their matrix products (bias and, for quantized products, rescaling
// applied), before the reshape into heads and so before RoPE.
//
// Found structurally, not from names: among the matrix products of layer
// l (ancestors of its attention Softmax that no earlier layer's output
// needs) whose first operand comes from the hidden states and whose
// second does not (a projection by a weight; the q·kᵀ product has two
// computed operands), the key projection is the one that leads to
// present.l.key, the query projection the one that leads to neither
// present.l.key nor present.l.value. From the product's output the
// tensor taken follows single Add, Mul or Cast consumers (bias,
// dequantization scale, type cast) up to the Reshape into heads. A layer
// without a Softmax (fused attention), without exactly one such query and
// key product, or whose products do not end in a Reshape is refused with
// ErrUnrecognised.
func (p *Plan) Projections(l int) (q, k string, err error) {
	fail := func(format string, a ...any) (string, string, error) {
		return "", "", fmt.Errorf("decsplit: %s: pre-RoPE queries and keys of layer %d: %s: %w",
			p.File, l, fmt.Sprintf(format, a...), ErrUnrecognised)
	}
	if l < 0 || l >= p.Layers {
		return fail("no such layer (0..%d)", p.Layers-1)
	}
	sm := p.Softmax[l]
	if sm == "" {
		return fail("the layer has no separate attention Softmax (fused attention)")
	}
	x := p.x
	hd := x.Descendants([]string{Embeds})
	hidden := func(t string) bool {
		if t == Embeds {
			return true
		}
		c, ok := x.Producer[t]
		return ok && hd[c]
	}
	anc := x.Ancestors([]string{sm}, nil)
	var earlier []bool
	if l > 0 {
		earlier = x.Ancestors([]string{p.Boundary[l-1]}, nil)
	}
	toKey := x.Ancestors([]string{PresentKey(l)}, nil)
	toValue := x.Ancestors([]string{PresentValue(l)}, nil)
	var qs, ks []int
	for c, n := range x.G.Nodes {
		if !anc[c] || !hd[c] || !matmulOps[n.OpType] || (earlier != nil && earlier[c]) || len(n.Inputs) < 2 {
			continue
		}
		if !hidden(n.Inputs[0]) || hidden(n.Inputs[1]) {
			continue
		}
		switch {
		case toKey[c] && !toValue[c]:
			ks = append(ks, c)
		case !toKey[c] && !toValue[c]:
			qs = append(qs, c)
		}
	}
	if len(qs) != 1 || len(ks) != 1 {
		return fail("%d query and %d key projections found, want one each (fused QKV or an unknown attention)", len(qs), len(ks))
	}
	end := func(c int) (string, error) {
		t := x.G.Nodes[c].Outputs[0]
		for range 8 {
			var next []int
			for _, u := range x.Consumers[t] {
				if x.G.Nodes[u].OpType != "Shape" {
					next = append(next, u)
				}
			}
			if len(next) != 1 {
				return "", fmt.Errorf("%q is read by %d nodes, want one", t, len(next))
			}
			n := x.G.Nodes[next[0]]
			switch n.OpType {
			case "Reshape":
				if n.Inputs[0] != t {
					return "", fmt.Errorf("%q is the shape of Reshape %q, not its data", t, n.Name)
				}
				return t, nil
			case "Add", "Mul", "Cast":
				t = n.Outputs[0]
			default:
				return "", fmt.Errorf("%q is read by %s %q before any Reshape into heads", t, n.OpType, n.Name)
			}
		}
		return "", fmt.Errorf("no Reshape into heads after %q", x.G.Nodes[c].Name)
	}
	if q, err = end(qs[0]); err != nil {
		return fail("query projection: %v", err)
	}
	if k, err = end(ks[0]); err != nil {
		return fail("key projection: %v", err)
	}
	return q, k, nil
}

// StagesQK is Stages with, on the stage ending after layer qk (which must
// be one of cuts), two more outputs: QOut and KOut, layer qk's query and
// key projections before RoPE (Projections) as float32. qk < 0 is Stages.
func (p *Plan) StagesQK(cuts []int, qk int) ([]*Stage, error) {
	if qk < 0 {
		return p.Stages(cuts)
	}
	found := false
	for _, c := range cuts {
		found = found || c == qk
	}
	if !found {
		return nil, fmt.Errorf("decsplit: %s: queries and keys of layer %d asked for, which ends no stage (cuts %v)", p.File, qk, cuts)
	}
	q, k, err := p.Projections(qk)
	if err != nil {
		return nil, err
	}
	stages, err := p.Stages(cuts)
	if err != nil {
		return nil, err
	}
	for _, st := range stages {
		if st.Last != qk {
			continue
		}
		g := st.Model.Graph
		name := fmt.Sprintf("vlmrun_stage_%d_%d", st.First, st.Last)
		g.Nodes = append(g.Nodes,
			onnx.NewNode(name+"/CastQ", "Cast", []string{q}, []string{QOut}, onnx.IntAttr("to", onnx.Float)),
			onnx.NewNode(name+"/CastK", "Cast", []string{k}, []string{KOut}, onnx.IntAttr("to", onnx.Float)))
		for _, o := range []string{QOut, KOut} {
			g.Outputs = append(g.Outputs, onnx.NewValueInfo(o, onnx.Float, nil, nil))
			st.Outputs = append(st.Outputs, Port{o, onnx.Float})
		}
		st.HasQK = true
	}
	return stages, nil
}

// KeyQK names a stage set with queries and keys of layer qk for caching.
func KeyQK(cuts []int, qk int) string {
	if qk < 0 {
		return Key(cuts)
	}
	return Key(cuts) + "-qk" + strconv.Itoa(qk)
}
