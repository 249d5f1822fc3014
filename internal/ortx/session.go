package ortx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// Options configures sessions.
type Options struct {
	Threads      int    // intra-op threads; 0 = ORT default
	InterThreads int    // inter-op threads; 0 = ORT default
	Device       string // "cpu" (default), "cuda" or "cuda:N"
	// SpinningStop sets session.force_spinning_stop: ORT's intra-op
	// workers stop spinning as soon as Run returns instead of spinning on
	// for a while (ORT's default). Every session has its own thread pool,
	// so spinning workers of one session compete with the next session's
	// Run and with Go's image work for the same cores. On 2 cores it made
	// a 512 px SmolVLM caption ~5 % faster but was neutral to ~3 % slower
	// at 2048 px (docs/smolvlm-realistic.md, "ORT thread spinning"), so it is opt-in.
	SpinningStop bool
	// Tune holds the other session options (graph optimization level,
	// spinning, arena, memory pattern, prepacking, config entries).
	Tune Tuning
	// GraphCache is a folder for ORT-optimized graphs (see graphcache.go);
	// "" opens every file from scratch. Only Open uses it.
	GraphCache string
}

// Port names one expected graph input or output and its element type.
type Port struct {
	Name string
	Type ort.TensorElementDataType
}

// Float and Int64 ports.
func Float(name string) Port { return Port{name, ort.TensorElementDataTypeFloat} }

// Int64 is a port of int64 elements.
func Int64(name string) Port { return Port{name, ort.TensorElementDataTypeInt64} }

// Session is an ONNX graph opened for running with named, checked inputs
// and outputs. It records how many Run calls it made and their total time.
type Session struct {
	Path    string
	Inputs  []Port
	Outputs []Port
	// FromCache: the graph came from Options.GraphCache's existing entry.
	FromCache bool
	s         *ort.DynamicAdvancedSession
	calls     atomic.Int64
	nanos     atomic.Int64
}

// ErrGraphMismatch is returned (wrapped) when a graph's inputs or outputs are
// not what vlmrun expects.
var ErrGraphMismatch = errors.New("graph inputs/outputs do not match")

// ParseDevice splits "cuda:1" into ("cuda", 1).
func ParseDevice(dev string) (string, int, error) {
	if dev == "" || dev == "cpu" {
		return "cpu", 0, nil
	}
	name, num, found := strings.Cut(dev, ":")
	if name != "cuda" {
		return "", 0, fmt.Errorf("ortx: unknown device %q (want cpu, cuda or cuda:N)", dev)
	}
	id := 0
	if found {
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 {
			return "", 0, fmt.Errorf("ortx: bad device number in %q", dev)
		}
		id = n
	}
	return "cuda", id, nil
}

func newOptions(o Options) (*ort.SessionOptions, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ortx: session options: %w", err)
	}
	fail := func(err error) (*ort.SessionOptions, error) {
		so.Destroy()
		return nil, err
	}
	if o.Threads > 0 {
		if err := so.SetIntraOpNumThreads(o.Threads); err != nil {
			return fail(fmt.Errorf("ortx: set threads: %w", err))
		}
	}
	if o.InterThreads > 0 {
		if err := so.SetInterOpNumThreads(o.InterThreads); err != nil {
			return fail(fmt.Errorf("ortx: set inter-op threads: %w", err))
		}
	}
	if o.SpinningStop {
		if err := so.AddSessionConfigEntry("session.force_spinning_stop", "1"); err != nil {
			return fail(fmt.Errorf("ortx: set session.force_spinning_stop: %w", err))
		}
	}
	if err := o.Tune.apply(so); err != nil {
		return fail(err)
	}
	dev, id, err := ParseDevice(o.Device)
	if err != nil {
		return fail(err)
	}
	if dev == "cuda" {
		co, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return fail(cudaError(err))
		}
		defer co.Destroy()
		if err := co.Update(map[string]string{"device_id": strconv.Itoa(id)}); err != nil {
			return fail(cudaError(err))
		}
		if err := so.AppendExecutionProviderCUDA(co); err != nil {
			return fail(cudaError(err))
		}
	}
	return so, nil
}

func cudaError(err error) error {
	return fmt.Errorf("ortx: the ONNX Runtime library %s cannot use CUDA (%v); the npm build "+
		"is CPU-only: use a GPU build of ONNX Runtime >= 1.24 with its "+
		"libonnxruntime_providers_cuda.so and _shared.so beside it, plus the CUDA and cuDNN "+
		"runtimes, and pass it with --ort-lib", LibraryPath(), err)
}

