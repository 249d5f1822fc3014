package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// source is the file a Model was read from, mapped read-only.
type source struct {
	path string
	dir  string
	base string
	data []byte
	size int64
}

// ErrUnsafeExternal is returned (wrapped) for external-data locations that
// leave the model's folder or do not fit their file.
var ErrUnsafeExternal = errors.New("unsafe external data")

// Open maps the model file at path read-only and parses it; tensor data
// stays in the mapping (never copied into Go memory). External-data
// locations are checked: relative, inside the model's folder (symbolic links
// resolved), and within their file's size. Close releases the mapping.
func Open(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("onnx: %s: not a regular file", path)
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("onnx: %s: empty file: %w", path, ErrMalformed)
	}
	if st.Size() > 1<<40 {
		return nil, fmt.Errorf("onnx: %s: %d bytes is too large", path, st.Size())
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("onnx: map %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		syscall.Munmap(data)
		return nil, fmt.Errorf("onnx: %w", err)
	}
	src := &source{path: abs, dir: filepath.Dir(abs), base: filepath.Base(abs), data: data, size: st.Size()}
	m, err := parseModel(data, src)
	if err == nil {
		err = m.checkExternal()
	}
	if err != nil {
		syscall.Munmap(data)
		return nil, fmt.Errorf("onnx: %s: %w", filepath.Base(path), err)
	}
	return m, nil
}

// Close releases the file mapping of a model from Open. The Model (and
// anything sharing its tensors) must not be used afterwards, except for
// Marshal output already produced.
func (m *Model) Close() error {
	if m == nil || m.src == nil || m.src.data == nil {
		return nil
	}
	err := syscall.Munmap(m.src.data)
	m.src.data = nil
	return err
}

// Dir is the folder that a Marshal'ed graph's external data is relative to
// (the source file's folder); "" for a model from Parse.
func (m *Model) Dir() string {
	if m.src == nil {
		return ""
	}
	return m.src.dir
}

// Path is the source file's absolute path ("" for a model from Parse).
func (m *Model) Path() string {
	if m.src == nil {
		return ""
	}
	return m.src.path
}

func (m *Model) checkExternal() error {
	var err error
	sizes := map[string]int64{} // resolved size per location (files with many tensors)
	walkGraphs(m.Graph, func(g *Graph) {
		for _, t := range g.Initializers {
			if err == nil && t.External != nil {
				err = m.checkTensor(t, sizes)
			}
		}
	})
	return err
}

// walkGraphs calls fn on g and every subgraph in it.
func walkGraphs(g *Graph, fn func(*Graph)) {
	fn(g)
	for _, n := range g.Nodes {
		for _, a := range n.Attrs {
			if a.G != nil {
				walkGraphs(a.G, fn)
			}
			for _, s := range a.Graphs {
				walkGraphs(s, fn)
			}
		}
	}
}

// checkTensor checks one external-data reference; sizes caches each
// location's file size once the location has been checked.
func (m *Model) checkTensor(t *Tensor, sizes map[string]int64) error {
	loc := t.External["location"]
	bad := func(why string) error {
		return fmt.Errorf("tensor %q: external data %q %s: %w", t.Name, loc, why, ErrUnsafeExternal)
	}
	if filepath.IsAbs(loc) || strings.HasPrefix(loc, "/") || strings.Contains(loc, "\\") {
		return bad("is an absolute path")
	}
	clean := filepath.Clean(loc)
	if clean == ".." || strings.HasPrefix(clean, "../") || clean == "." {
		return bad("leaves the model folder")
	}
	if m.src == nil {
		return nil
	}
	size, ok := sizes[clean]
	if !ok {
		var err error
		if size, err = m.locationSize(clean); err != nil {
			return bad(err.Error())
		}
		sizes[clean] = size
	}
	off, err1 := parseNonNeg(t.External["offset"])
	n, err2 := parseNonNeg(t.External["length"])
	if err1 != nil || err2 != nil {
		return bad("has a bad offset or length")
	}
	if t.External["length"] == "" {
		n = size - off
	}
	if off > size || n > size-off {
		return bad(fmt.Sprintf("range %d+%d is beyond the file's %d bytes", off, n, size))
	}
	return nil
}

// locationSize resolves an external-data file (symbolic links included),
// checks that it stays inside the model folder, and returns its size.
func (m *Model) locationSize(clean string) (int64, error) {
	p := filepath.Join(m.src.dir, clean)
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return 0, fmt.Errorf("cannot be resolved (%v)", err)
	}
	dir, err := filepath.EvalSymlinks(m.src.dir)
	if err != nil {
		return 0, fmt.Errorf("folder cannot be resolved (%v)", err)
	}
	if rel, err := filepath.Rel(dir, real); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return 0, errors.New("points outside the model folder")
	}
	st, err := os.Stat(real)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func parseNonNeg(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return v, nil
}
