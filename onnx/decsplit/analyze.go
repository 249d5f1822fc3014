// Package decsplit derives, from an unchanged merged decoder graph
// (decoder_model_merged*.onnx as transformers.js runs it), the stage graphs
// vlmrun's in-decoder pruning needs: the decoder cut at chosen layer
// boundaries, each stage with its own past/present KV, the residual stream
// in and out, the attention rows of its last layer, and, for the last stage,
// the LM head applied to the last position only. Pure Go; no ONNX Runtime.
//
// Layer boundaries are found structurally, not from names: the boundary
// after layer i is the first tensor, in graph order, that depends on the
// hidden states and on layer i's past KV, leads to layer i+1's present key
// through a single matrix product (the key projection; for the last layer,
// to the logits through the LM head), and from which the rest of the
// decoder (every later layer and the logits) can be computed without the
// embeddings or any earlier layer's KV — the residual stream between the
// layers. Masks and rotary tables that later
// layers read from earlier scopes are pulled into each stage; a Shape of an
// earlier layer's past (how exports read the past length for the mask) is
// redirected to the stage's first layer, which has the same length. When
// nodes carry scope names (/model/layers.N/...), each boundary is checked
// against them.
package decsplit

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/vlmrun/vlmrun/onnx"
)

// Names of the transformers.js decoder contract.
const (
	Embeds   = "inputs_embeds"
	Mask     = "attention_mask"
	Position = "position_ids"
	Logits   = "logits"
)

// PastKey and the others name layer i's cache inputs and outputs.
func PastKey(i int) string      { return "past_key_values." + strconv.Itoa(i) + ".key" }
func PastValue(i int) string    { return "past_key_values." + strconv.Itoa(i) + ".value" }
func PresentKey(i int) string   { return "present." + strconv.Itoa(i) + ".key" }
func PresentValue(i int) string { return "present." + strconv.Itoa(i) + ".value" }

// Plan is the analysis of one merged decoder.
type Plan struct {
	File     string
	Layers   int
	Boundary []string // residual stream after layer i (the last one feeds the final norm)
	Softmax  []string // layer i's attention probabilities ("" when not found)
	KVType   int64    // element type of the cache
	Legacy   bool     // the file had the legacy use_cache_branch If; its with-past branch is used

	m *onnx.Model
	x *onnx.Index
}

// ErrUnrecognised is returned (wrapped) for a decoder whose layer structure
// is not recognised.
var ErrUnrecognised = fmt.Errorf("decoder layer structure not recognised")

