package decoder

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/internal/graphcache"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/onnx"
	"github.com/vlmrun/vlmrun/onnx/decsplit"
)

// splitter derives stage graphs from the merged decoder file on demand and
// keeps the opened stage sets, one per set of cut points.
type splitter struct {
	path     string // merged decoder file
	cacheDir string // "" = derive in memory every time
	o        ortx.Options

	mu   sync.Mutex
	sets map[string]*stageSet
	// BuildTime is the time spent deriving graphs (0 on a cache hit) and
	// LoadTime the time creating their sessions, for the last set opened.
	buildTime, loadTime time.Duration
}

// stageSet is the decoder as consecutive stages (layer ranges).
type stageSet struct {
	cuts   []int
	stages []*stage
}

type stage struct {
	first, last int
	sess        *ortx.Session
	in, out     []ortx.Port
	hasAttn     bool
	hasQK       bool // outputs decsplit.QOut and KOut
}

func (s *stageSet) destroy() {
	for _, st := range s.stages {
		st.sess.Destroy()
	}
}

// cacheVersion changes whenever the derivation changes, so stale cache
// entries are not reused.
const cacheVersion = "decsplit-1"

// key identifies the source file (path, size, modification time), cuts
// and the layer whose queries and keys are output (qk, -1 for none).
func (sp *splitter) key(cuts []int, qk int) (string, error) {
	k, err := graphcache.Key(cacheVersion, sp.path, decsplit.KeyQK(cuts, qk))
	if err != nil {
		return "", fmt.Errorf("decoder: %w", err)
	}
	return k, nil
}

// set returns the opened stage set for cuts (each cut after layer c,
// 0 <= c < layers-1), deriving and caching it on first use; fresh reports
// that this call opened it (buildTime and loadTime are then its own).
func (sp *splitter) set(cuts []int) (s *stageSet, fresh bool, err error) {
	return sp.setQK(cuts, -1)
}

// setQK is set whose stage ending after layer qk (one of cuts) also
// outputs that layer's pre-RoPE queries and keys (decsplit.StagesQK); qk
// < 0: none.
func (sp *splitter) setQK(cuts []int, qk int) (s *stageSet, fresh bool, err error) {
	cuts = slices.Clone(cuts)
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	k := decsplit.KeyQK(cuts, qk)
	if s, ok := sp.sets[k]; ok {
		return s, false, nil
	}
	s, err = sp.load(cuts, qk, false)
	if err != nil && sp.cacheDir != "" && sp.buildTime == 0 {
		// A cache entry that does not load (damaged on disk) is rebuilt.
		s, err = sp.load(cuts, qk, true)
	}
	if err != nil {
		return nil, false, err
	}
	if sp.sets == nil {
		sp.sets = map[string]*stageSet{}
	}
	sp.sets[k] = s
	return s, true, nil
}

// load derives (or reads from the cache unless rebuild) and opens the
// stage set for cuts.
func (sp *splitter) load(cuts []int, qk int, rebuild bool) (*stageSet, error) {
	graphs, dir, err := sp.graphs(cuts, qk, rebuild)
	if err != nil {
		return nil, err
	}
	t := time.Now()
	s := &stageSet{cuts: cuts}
	for i, b := range graphs {
		st, err := sp.open(i, b, dir)
		if err != nil {
			s.destroy()
			return nil, err
		}
		s.stages = append(s.stages, st)
	}
	sp.loadTime = time.Since(t)
	return s, nil
}

// graphs returns the marshalled stage graphs for cuts, from the disk cache
// when it has them (and rebuild is false), and the folder their external
// data is relative to.
func (sp *splitter) graphs(cuts []int, qk int, rebuild bool) ([][]byte, string, error) {
	dir := filepath.Dir(sp.path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	n := len(cuts) + 1
	var key string
	if sp.cacheDir != "" {
		var err error
		if key, err = sp.key(cuts, qk); err != nil {
			return nil, "", err
		}
		if out, ok := graphcache.Read(sp.cacheDir, key, n); ok && !rebuild {
			sp.buildTime = 0
			return out, dir, nil
		}
	}
	t := time.Now()
	m, err := onnx.Open(sp.path)
	if err != nil {
		return nil, "", fmt.Errorf("decoder: split: %w", err)
	}
	defer m.Close()
	plan, err := decsplit.Analyze(m, filepath.Base(sp.path))
	if err != nil {
		return nil, "", fmt.Errorf("decoder: split: %w", err)
	}
	stages, err := plan.StagesQK(cuts, qk)
	if err != nil {
		return nil, "", fmt.Errorf("decoder: split: %w", err)
	}
	var out [][]byte
	for _, s := range stages {
		out = append(out, s.Model.Marshal())
	}
	sp.buildTime = time.Since(t)
	if sp.cacheDir != "" {
		// Best effort: a cache that cannot be written costs a rebuild next time.
		_ = graphcache.Write(sp.cacheDir, key, out)
	}
	return out, dir, nil
}

// open creates the session of stage i from its graph bytes; the ports are
// read back from the graph.
func (sp *splitter) open(i int, b []byte, dir string) (*stage, error) {
	name := fmt.Sprintf("%s[stage %d]", filepath.Base(sp.path), i)
	m, err := onnx.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("decoder: %s: %w", name, err)
	}
	st := &stage{first: -1, last: -1}
	port := func(v *onnx.ValueInfo) ortx.Port {
		return ortx.Port{Name: v.Name, Type: ort.TensorElementDataType(v.ElemType)}
	}
	for _, v := range m.Graph.Inputs {
		st.in = append(st.in, port(v))
		if l, kind, ok := pastName(v.Name); ok && kind == "key" {
			if st.first < 0 || l < st.first {
				st.first = l
			}
			if l > st.last {
				st.last = l
			}
		}
		if v.Name == decsplit.AttnRows {
			st.hasAttn = true
		}
	}
	for _, v := range m.Graph.Outputs {
		st.out = append(st.out, port(v))
		st.hasQK = st.hasQK || v.Name == decsplit.QOut
	}
	if st.first < 0 {
		return nil, fmt.Errorf("decoder: %s: no past_key_values inputs", name)
	}
	if st.sess, err = ortx.OpenBytes(name, b, dir, st.in, st.out, sp.o); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	return st, nil
}

func pastName(s string) (int, string, bool) {
	m := pastRE.FindStringSubmatch(s)
	if m == nil {
		return 0, "", false
	}
	n, err := strconv.Atoi(m[1])
	return n, m[2], err == nil
}

func (sp *splitter) destroy() {
	if sp == nil {
		return
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for _, s := range sp.sets {
		s.destroy()
	}
	sp.sets = nil
}

func (sp *splitter) sessions() []*ortx.Session {
	if sp == nil {
		return nil
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	var out []*ortx.Session
	for _, s := range sp.sets {
		for _, st := range s.stages {
			out = append(out, st.sess)
		}
	}
	return out
}
