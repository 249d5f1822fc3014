package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/onnx"
	"github.com/vlmrun/vlmrun/onnx/decsplit"
)

// graphReport is what "vlmrun graph inspect" prints (--json).
type graphReport struct {
	File         string           `json:"file"`
	IRVersion    int64            `json:"ir_version"`
	Opsets       []string         `json:"opsets"`
	Inputs       []graphPort      `json:"inputs"`
	Outputs      []graphPort      `json:"outputs"`
	Nodes        int              `json:"nodes"`
	Ops          map[string]int   `json:"ops"`
	Initializers int              `json:"initializers"`
	WeightBytes  int64            `json:"weight_bytes"`
	DType        string           `json:"dtype"`
	Decoder      *decoderAnalysis `json:"decoder,omitempty"`
}

type graphPort struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Shape string `json:"shape"`
}

type decoderAnalysis struct {
	Layers    int              `json:"layers"`
	Splits    bool             `json:"can_split"`
	Reason    string           `json:"reason,omitempty"`
	Legacy    bool             `json:"legacy_use_cache_branch,omitempty"`
	Boundary  []string         `json:"residual_after_layer,omitempty"`
	Attention []bool           `json:"attention_probabilities,omitempty"`
	LayerOps  []map[string]int `json:"ops_per_layer,omitempty"`
	HeadOps   map[string]int   `json:"head_ops,omitempty"`
	Shared    map[string]int   `json:"shared_ops,omitempty"`
}

var elemNames = map[int64]string{onnx.Float: "float32", onnx.Float16: "float16", onnx.Int64: "int64",
	onnx.Int32: "int32", onnx.Bool: "bool", onnx.Uint8: "uint8", onnx.Int8: "int8", onnx.Double: "float64", 16: "bfloat16"}

func elemName(t int64) string {
	if s, ok := elemNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type %d", t)
}

func cmdGraph(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("graph", stderr, func(*pflag.FlagSet) {
		fmt.Fprintln(stderr, "usage: vlmrun graph inspect [--json] FILE.onnx\n\nprints inputs, outputs, operators, weight dtype and, for a decoder, its layers and whether in-decoder pruning can split it")
	})
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if code, done := parseCommand(fs, args); done {
		return code
	}
	rest := fs.Args()
	if len(rest) != 2 || rest[0] != "inspect" {
		fmt.Fprintln(stderr, "vlmrun graph: usage: vlmrun graph inspect [--json] FILE.onnx")
		return 2
	}
	rep, err := inspectGraph(rest[1])
	if err != nil {
		fmt.Fprintf(stderr, "vlmrun graph: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "vlmrun graph: %v\n", err)
			return 1
		}
		return 0
	}
	printGraph(stdout, rep)
	return 0
}

func inspectGraph(path string) (*graphReport, error) {
	m, err := onnx.Open(path)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	g := m.Graph
	rep := &graphReport{File: path, IRVersion: m.IRVersion, Nodes: len(g.Nodes), Ops: map[string]int{},
		Initializers: len(g.Initializers)}
	for _, o := range m.Opsets {
		d := o.Domain
		if d == "" {
			d = "ai.onnx"
		}
		rep.Opsets = append(rep.Opsets, fmt.Sprintf("%s %d", d, o.Version))
	}
	port := func(v *onnx.ValueInfo) graphPort {
		dims := make([]string, len(v.Dims))
		for i, d := range v.Dims {
			if d >= 0 {
				dims[i] = fmt.Sprint(d)
			} else if v.DimParams[i] != "" {
				dims[i] = v.DimParams[i]
			} else {
				dims[i] = "?"
			}
		}
		return graphPort{Name: v.Name, Type: elemName(v.ElemType), Shape: "[" + strings.Join(dims, ", ") + "]"}
	}
	for _, v := range g.Inputs {
		rep.Inputs = append(rep.Inputs, port(v))
	}
	for _, v := range g.Outputs {
		rep.Outputs = append(rep.Outputs, port(v))
	}
	for _, n := range g.Nodes {
		rep.Ops[n.OpType]++
	}
	byType := map[int64]int64{}
	for _, t := range g.Initializers {
		rep.WeightBytes += t.Bytes()
		byType[t.DataType] += t.Bytes()
	}
	var best int64
	for t, b := range byType {
		if b > best {
			best, rep.DType = b, elemName(t)
		}
	}
	switch {
	case rep.Ops["MatMulNBits"] > 0:
		rep.DType += " + 4-bit MatMulNBits"
	case rep.Ops["MatMulInteger"] > 0:
		rep.DType += " + int8 MatMulInteger"
	}
	if slices.ContainsFunc(g.Inputs, func(v *onnx.ValueInfo) bool { return v.Name == decsplit.PastKey(0) }) {
		rep.Decoder = analyzeDecoder(m, path)
	}
	return rep, nil
}

func analyzeDecoder(m *onnx.Model, path string) *decoderAnalysis {
	p, err := decsplit.Analyze(m, path)
	if err != nil {
		return &decoderAnalysis{Reason: err.Error()}
	}
	a := &decoderAnalysis{Layers: p.Layers, Splits: true, Legacy: p.Legacy, Boundary: p.Boundary}
	for _, s := range p.Softmax {
		a.Attention = append(a.Attention, s != "")
	}
	a.LayerOps, a.HeadOps, a.Shared = p.LayerOps()
	if _, err := p.Stages(nil); err != nil {
		a.Splits, a.Reason = false, err.Error()
	}
	return a
}

func opList(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func printGraph(w io.Writer, r *graphReport) {
	fmt.Fprintf(w, "%s: IR %d, opsets %s, %d nodes, %d initializers (%.1f MB, mostly %s)\n", r.File, r.IRVersion,
		strings.Join(r.Opsets, ", "), r.Nodes, r.Initializers, float64(r.WeightBytes)/1e6, r.DType)
	fmt.Fprintln(w, "inputs:")
	for _, p := range r.Inputs {
		fmt.Fprintf(w, "  %-32s %-8s %s\n", p.Name, p.Type, p.Shape)
	}
	fmt.Fprintln(w, "outputs:")
	for _, p := range r.Outputs {
		fmt.Fprintf(w, "  %-32s %-8s %s\n", p.Name, p.Type, p.Shape)
	}
	fmt.Fprintf(w, "ops: %s\n", opList(r.Ops))
	d := r.Decoder
	if d == nil {
		return
	}
	if d.Reason != "" && d.Layers == 0 {
		fmt.Fprintf(w, "decoder: cannot be split for in-decoder pruning: %s\n", d.Reason)
		return
	}
	fmt.Fprintf(w, "decoder: %d layers; can be split for in-decoder pruning: %v", d.Layers, d.Splits)
	if d.Legacy {
		fmt.Fprint(w, " (legacy use_cache_branch merge: its with-past branch is used)")
	}
	fmt.Fprintln(w)
	if d.Reason != "" {
		fmt.Fprintf(w, "  %s\n", d.Reason)
	}
	for i, ops := range d.LayerOps {
		attn := "attention probabilities: yes"
		if !d.Attention[i] {
			attn = "attention probabilities: no (fused attention)"
		}
		fmt.Fprintf(w, "  layer %d: residual %s; %s\n    %s\n", i, d.Boundary[i], attn, opList(ops))
	}
	fmt.Fprintf(w, "  head: %s\n  shared (masks, rotary, shapes): %s\n", opList(d.HeadOps), opList(d.Shared))
}