// Open opens the graph at path and checks that it has the wanted inputs and
// outputs (extra graph outputs are allowed and ignored; every graph input
// must be wanted, since ORT needs a value for each).
func Open(path string, inputs, outputs []Port, o Options) (*Session, error) {
	name := filepath.Base(path)
	if st, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("ortx: open %s: %w", path, err)
	} else if st.IsDir() {
		return nil, fmt.Errorf("ortx: open %s: is a directory", path)
	}
	so, err := newOptions(o)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	ins, outs, external, err := graphFacts(path)
	if err != nil {
		return nil, err
	}
	if err := checkPorts(name, "input", inputs, ins, true); err != nil {
		return nil, err
	}
	if err := checkPorts(name, "output", outputs, outs, false); err != nil {
		return nil, err
	}
	in := make([]string, len(inputs))
	for i, p := range inputs {
		in[i] = p.Name
	}
	out := make([]string, len(outputs))
	for i, p := range outputs {
		out[i] = p.Name
	}
	var (
		s      *ort.DynamicAdvancedSession
		cached bool
	)
	if o.GraphCache != "" && cacheable(o, external) {
		s, cached, err = openCached(path, in, out, o, so)
	} else {
		s, err = ort.NewDynamicAdvancedSession(path, in, out, so)
	}
	if err != nil {
		return nil, fmt.Errorf("ortx: open %s: %w", path, err)
	}
	return &Session{Path: path, Inputs: inputs, Outputs: outputs, FromCache: cached, s: s}, nil
}

func checkPorts(file, kind string, want []Port, have []ort.InputOutputInfo, exact bool) error {
	byName := map[string]ort.InputOutputInfo{}
	var names []string
	for _, h := range have {
		byName[h.Name] = h
		names = append(names, fmt.Sprintf("%s (%s)", h.Name, h.DataType))
	}
	for _, w := range want {
		h, ok := byName[w.Name]
		if !ok {
			return fmt.Errorf("ortx: open %s: %s %q missing; the graph has %s: %w",
				file, kind, w.Name, strings.Join(names, ", "), ErrGraphMismatch)
		}
		if h.DataType != w.Type {
			return fmt.Errorf("ortx: open %s: %s %q is %s, want %s: %w",
				file, kind, w.Name, h.DataType, w.Type, ErrGraphMismatch)
		}
		delete(byName, w.Name)
	}
	if exact && len(byName) > 0 {
		var extra []string
		for n := range byName {
			extra = append(extra, n)
		}
		return fmt.Errorf("ortx: open %s: unexpected %s(s) %s: %w",
			file, kind, strings.Join(extra, ", "), ErrGraphMismatch)
	}
	return nil
}

// Run runs the graph. inputs and outputs follow the Port order given to
// Open; a nil output is allocated by ORT (and then owned by the caller).
func (s *Session) Run(inputs, outputs []ort.Value) error {
	t := time.Now()
	err := s.s.Run(inputs, outputs)
	s.nanos.Add(int64(time.Since(t)))
	s.calls.Add(1)
	if err != nil {
		return fmt.Errorf("ortx: run %s: %w", filepath.Base(s.Path), err)
	}
	return nil
}

// Stats returns the number of Run calls and their total time so far.
func (s *Session) Stats() (calls int64, total time.Duration) {
	return s.calls.Load(), time.Duration(s.nanos.Load())
}

// Destroy releases the session. It is safe on a nil Session.
func (s *Session) Destroy() {
	if s != nil && s.s != nil {
		s.s.Destroy()
		s.s = nil
	}
}

// Tensor wraps data in a float32 tensor of the given shape (no copy).
func Tensor[T float32 | int64](data []T, shape ...int64) (*ort.Tensor[T], error) {
	t, err := ort.NewTensor(ort.NewShape(shape...), data)
	if err != nil {
		return nil, fmt.Errorf("ortx: tensor %v: %w", shape, err)
	}
	return t, nil
}

// OpenBytes opens a graph held in memory (name is used in errors and
// statistics). Its external data, if any, is read relative to dir (ORT's
// session.model_external_initializers_file_folder_path). The ports are
// trusted: the caller built the graph.
func OpenBytes(name string, data []byte, dir string, inputs, outputs []Port, o Options) (*Session, error) {
	so, err := newOptions(o)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if dir != "" {
		if err := so.AddSessionConfigEntry("session.model_external_initializers_file_folder_path", dir); err != nil {
			return nil, fmt.Errorf("ortx: open %s: set the external data folder: %w", name, err)
		}
	}
	in := make([]string, len(inputs))
	for i, p := range inputs {
		in[i] = p.Name
	}
	out := make([]string, len(outputs))
	for i, p := range outputs {
		out[i] = p.Name
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(data, in, out, so)
	if err != nil {
		return nil, fmt.Errorf("ortx: open %s: %w", name, err)
	}
	return &Session{Path: name, Inputs: inputs, Outputs: outputs, s: s}, nil
}
