package ortx

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// tinyGraph copies the embedded model's embed_tokens graph (a Gather) to a
// temporary folder, so that tests can change its modification time.
func tinyGraph(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "..", "models", "scenes-tiny", "onnx", "embed_tokens.onnx")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Skipf("embedded model: %v", err)
	}
	p := filepath.Join(t.TempDir(), "embed_tokens.onnx")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCacheEntryKey(t *testing.T) {
	src := tinyGraph(t)
	dir := t.TempDir()
	base, prefix, err := cacheEntry(dir, src, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(base), prefix+"-") || filepath.Dir(base) != dir {
		t.Fatalf("entry %s not in %s with prefix %s", base, dir, prefix)
	}
	tests := []struct {
		name   string
		change func()
		o      Options
		same   bool
	}{
		{"same file and options", func() {}, Options{Threads: 2}, true},
		{"thread count does not shape the graph", func() {}, Options{Threads: 1, InterThreads: 3}, true},
		{"optimization level", func() {}, Options{Threads: 2, Tune: Tuning{Opt: "basic"}}, false},
		{"config entry", func() {}, Options{Tune: Tuning{Config: []ConfigEntry{{"session.x", "1"}}}}, false},
		{"modification time", func() {
			if err := os.Chtimes(src, time.Now(), time.Unix(1_000_000, 0)); err != nil {
				t.Fatal(err)
			}
		}, Options{Threads: 2}, false},
	}
	for _, tc := range tests {
		tc.change()
		e, p, err := cacheEntry(dir, src, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		if p != prefix {
			t.Errorf("%s: prefix %s, want the source's %s", tc.name, p, prefix)
		}
		if (e == base) != tc.same {
			t.Errorf("%s: entry %s vs %s, want same=%v", tc.name, filepath.Base(e), filepath.Base(base), tc.same)
		}
	}
	link := filepath.Join(t.TempDir(), "link.onnx")
	if err := os.Symlink(src, link); err == nil {
		want, _, _ := cacheEntry(dir, src, Options{Threads: 2})
		if e, _, err := cacheEntry(dir, link, Options{Threads: 2}); err != nil || e != want {
			t.Errorf("a link to the source: entry %s, %v; want the source's %s", e, err, want)
		}
	}
	if _, _, err := cacheEntry(dir, filepath.Join(dir, "missing.onnx"), Options{}); err == nil {
		t.Error("a missing source file gave an entry")
	}
}

func TestCacheable(t *testing.T) {
	for _, tc := range []struct {
		o        Options
		external bool
		want     bool
	}{
		{Options{}, false, true},
		{Options{Tune: Tuning{Opt: "basic"}}, false, true},
		{Options{Tune: Tuning{Opt: "disable"}}, false, false},
		{Options{Device: "cuda:0"}, false, false},
		{Options{}, true, false},
	} {
		if got := cacheable(tc.o, tc.external); got != tc.want {
			t.Errorf("cacheable(%+v, external %v) = %v, want %v", tc.o, tc.external, got, tc.want)
		}
	}
}

// TestGraphCache opens a graph through the cache: the first open writes the
// entry, the second opens it, both compute the same; a damaged entry is
// rebuilt; a changed source replaces its entry; an unusable folder is one
// clear error.
func TestGraphCache(t *testing.T) {
	if _, err := Setup(""); err != nil {
		t.Skipf("no ONNX Runtime library: %v", err)
	}
	src := tinyGraph(t)
	dir := filepath.Join(t.TempDir(), "graphs")
	o := Options{Threads: 1, GraphCache: dir}
	ids := []int64{0, 3, 5, 1}
	run := func(o Options) ([]float32, bool) {
		t.Helper()
		s, err := Open(src, []Port{Int64("input_ids")}, []Port{Float("inputs_embeds")}, o)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Destroy()
		in, err := Tensor(slices.Clone(ids), 1, int64(len(ids)))
		if err != nil {
			t.Fatal(err)
		}
		defer in.Destroy()
		outs := []ort.Value{nil}
		if err := s.Run([]ort.Value{in}, outs); err != nil {
			t.Fatal(err)
		}
		defer outs[0].Destroy()
		f, ok := outs[0].(*ort.Tensor[float32])
		if !ok {
			t.Fatalf("output is %T", outs[0])
		}
		return slices.Clone(f.GetData()), s.FromCache
	}
	// entries lists the cache's graphs and checks that each has its weights
	// file and that no other file is left
	entries := func() []string {
		t.Helper()
		all, _ := filepath.Glob(filepath.Join(dir, "*"))
		all = slices.DeleteFunc(all, func(p string) bool { return strings.HasSuffix(p, ".lock") })
		es, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
		for _, e := range es {
			if st, err := os.Stat(strings.TrimSuffix(e, ".onnx") + ".data"); err != nil || st.Size() == 0 {
				t.Errorf("entry %s has no weights file: %v", e, err)
			}
		}
		if len(all) != 2*len(es) {
			t.Errorf("cache holds %v, want a graph and a weights file per entry", all)
		}
		return es
	}
	want, _ := run(Options{Threads: 1})
	got, cached := run(o)
	if cached || !slices.Equal(got, want) {
		t.Fatalf("first cached open: from cache %v, equal %v", cached, slices.Equal(got, want))
	}
	first := entries()
	if len(first) != 1 || !strings.HasSuffix(first[0], ".onnx") {
		t.Fatalf("cache holds %v, want one entry", first)
	}
	got, cached = run(o)
	if !cached || !slices.Equal(got, want) {
		t.Fatalf("second open: from cache %v, equal %v", cached, slices.Equal(got, want))
	}
	// a damaged entry is dropped and written again
	if err := os.WriteFile(first[0], []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, cached = run(o)
	if cached || !slices.Equal(got, want) {
		t.Fatalf("damaged entry: from cache %v, equal %v", cached, slices.Equal(got, want))
	}
	if _, cached = run(o); !cached {
		t.Fatal("the rebuilt entry was not used")
	}
	// a changed source gets a new entry and its old one goes
	if err := os.Chtimes(src, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, cached = run(o); cached {
		t.Fatal("a changed source file was served from the cache")
	}
	now := entries()
	if len(now) != 1 || now[0] == first[0] {
		t.Fatalf("after the source changed the cache holds %v (before %v), want one new entry", now, first)
	}
	// an entry unused for longer than maxUnused goes when another is written
	old := filepath.Join(dir, "0000000000000000-000000000000000000000000.onnx")
	for _, f := range []string{old, strings.TrimSuffix(old, ".onnx") + ".data"} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(old, time.Now(), time.Now().Add(-maxUnused-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(src, time.Now(), time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, cached = run(o); cached {
		t.Fatal("a changed source file was served from the cache")
	}
	if es := entries(); len(es) != 1 || es[0] == old {
		t.Fatalf("after an old entry and a new write the cache holds %v, want only the new entry", es)
	}
	// a folder that cannot be made
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(src, []Port{Int64("input_ids")}, []Port{Float("inputs_embeds")}, Options{GraphCache: filepath.Join(blocker, "graphs")})
	if err == nil || !strings.Contains(err.Error(), "graph cache") || !strings.Contains(err.Error(), "--ort-graph-cache") {
		t.Fatalf("unusable cache folder: error %v", err)
	}
}

// Entries of other options stay when a file gets a new one (no thrashing
// between two settings); a changed file's new entry deletes all its older
// ones.
func TestGraphCacheOptionsCoexist(t *testing.T) {
	if _, err := Setup(""); err != nil {
		t.Skipf("no ONNX Runtime library: %v", err)
	}
	src := tinyGraph(t)
	dir := t.TempDir()
	open := func(opt string) bool {
		t.Helper()
		tu, err := ParseTuning(opt)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(src, []Port{Int64("input_ids")}, []Port{Float("inputs_embeds")}, Options{Threads: 1, GraphCache: dir, Tune: tu})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Destroy()
		return s.FromCache
	}
	count := func() int {
		es, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
		return len(es)
	}
	for _, want := range []bool{false, true} {
		for _, opt := range []string{"default", "opt=basic"} {
			if got := open(opt); got != want {
				t.Fatalf("%s: from cache %v, want %v", opt, got, want)
			}
		}
	}
	if n := count(); n != 2 {
		t.Fatalf("%d entries for two option sets, want 2", n)
	}
	if err := os.Chtimes(src, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if open("default") {
		t.Fatal("a changed file was served from the cache")
	}
	if n := count(); n != 1 {
		t.Fatalf("%d entries after the file changed, want 1 (the older version's two gone)", n)
	}
}

// TestGraphCacheRuntimesCoexist: an entry another ORT library wrote for
// the same file (the same prefix and file part, another runtime part)
// stays when this one writes its own, so processes alternating between
// two libraries (--ort-lib) do not evict each other's entries on every
// start; a changed file still removes it.
func TestGraphCacheRuntimesCoexist(t *testing.T) {
	if _, err := Setup(""); err != nil {
		t.Skipf("no ONNX Runtime library: %v", err)
	}
	src := tinyGraph(t)
	dir := t.TempDir()
	mine, prefix, err := cacheEntry(dir, src, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	// prefix-file-runtime-options.onnx: swap the runtime part
	parts := strings.Split(strings.TrimSuffix(filepath.Base(mine), ".onnx"), "-")
	if len(parts) != 4 || parts[0] != prefix {
		t.Fatalf("entry name %s: want prefix-file-runtime-options", filepath.Base(mine))
	}
	other := filepath.Join(dir, strings.Join([]string{parts[0], parts[1], "00000000", parts[3]}, "-"))
	for _, ext := range []string{".onnx", ".data"} {
		if err := os.WriteFile(other+ext, []byte("another runtime's entry"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(src, []Port{Int64("input_ids")}, []Port{Float("inputs_embeds")}, Options{Threads: 1, GraphCache: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.Destroy()
	if _, err := os.Stat(mine); err != nil {
		t.Fatalf("this runtime's entry was not written: %v", err)
	}
	for _, ext := range []string{".onnx", ".data"} {
		if _, err := os.Stat(other + ext); err != nil {
			t.Errorf("another runtime's entry %s was deleted by this one's write: %v", ext, err)
		}
	}
	if err := os.Chtimes(src, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s, err = Open(src, []Port{Int64("input_ids")}, []Port{Float("inputs_embeds")}, Options{Threads: 1, GraphCache: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.Destroy()
	if _, err := os.Stat(other + ".onnx"); !os.IsNotExist(err) {
		t.Errorf("another runtime's entry of the file's older contents stayed (%v)", err)
	}
}
