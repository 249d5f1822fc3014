package decsplit

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/vlmrun/vlmrun/onnx"
)

// Names of the inputs and outputs stage graphs add.
const (
	HiddenIn  = "vlmrun_hidden_in"  // float32 [1, s, hidden]: the residual stream entering the stage
	HiddenOut = "vlmrun_hidden_out" // float32 [1, s, hidden]: the residual stream after its last layer
	AttnRows  = "vlmrun_attn_rows"  // int64 [R]: query rows whose attention is wanted (negative counts from the end)
	Attn      = "vlmrun_attn"       // float32 [1, heads, R, past+s]: those rows of the last layer's softmax
	LastLogit = "vlmrun_logits"     // float32 [1, 1, vocab]: logits of the last position
)

// Stage is one derived graph: decoder layers First..Last.
type Stage struct {
	First, Last int
	// Model holds the graph; its large tensors refer into the source file
	// (load its Marshal output with the source folder as external-data
	// folder).
	Model *onnx.Model
	// Inputs and Outputs list the graph's ports in order, with element
	// types.
	Inputs, Outputs []Port
	// HasAttn: the stage outputs Attn (and takes AttnRows).
	HasAttn bool
	// HasQK: the stage outputs QOut and KOut (StagesQK).
	HasQK bool
}

// Port is a graph input or output.
type Port struct {
	Name string
	Type int64
}

// Stages cuts the decoder after each layer in cuts (each in 0..Layers-2;
// sorted and deduplicated here) and returns the stages in order. With no
// cuts it returns one stage: the whole decoder with last-position logits.
func (p *Plan) Stages(cuts []int) ([]*Stage, error) {
	cuts = slices.Clone(cuts)
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	for _, c := range cuts {
		if c < 0 || c > p.Layers-2 {
			return nil, fmt.Errorf("decsplit: %s: cut after layer %d is outside 0..%d", p.File, c, p.Layers-2)
		}
	}
	var out []*Stage
	a := 0
	for _, b := range append(cuts, p.Layers-1) {
		s, err := p.stage(a, b)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		a = b + 1
	}
	return out, nil
}

