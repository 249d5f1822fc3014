// Package visinstr derives, from an unchanged vision-encoder graph that
// outputs only the projected image features (vision_encoder*.onnx as
// transformers.js runs it for LLaVA or Qwen2-VL), a graph that also outputs
// what pre-decoder pruning methods read from inside the encoder:
//
//   - OutAttention, float32 (1, T): one attention score per encoder token
//     from the attention probabilities of the feature layer — the CLS
//     query's row averaged over heads (CLS), or the attention each token
//     receives averaged over heads and query rows (Received, for encoders
//     without a CLS token);
//   - OutPreProj, float32 (1, T, Dz): the residual stream after the feature
//     layer, the tokens before the projector (or patch merger);
//   - OutKeys, float32 (1, T, dh): that layer's keys averaged over heads.
//
// T counts the encoder's tokens (CLS included); the caller maps them to
// the feature rows (package encoder: ExtraRows). Pure Go; no ONNX Runtime.
//
// Everything is found structurally, not from names: the tokens are what
// depends on the pixel input other than through a shape; the attention
// layers are the Softmax nodes on the path to the features whose output
// is multiplied with a token-dependent operand (probabilities × values);
// the feature layer is the last of them (the exporters drop the layers
// after vision_feature_layer, which nothing reads), checked against the
// layer the config names and, when nodes carry scope names
// (/layers.N/, /blocks.N/), against those; the keys are the right operand
// of the product whose scores the Softmax normalises; the pre-projector
// features are the last residual Add (both operands token-dependent)
// after that Softmax through which every path from the pixels to the
// features passes.
//
// A graph that reorders its tokens with computed indices (Qwen2.5-VL's
// window attention: hidden_states gathered by window_index before the
// blocks, the merged features gathered by argsort(window_index) after the
// merger) has its extras in window order; when every such reorder is an
// axis-0 Gather, at least one comes before the feature layer's Softmax
// and exactly one after it, the extras are put back in the features'
// order with that last Gather's indices (Plan.Order): each extra, viewed
// as (len(Order), −1) — the rows of one merged token side by side — is
// gathered by them. That the last reorder undoes the first ones (as
// argsort(window_index) undoes window_index) is assumed, not proved from
// the graph; the Qwen2.5-VL twin's extras are checked against torch. Any
// other computed reorder is refused: its attention rows cannot be matched
// to the feature rows.
//
// The derived graph is the whole source graph plus a few nodes; Marshal
// writes its large tensors as references into the source file.
package visinstr

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/vlmrun/vlmrun/onnx"
)

// Attention picks the score OutAttention holds.
type Attention int

// The attention scores.
const (
	// CLS: row 0 of the feature layer's attention (the CLS query) over
	// every token, averaged over heads — FasterVLM's and VisionZip's score.
	CLS Attention = iota + 1
	// Received: the attention each token receives, averaged over heads and
	// over every query row — the score for encoders without a CLS token.
	Received
)

func (a Attention) String() string {
	switch a {
	case CLS:
		return "cls"
	case Received:
		return "received"
	}
	return "attention(" + strconv.Itoa(int(a)) + ")"
}

// Options say what to instrument.
type Options struct {
	Input     string // the pixel input ("" = pixel_values)
	Features  string // the graph output holding the projected features ("" = image_features)
	Attention Attention
	// Layer is the 0-based index of the encoder layer whose attention and
	// output the extras come from, as the model's config names it; -1 when
	// the config does not say (the last layer the features depend on is
	// used unchecked).
	Layer int
}

func (o *Options) defaults() {
	if o.Input == "" {
		o.Input = "pixel_values"
	}
	if o.Features == "" {
		o.Features = "image_features"
	}
}

// Key names the options for a derived-graph cache.
func (o Options) Key() string {
	o.defaults()
	return fmt.Sprintf("%s|%s|%s|%d", o.Input, o.Features, o.Attention, o.Layer)
}

// Names of the outputs the derived graph adds.
const (
	OutAttention = "vlmrun_attention"
	OutPreProj   = "vlmrun_patch_features"
	OutKeys      = "vlmrun_patch_keys"
)

// ErrUnrecognised is returned (wrapped) for a vision graph whose attention
// cannot be found or mapped to its features.
var ErrUnrecognised = errors.New("vision graph cannot be instrumented")

// Plan is the analysis of one vision graph.
type Plan struct {
	File    string
	Options Options
	// Layers is the number of attention layers the features depend on;
	// the extras come from the last one.
	Layers int
	// Softmax is the feature layer's attention probabilities, SoftmaxNode
	// the node producing them.
	Softmax, SoftmaxNode string
	// KeysT is the right operand of the score product (keys, transposed:
	// (..., dh, T)) and PreProj the residual stream after the layer; "" when
	// not found, with the reason in Missing (keyed by output name).
	KeysT, PreProj string
	Missing        map[string]string
	// Order, when not "", holds the indices of the Gather that reorders
	// the feature-layer tokens back to the features' order (Qwen2.5-VL's
	// argsort(window_index)); the extras are gathered by it.
	Order string

	m  *onnx.Model
	x  *onnx.Index
	dd map[string]bool // token-dependent tensors
}