// Analyze finds the layer boundaries of the merged decoder m. file names it
// in errors.
func Analyze(m *onnx.Model, file string) (*Plan, error) {
	p := &Plan{File: file, m: m}
	fail := func(format string, a ...any) (*Plan, error) {
		return nil, fmt.Errorf("decsplit: %s: %s: %w", file, fmt.Sprintf(format, a...), ErrUnrecognised)
	}
	g, legacy, err := flattenLegacy(m.Graph)
	if err != nil {
		return fail("%v", err)
	}
	p.Legacy = legacy
	x := onnx.NewIndex(g)
	p.x = x
	if x.Inputs[Embeds] == nil {
		return fail("no %q input", Embeds)
	}
	for x.Inputs[PastKey(p.Layers)] != nil {
		p.Layers++
	}
	if p.Layers == 0 {
		return fail("no past_key_values.N.key inputs")
	}
	outs := map[string]bool{}
	for _, v := range g.Outputs {
		outs[v.Name] = true
	}
	if !outs[Logits] {
		return fail("no %q output", Logits)
	}
	for i := 0; i < p.Layers; i++ {
		for _, n := range []string{PastValue(i)} {
			if x.Inputs[n] == nil {
				return fail("input %q missing", n)
			}
		}
		for _, n := range []string{PresentKey(i), PresentValue(i)} {
			if !outs[n] {
				return fail("output %q missing", n)
			}
		}
	}
	p.KVType = x.Inputs[PastKey(0)].ElemType
	hd := x.Descendants([]string{Embeds})
	scoped := hasScopes(g)
	for i := 0; i < p.Layers; i++ {
		pi := x.Descendants([]string{PastKey(i), PastValue(i)})
		next := Logits
		if i+1 < p.Layers {
			next = PresentKey(i + 1)
		}
		anc := x.Ancestors([]string{next}, nil)
		// The first valid cut can sit between layer i's attention and its
		// MLP (the MLP is row-wise, so the rest still follows from it); the
		// residual stream after the layer is the first valid cut from which
		// the next layer's key (or the logits) takes one matrix product.
		t := ""
		for c, n := range g.Nodes {
			if !hd[c] || !pi[c] || !anc[c] {
				continue
			}
			for _, o := range n.Outputs {
				if o != "" && p.validCut(i, o) && p.products(next, o, hd) <= 1 {
					t = o
					break
				}
			}
			if t != "" {
				break
			}
		}
		if t == "" {
			return fail("no residual-stream tensor separates layer %d from what follows", i)
		}
		if scoped {
			s := scopeOf(g.Nodes[x.Producer[t]].Name)
			if s != i && s != i+1 {
				return fail("the boundary after layer %d was found at %q, produced by node %q of another layer",
					i, t, g.Nodes[x.Producer[t]].Name)
			}
		}
		p.Boundary = append(p.Boundary, t)
		sm := ""
		before := x.Ancestors([]string{t}, nil)
		for c, n := range g.Nodes {
			if n.OpType == "Softmax" && before[c] && pi[c] && hd[c] {
				if sm != "" {
					sm = ""
					break
				}
				sm = n.Outputs[0]
			}
		}
		p.Softmax = append(p.Softmax, sm)
	}
	return p, nil
}

// validCut reports whether everything after layer i (the later layers'
// presents and the logits) can be computed from t, the mask and positions,
// and the later layers' own past.
func (p *Plan) validCut(i int, t string) bool {
	outs := []string{Logits}
	for j := i + 1; j < p.Layers; j++ {
		outs = append(outs, PresentKey(j), PresentValue(j))
	}
	need := p.x.Ancestors(outs, map[string]bool{t: true})
	return p.foreign(need, i+1, p.Layers-1) == ""
}

// products counts the matrix products on the hidden states (hd) needed to
// compute target from t (rotary tables may use a product of their own).
func (p *Plan) products(target, t string, hd []bool) int {
	need := p.x.Ancestors([]string{target}, map[string]bool{t: true})
	n := 0
	for c, nd := range p.x.G.Nodes {
		if need[c] && hd[c] && matmulOps[nd.OpType] {
			n++
		}
	}
	return n
}

var matmulOps = map[string]bool{"MatMul": true, "MatMulInteger": true, "MatMulNBits": true, "Gemm": true,
	"FusedMatMul": true, "QLinearMatMul": true, "MatMulIntegerToFloat": true, "DynamicQuantizeMatMul": true}

// foreign returns the first reason the node set need (meant for layers
// a..b) reads something it may not: the embeddings (a > 0) or another
// layer's past, other than for its shape (a stage's own hidden input and
// first layer's past have the same shapes as those, so such reads are
// redirected; see shapeOnly).
func (p *Plan) foreign(need []bool, a, b int) string {
	for c, n := range p.x.G.Nodes {
		if !need[c] {
			continue
		}
		for _, in := range p.x.Uses(c) {
			j, past := pastLayer(in)
			bad := (in == Embeds && a > 0) || (past && (j < a || j > b))
			if bad && !p.shapeOnly(c, need, 0) {
				return fmt.Sprintf("node %q (%s) reads %s", n.Name, n.OpType, in)
			}
		}
	}
	return ""
}

// shapeOnly reports whether node c's reading of its input matters only
// through the input's shape: c is a Shape, or a Cast or Identity whose
// outputs are read (within need) only by such nodes.
func (p *Plan) shapeOnly(c int, need []bool, depth int) bool {
	n := p.x.G.Nodes[c]
	switch n.OpType {
	case "Shape":
		return true
	case "Cast", "Identity":
		if depth > 8 {
			return false
		}
		for _, o := range n.Outputs {
			for _, u := range p.x.Consumers[o] {
				if need[u] && !p.shapeOnly(u, need, depth+1) {
					return false
				}
			}
		}
		return true
	}
	return false
}