func (p *Plan) stage(a, b int) (*Stage, error) {
	x := p.x
	last := b == p.Layers-1
	name := fmt.Sprintf("vlmrun_stage_%d_%d", a, b)
	fail := func(format string, args ...any) (*Stage, error) {
		return nil, fmt.Errorf("decsplit: %s: layers %d..%d: %s: %w", p.File, a, b, fmt.Sprintf(format, args...), ErrUnrecognised)
	}
	var targets []string
	if last {
		targets = append(targets, Logits)
	} else {
		targets = append(targets, p.Boundary[b])
		if p.Softmax[b] != "" {
			targets = append(targets, p.Softmax[b])
		}
	}
	for j := a; j <= b; j++ {
		targets = append(targets, PresentKey(j), PresentValue(j))
	}
	stop := map[string]bool{}
	if a > 0 {
		stop[p.Boundary[a-1]] = true
	}
	need := x.Ancestors(targets, stop)
	if why := p.foreign(need, a, b); why != "" {
		return fail("%s", why)
	}
	var nodes []*onnx.Node
	var extra []*onnx.Tensor
	var inputs []*onnx.ValueInfo
	st := &Stage{First: a, Last: b}
	if a > 0 {
		// The residual stream enters as float32 and is cast to the graph's type.
		inputs = append(inputs, onnx.NewValueInfo(HiddenIn, onnx.Float, []int64{1, -1, -1}, []string{"batch_size", "sequence_length", "hidden_size"}))
		bt := x.ElemType(p.Boundary[a-1])
		if bt == 0 {
			return fail("cannot tell the element type of %q", p.Boundary[a-1])
		}
		nodes = append(nodes, onnx.NewNode(name+"/CastIn", "Cast", []string{HiddenIn}, []string{p.Boundary[a-1]}, onnx.IntAttr("to", bt)))
	}
	// Nodes of the LM head read the last row only.
	var head []bool
	lastRow := p.Boundary[p.Layers-1]
	if last {
		head = x.Ancestors([]string{Logits}, map[string]bool{lastRow: true})
		// A head that already keeps num_logits_to_keep rows (fed 1) is left
		// as it is: its own slice counts rows from the full sequence.
		for c := range head {
			if head[c] && slices.Contains(x.Uses(c), "num_logits_to_keep") {
				head = nil
				break
			}
		}
	}
	for c, n := range x.G.Nodes {
		if !need[c] {
			continue
		}
		m := n
		for k, in := range n.Inputs {
			j, ok := pastLayer(in)
			redirect := ok && (j < a || j > b)
			toLast := last && head != nil && head[c] && in == lastRow
			embeds := in == Embeds && a > 0
			if !redirect && !toLast && !embeds {
				continue
			}
			if m == n {
				cp := *n
				cp.Inputs = slices.Clone(n.Inputs)
				m = &cp
			}
			switch {
			case embeds:
				m.Inputs[k] = p.Boundary[a-1]
			case redirect && pastRe.FindStringSubmatch(in)[2] == "key":
				m.Inputs[k] = PastKey(a)
			case redirect:
				m.Inputs[k] = PastValue(a)
			default:
				m.Inputs[k] = name + "/last_row"
			}
		}
		nodes = append(nodes, m)
	}
	if last && head != nil {
		starts, ends, axes := name+"/starts", name+"/ends", name+"/axes"
		extra = append(extra, onnx.Int64Tensor(starts, []int64{1}, -1), onnx.Int64Tensor(ends, []int64{1}, math.MaxInt64),
			onnx.Int64Tensor(axes, []int64{1}, 1))
		// The slice must run before the head nodes that read it; put it
		// right after the node producing lastRow.
		sl := onnx.NewNode(name+"/LastRow", "Slice", []string{lastRow, starts, ends, axes}, []string{name + "/last_row"})
		nodes = insertAfter(nodes, lastRow, sl)
	}
	if last {
		nodes = append(nodes, onnx.NewNode(name+"/CastLogits", "Cast", []string{Logits}, []string{LastLogit}, onnx.IntAttr("to", onnx.Float)))
	} else {
		nodes = append(nodes, onnx.NewNode(name+"/CastOut", "Cast", []string{p.Boundary[b]}, []string{HiddenOut}, onnx.IntAttr("to", onnx.Float)))
		if p.Softmax[b] != "" {
			st.HasAttn = true
			inputs = append(inputs, onnx.NewValueInfo(AttnRows, onnx.Int64, []int64{-1}, []string{"rows"}))
			nodes = append(nodes,
				onnx.NewNode(name+"/AttnRows", "Gather", []string{p.Softmax[b], AttnRows}, []string{name + "/attn_rows"}, onnx.IntAttr("axis", 2)),
				onnx.NewNode(name+"/CastAttn", "Cast", []string{name + "/attn_rows"}, []string{Attn}, onnx.IntAttr("to", onnx.Float)))
		}
	}
	var outs []*onnx.ValueInfo
	if last {
		outs = append(outs, onnx.NewValueInfo(LastLogit, onnx.Float, nil, nil))
	} else {
		outs = append(outs, onnx.NewValueInfo(HiddenOut, onnx.Float, nil, nil))
		if st.HasAttn {
			outs = append(outs, onnx.NewValueInfo(Attn, onnx.Float, nil, nil))
		}
	}
	for j := a; j <= b; j++ {
		for _, n := range []string{PresentKey(j), PresentValue(j)} {
			v, err := x.OutputInfo(n)
			if err != nil {
				return fail("%v", err)
			}
			outs = append(outs, v)
		}
	}
	g := x.Assemble(name, nodes, inputs, outs, extra)
	g.ValueInfo = nil // shapes change (last row, cut rows); let ORT infer them
	for _, v := range g.Inputs {
		if v.Name == Embeds && a > 0 {
			return fail("the stage reads %s", Embeds)
		}
		st.Inputs = append(st.Inputs, Port{v.Name, v.ElemType})
	}
	for _, v := range g.Outputs {
		st.Outputs = append(st.Outputs, Port{v.Name, v.ElemType})
	}
	st.Model = p.m.Derive(g)
	return st, nil
}

// insertAfter inserts n right after the node producing tensor t (at the
// front when an input produces it).
func insertAfter(nodes []*onnx.Node, t string, n *onnx.Node) []*onnx.Node {
	for i, m := range nodes {
		if slices.Contains(m.Outputs, t) {
			return slices.Insert(nodes, i+1, n)
		}
	}
	return slices.Insert(nodes, 0, n)
}

// Key names a derived stage set for caching: the cut points.
func Key(cuts []int) string {
	s := "cuts"
	for _, c := range cuts {
		s += "-" + strconv.Itoa(c)
	}
	return s
}