// Analyze finds the feature layer's attention, keys and output in the
// vision graph m. file names it in errors.
func Analyze(m *onnx.Model, file string, o Options) (*Plan, error) {
	o.defaults()
	p := &Plan{File: file, Options: o, m: m, Missing: map[string]string{}}
	fail := func(format string, a ...any) (*Plan, error) {
		return nil, fmt.Errorf("visinstr: %s: %s: %w", file, fmt.Sprintf(format, a...), ErrUnrecognised)
	}
	if o.Attention != CLS && o.Attention != Received {
		return fail("no attention score chosen")
	}
	g := m.Graph
	x := onnx.NewIndex(g)
	p.x = x
	if x.Inputs[o.Input] == nil {
		return fail("no %q input", o.Input)
	}
	if !slices.ContainsFunc(g.Outputs, func(v *onnx.ValueInfo) bool { return v.Name == o.Features }) {
		return fail("no %q output", o.Features)
	}
	if defaultOpset(m) < 11 {
		return fail("opset %d is older than 11", defaultOpset(m))
	}
	for _, n := range []string{OutAttention, OutPreProj, OutKeys} {
		if _, ok := x.Producer[n]; ok || x.Inputs[n] != nil {
			return fail("the graph already has a tensor named %q", n)
		}
	}
	p.dd = tokenDependent(x, o.Input)
	anc := x.Ancestors([]string{o.Features}, nil)
	var atts, reorders []int
	for c, n := range g.Nodes {
		if !anc[c] {
			continue
		}
		switch n.OpType {
		case "Gather", "GatherElements", "GatherND", "ScatterND", "ScatterElements", "Scatter":
			if len(n.Inputs) > 1 && p.dd[n.Inputs[0]] && !p.constant(n.Inputs[1]) {
				if n.OpType != "Gather" || axisOf(n) != 0 || p.dd[n.Inputs[1]] {
					return fail("node %q (%s) reorders the tokens with computed indices other than by an axis-0 Gather, so the attention rows cannot be matched to the features", n.Name, n.OpType)
				}
				reorders = append(reorders, c)
			}
		case "Attention", "MultiHeadAttention", "GroupQueryAttention", "PackedAttention", "PackedMultiHeadAttention":
			return fail("node %q is a fused %s op, which does not expose its attention probabilities", n.Name, n.OpType)
		case "Softmax":
			if p.isAttention(c) {
				atts = append(atts, c)
			}
		}
	}
	if len(atts) == 0 {
		return fail("no attention Softmax on the path from %s to %s", o.Input, o.Features)
	}
	p.Layers = len(atts)
	last := g.Nodes[atts[len(atts)-1]]
	if len(reorders) > 0 {
		after := x.Descendants([]string{last.Outputs[0]})
		var back []int
		for _, c := range reorders {
			if after[c] {
				back = append(back, c)
			}
		}
		if len(back) != 1 || len(back) == len(reorders) {
			return fail("%d nodes reorder the tokens with computed indices, %d of them after the feature layer's attention %q; "+
				"only a reorder before it undone by one Gather after it (window attention) can be mapped to the features",
				len(reorders), len(back), last.Name)
		}
		p.Order = g.Nodes[back[0]].Inputs[1]
	}
	p.Softmax, p.SoftmaxNode = last.Outputs[0], last.Name
	if o.Layer >= 0 && o.Layer != p.Layers-1 {
		return fail("%s depends on %d attention layers, but the config's feature layer is layer %d (0-based)",
			o.Features, p.Layers, o.Layer)
	}
	if scoped(g, atts) {
		for i, c := range atts {
			if s := scopeOf(g.Nodes[c].Name); s != i {
				return fail("attention layer %d was found at node %q, named for layer %d", i, g.Nodes[c].Name, s)
			}
		}
	}
	if kt, why := p.keys(last); why != "" {
		p.Missing[OutKeys] = why
	} else {
		p.KeysT = kt
	}
	if z, why := p.preProj(atts[len(atts)-1]); why != "" {
		p.Missing[OutPreProj] = why
	} else {
		p.PreProj = z
	}
	return p, nil
}

// tokenDependent returns the tensors that depend on the input's values
// (not only on its shape: Shape and Size outputs do not).
func tokenDependent(x *onnx.Index, input string) map[string]bool {
	dd := map[string]bool{input: true}
	stack := []string{input}
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range x.Consumers[t] {
			n := x.G.Nodes[c]
			if n.OpType == "Shape" || n.OpType == "Size" {
				continue
			}
			for _, o := range n.Outputs {
				if o != "" && !dd[o] {
					dd[o] = true
					stack = append(stack, o)
				}
			}
		}
	}
	return dd
}

// constant reports whether a tensor is an initializer or a Constant's.
func (p *Plan) constant(name string) bool {
	if p.x.Inits[name] != nil {
		return true
	}
	c, ok := p.x.Producer[name]
	return ok && p.x.G.Nodes[c].OpType == "Constant"
}