var pastRe = regexp.MustCompile(`^past_key_values\.(\d+)\.(key|value)$`)

func pastLayer(name string) (int, bool) {
	m := pastRe.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

var scopeRe = regexp.MustCompile(`(?:^|/)layers\.(\d+)/`)

// scopeOf returns the layer number in a node name's scope, or -1.
func scopeOf(name string) int {
	m := scopeRe.FindStringSubmatch(name)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func hasScopes(g *onnx.Graph) bool {
	n := 0
	for _, nd := range g.Nodes {
		if scopeOf(nd.Name) >= 0 {
			n++
		}
	}
	return n > len(g.Nodes)/2
}

// flattenLegacy replaces an optimum legacy merge (a top-level If on the
// use_cache_branch input) by its with-past branch, which also handles an
// empty past. Other graphs are returned unchanged.
func flattenLegacy(g *onnx.Graph) (*onnx.Graph, bool, error) {
	at := -1
	for i, n := range g.Nodes {
		if n.OpType == "If" && len(n.Inputs) == 1 && n.Inputs[0] == "use_cache_branch" {
			at = i
		}
	}
	if at < 0 {
		return g, false, nil
	}
	n := g.Nodes[at]
	var branch *onnx.Graph
	for _, a := range n.Attrs {
		if a.G == nil {
			continue
		}
		for _, s := range onnx.OuterNames(a.G) {
			if s == PastKey(0) {
				branch = a.G
			}
		}
	}
	if branch == nil {
		return nil, false, fmt.Errorf("use_cache_branch If has no branch reading %s", PastKey(0))
	}
	if len(branch.Outputs) != len(n.Outputs) {
		return nil, false, fmt.Errorf("use_cache_branch If: %d outputs, its branch %d", len(n.Outputs), len(branch.Outputs))
	}
	f := *g
	f.Nodes = append(append([]*onnx.Node{}, g.Nodes[:at]...), branch.Nodes...)
	for k, o := range n.Outputs {
		if b := branch.Outputs[k].Name; b != o {
			f.Nodes = append(f.Nodes, onnx.NewNode("vlmrun/legacy/Identity_"+strconv.Itoa(k), "Identity", []string{b}, []string{o}))
		}
	}
	f.Nodes = append(f.Nodes, g.Nodes[at+1:]...)
	f.Initializers = append(append([]*onnx.Tensor{}, g.Initializers...), branch.Initializers...)
	f.ValueInfo = append(append([]*onnx.ValueInfo{}, g.ValueInfo...), branch.ValueInfo...)
	return &f, true, nil
}

// LayerOps counts, per decoder layer, the operators of its nodes: a node
// that depends on the hidden states belongs to the first layer whose output
// (the residual stream after it) needs it; later ones (final norm, LM head)
// count in head. Nodes that do not depend on the hidden states (masks,
// rotary tables, constants, shape arithmetic) count as shared.
func (p *Plan) LayerOps() (layers []map[string]int, head, shared map[string]int) {
	g := p.x.G
	hd := p.x.Descendants([]string{Embeds})
	layerOf := make([]int, len(g.Nodes))
	for c := range layerOf {
		layerOf[c] = -1
	}
	for i := p.Layers - 1; i >= 0; i-- {
		anc := p.x.Ancestors([]string{p.Boundary[i]}, nil)
		for c := range g.Nodes {
			if anc[c] {
				layerOf[c] = i
			}
		}
	}
	layers = make([]map[string]int, p.Layers)
	for i := range layers {
		layers[i] = map[string]int{}
	}
	head, shared = map[string]int{}, map[string]int{}
	for c, n := range g.Nodes {
		switch {
		case !hd[c]:
			shared[n.OpType]++
		case layerOf[c] < 0:
			head[n.OpType]++
		default:
			layers[layerOf[c]][n.OpType]++
		}
	}
	return layers, head, shared
}
