package onnx

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const merged = "../models/scenes-tiny/onnx/decoder_model_merged.onnx"

func TestOpenMarshalReferencesSource(t *testing.T) {
	m, err := Open(merged)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	src, err := os.ReadFile(merged)
	if err != nil {
		t.Fatal(err)
	}
	out := m.Marshal()
	if len(out) > len(src)/10 {
		t.Errorf("derived graph is %d bytes for a %d-byte source: weights were copied", len(out), len(src))
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Graph.Nodes) != len(m.Graph.Nodes) || len(back.Graph.Initializers) != len(m.Graph.Initializers) ||
		len(back.Graph.Inputs) != len(m.Graph.Inputs) || len(back.Graph.Outputs) != len(m.Graph.Outputs) {
		t.Fatalf("round trip changed the graph's size")
	}
	ext := 0
	for i, tb := range back.Graph.Initializers {
		ta := m.Graph.Initializers[i]
		if tb.Name != ta.Name || tb.DataType != ta.DataType || len(tb.Dims) != len(ta.Dims) {
			t.Fatalf("initializer %d: %q/%d/%v, want %q/%d/%v", i, tb.Name, tb.DataType, tb.Dims, ta.Name, ta.DataType, ta.Dims)
		}
		if tb.External == nil {
			if !bytes.Equal(tb.Raw, ta.Raw) {
				t.Fatalf("inline initializer %q differs", ta.Name)
			}
			continue
		}
		ext++
		off, _ := parseNonNeg(tb.External["offset"])
		n, _ := parseNonNeg(tb.External["length"])
		if tb.External["location"] != filepath.Base(merged) || !bytes.Equal(src[off:off+n], ta.Raw) {
			t.Fatalf("initializer %q: external reference %v does not hold its data", ta.Name, tb.External)
		}
	}
	if ext == 0 {
		t.Fatal("no initializer became a reference into the source file")
	}
	for i, n := range back.Graph.Nodes {
		a := m.Graph.Nodes[i]
		if n.Name != a.Name || n.OpType != a.OpType || len(n.Inputs) != len(a.Inputs) || len(n.Attrs) != len(a.Attrs) {
			t.Fatalf("node %d: %s %s, want %s %s", i, n.Name, n.OpType, a.Name, a.OpType)
		}
	}
}

func TestSelfContainedRoundTripIsStable(t *testing.T) {
	m, err := Open(merged)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a := m.MarshalSelfContained()
	p, err := Parse(a)
	if err != nil {
		t.Fatal(err)
	}
	if b := p.Marshal(); !bytes.Equal(a, b) {
		t.Fatalf("parse then marshal changed %d bytes into %d", len(a), len(b))
	}
}

// writeModel writes a one-initializer model whose tensor data is external.
func writeModel(t *testing.T, dir, location string) string {
	t.Helper()
	m := &Model{IRVersion: 8, Opsets: []Opset{{Version: 17}}, Graph: &Graph{Name: "g",
		Initializers: []*Tensor{{Name: "w", DataType: Float, Dims: []int64{1},
			External: map[string]string{"location": location, "offset": "0", "length": "4"}}},
		Outputs: []*ValueInfo{NewValueInfo("w", Float, []int64{1}, nil)}}}
	p := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(p, m.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExternalDataStaysInTheFolder(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "model")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "outside.bin"), []byte("abcd"), 0o644)
	os.WriteFile(filepath.Join(dir, "weights.bin"), []byte("abcd"), 0o644)
	os.WriteFile(filepath.Join(dir, "short.bin"), []byte("ab"), 0o644)
	if err := os.Symlink(filepath.Join(root, "outside.bin"), filepath.Join(dir, "link.bin")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		loc string
		ok  bool
	}{
		{"weights.bin", true},
		{"../outside.bin", false},
		{filepath.Join(root, "outside.bin"), false},
		{"link.bin", false},
		{"sub/../../outside.bin", false},
		{"short.bin", false},
		{"missing.bin", false},
	} {
		p := writeModel(t, dir, tc.loc)
		m, err := Open(p)
		if tc.ok {
			if err != nil {
				t.Errorf("%s: %v", tc.loc, err)
			} else {
				m.Close()
			}
			continue
		}
		if !errors.Is(err, ErrUnsafeExternal) {
			t.Errorf("%s: error %v, want ErrUnsafeExternal", tc.loc, err)
		}
	}
}

func TestTruncatedModelsAreRefused(t *testing.T) {
	data, err := os.ReadFile(merged)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 7, 100, 1000, len(data) / 3, len(data) - 1} {
		if _, err := Parse(data[:n]); !errors.Is(err, ErrMalformed) {
			t.Errorf("first %d bytes: error %v, want ErrMalformed", n, err)
		}
	}
}

// FuzzParse: no input panics or allocates beyond its own size; what parses
// marshals and parses again.
//
//	go test ./onnx -run '^$' -fuzz FuzzParse -fuzztime 1000000x
func FuzzParse(f *testing.F) {
	data, err := os.ReadFile("../models/smolvlm/testdata/smolvlm-twin/onnx/vision_encoder.onnx")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add([]byte{0x3a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not wrapping ErrMalformed: %v", err)
			}
			return
		}
		if _, err := Parse(m.Marshal()); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		x := NewIndex(m.Graph)
		for _, o := range m.Graph.Outputs {
			x.ElemType(o.Name)
		}
	})
}