// isAttention reports whether Softmax node c normalises attention scores:
// token-dependent, and its output is the left operand of a product with a
// token-dependent right operand (the values).
func (p *Plan) isAttention(c int) bool {
	n := p.x.G.Nodes[c]
	if len(n.Inputs) == 0 || len(n.Outputs) == 0 || !p.dd[n.Inputs[0]] {
		return false
	}
	for _, u := range p.x.Consumers[n.Outputs[0]] {
		m := p.x.G.Nodes[u]
		if m.OpType == "MatMul" && len(m.Inputs) == 2 && m.Inputs[0] == n.Outputs[0] && p.dd[m.Inputs[1]] {
			return true
		}
	}
	return false
}

// keys walks back from the Softmax's input through scaling, masking,
// casts and reshapes to the score product Q·Kᵀ and returns its right
// operand, or why it cannot.
func (p *Plan) keys(sm *onnx.Node) (string, string) {
	t := sm.Inputs[0]
	for step := 0; step < 16; step++ {
		c, ok := p.x.Producer[t]
		if !ok {
			return "", fmt.Sprintf("the scores normalised by %q are not computed in the graph", sm.Name)
		}
		n := p.x.G.Nodes[c]
		var next []string
		switch n.OpType {
		case "MatMul":
			if len(n.Inputs) == 2 && p.dd[n.Inputs[0]] && p.dd[n.Inputs[1]] {
				return n.Inputs[1], ""
			}
			return "", fmt.Sprintf("the scores of %q come from MatMul %q with a constant operand", sm.Name, n.Name)
		case "Mul", "Div", "Add", "Sub":
			next = n.Inputs
		case "Cast", "Reshape", "Identity":
			next = n.Inputs[:1]
		case "Where":
			if len(n.Inputs) == 3 {
				next = n.Inputs[1:]
			}
		default:
			return "", fmt.Sprintf("the scores of %q come from a %s node (%q), not a Q·Kᵀ MatMul", sm.Name, n.OpType, n.Name)
		}
		var dd []string
		for _, in := range next {
			if p.dd[in] {
				dd = append(dd, in)
			}
		}
		if len(dd) != 1 {
			return "", fmt.Sprintf("node %q (%s) before %q combines %d token-dependent operands", n.Name, n.OpType, sm.Name, len(dd))
		}
		t = dd[0]
	}
	return "", fmt.Sprintf("no Q·Kᵀ MatMul within 16 nodes before %q", sm.Name)
}

// preProj returns the residual stream after the attention layer of
// Softmax node sm: the last residual Add after it that every path from the
// pixels to the features passes through.
func (p *Plan) preProj(sm int) (string, string) {
	x := p.x
	after := x.Descendants([]string{x.G.Nodes[sm].Outputs[0]})
	anc := x.Ancestors([]string{p.Options.Features}, nil)
	for c := len(x.G.Nodes) - 1; c > sm; c-- {
		n := x.G.Nodes[c]
		if !after[c] || !anc[c] || n.OpType != "Add" || len(n.Inputs) != 2 || !p.dd[n.Inputs[0]] || !p.dd[n.Inputs[1]] {
			continue
		}
		if p.dominates(n.Outputs[0]) {
			return n.Outputs[0], ""
		}
	}
	return "", fmt.Sprintf("no residual Add after %q carries everything the features are computed from", x.G.Nodes[sm].Name)
}

// dominates reports whether every token-dependent path from the input to
// the features passes through t.
func (p *Plan) dominates(t string) bool {
	seen := map[string]bool{p.Options.Input: true}
	stack := []string{p.Options.Input}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range p.x.Consumers[s] {
			n := p.x.G.Nodes[c]
			if n.OpType == "Shape" || n.OpType == "Size" {
				continue
			}
			for _, o := range n.Outputs {
				if o == p.Options.Features {
					return false
				}
				if o != "" && o != t && !seen[o] {
					seen[o] = true
					stack = append(stack, o)
				}
			}
		}
	}
	return true
}

var scopeRe = regexp.MustCompile(`(?:^|/)(?:layers|blocks)\.(\d+)/`)

// scopeOf returns the layer number in a node name's scope, or -1.
func scopeOf(name string) int {
	m := scopeRe.FindStringSubmatch(name)
	if m == nil {
		return -1
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return -1
	}
	return n
}

// scoped reports whether every attention node carries a layer scope.
func scoped(g *onnx.Graph, atts []int) bool {
	for _, c := range atts {
		if scopeOf(g.Nodes[c].Name) < 0 {
			return false
		}
	}
	return true
}

// defaultOpset returns the model's ai.onnx opset version.
func defaultOpset(m *onnx.Model) int64 {
	for _, o := range m.Opsets {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			return o.Version
		}
	}
	return 0
}

// axisOf returns a Gather node's axis attribute (default 0).
func axisOf(n *onnx.Node) int64 {
	for _, a := range n.Attrs {
		if a.Name == "axis" {
			return a.I
		}
	}
	return 0
}
