package batch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/scenes"

	_ "github.com/vlmrun/vlmrun/models/scenes"
)

// tree writes a folder of good and broken images (and a non-image file a
// folder walk must skip) and returns it with the image paths.
func tree(t *testing.T, good int) (string, []string, []string) {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755)
	os.MkdirAll(filepath.Join(dir, ".hidden"), 0o755)
	var goods []string
	for i := range good {
		var buf bytes.Buffer
		png.Encode(&buf, scenes.Generate(7500, i).Render(96))
		p := filepath.Join(dir, []string{"", "sub", "sub/deeper"}[i%3], "img"+string(rune('a'+i))+".PNG")
		os.WriteFile(p, buf.Bytes(), 0o644)
		goods = append(goods, p)
	}
	bad := []string{filepath.Join(dir, "empty.jpg"), filepath.Join(dir, "sub", "text.png"), filepath.Join(dir, "cut.png")}
	os.WriteFile(bad[0], nil, 0o644)
	os.WriteFile(bad[1], []byte("not an image at all"), 0o644)
	data, _ := os.ReadFile(goods[0])
	os.WriteFile(bad[2], data[:len(data)/3], 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("skip me"), 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden", "x.png"), data, 0o644)
	return dir, goods, bad
}

func readLines(t *testing.T, path string) []Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func TestExpandAndShards(t *testing.T) {
	dir, goods, bad := tree(t, 30)
	all, err := Expand([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(append(slices.Clone(goods), bad...)))
	if !slices.Equal(all, want) {
		t.Fatalf("Expand(dir) = %v\nwant %v", all, want)
	}
	// a glob, a file given twice, a folder overlapping them: no duplicates
	again, err := Expand([]string{filepath.Join(dir, "*.PNG"), goods[0], goods[0], filepath.Join(dir, "sub")})
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(slices.Compact(slices.Clone(again))) {
		t.Errorf("duplicates in %v", again)
	}
	if _, err := Expand([]string{filepath.Join(dir, "nope.png")}); err == nil {
		t.Error("a missing file is not an error")
	}
	if _, err := Expand([]string{filepath.Join(dir, "*.gif")}); err == nil {
		t.Error("a glob matching nothing is not an error")
	}
	// shards partition the input exactly, for any N
	for n := 1; n <= 7; n++ {
		seen := map[string]int{}
		for i := range n {
			for _, p := range (Shard{i, n}).Select(all) {
				seen[p]++
			}
		}
		for _, p := range all {
			if seen[p] != 1 {
				t.Errorf("N=%d: %s in %d shards", n, p, seen[p])
			}
		}
		if len(seen) != len(all) {
			t.Errorf("N=%d: shards hold %d paths, input %d", n, len(seen), len(all))
		}
	}
	for _, s := range []string{"", "1", "3/3", "-1/2", "a/b", "0/0"} {
		if _, err := ParseShard(s); err == nil {
			t.Errorf("ParseShard(%q) accepted", s)
		}
	}
	if s, err := ParseShard("2/5"); err != nil || s != (Shard{2, 5}) {
		t.Errorf("ParseShard(2/5) = %v, %v", s, err)
	}
}

func openPool(t *testing.T) *pipeline.Pool {
	t.Helper()
	testenv.ORT(t)
	p, err := pipeline.OpenPool(testenv.Model(t), pipeline.Options{ORT: ortx.Options{Threads: 1}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// A folder of good and broken images gives one line per image, captions
// equal to the pipeline's; a resumed run does no work; an interrupted
// write is cut off and redone; --retry-errors retries only the errors;
// shards together caption each image once.
func TestRunResumeShards(t *testing.T) {
	pool := openPool(t)
	dir, goods, bad := tree(t, 5)
	paths, err := Expand([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, p := range goods {
		data, _ := os.ReadFile(p)
		res, err := pool.Caption(context.Background(), p, bytes.NewReader(data), pipeline.Request{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want[p] = res.Caption
	}
	out := filepath.Join(t.TempDir(), "out.jsonl")
	var bar bytes.Buffer
	cfg := Config{Paths: paths, Out: out, Model: pool, Workers: 2, Progress: &bar}
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total != 8 || sum.Captioned != 5 || sum.Failed != 3 || sum.Skipped != 0 {
		t.Errorf("summary %+v", sum)
	}
	check := func(recs []Record) {
		t.Helper()
		byPath := map[string]Record{}
		for _, r := range recs {
			if _, dup := byPath[r.Path]; dup {
				t.Errorf("%s has two lines", r.Path)
			}
			byPath[r.Path] = r
		}
		for _, p := range goods {
			r := byPath[p]
			if r.Caption == nil || *r.Caption != want[p] || r.Error != "" || r.Method != "none" ||
				r.Tokens == nil || r.Tokens.Generated == 0 || r.Timings == nil || r.Timings.Total <= 0 {
				t.Errorf("%s: %+v, want caption %q", p, r, want[p])
			}
		}
		for _, p := range bad {
			r := byPath[p]
			if r.Caption != nil || !strings.Contains(r.Error, filepath.Base(p)) {
				t.Errorf("%s: want an error line naming it, got %+v", p, r)
			}
		}
		if len(byPath) != len(paths) {
			t.Errorf("%d paths in the output, want %d", len(byPath), len(paths))
		}
	}
	check(readLines(t, out))
	if !strings.Contains(bar.String(), "8/8") || !strings.Contains(bar.String(), "img/s") || !strings.Contains(bar.String(), "failed 3") {
		t.Errorf("progress bar %q", bar.String())
	}
	before, _ := os.ReadFile(out)

	// resume: nothing to do, the file is unchanged
	sum, err = Run(context.Background(), cfg)
	if err != nil || sum.Skipped != 8 || sum.Captioned+sum.Failed != 0 {
		t.Errorf("resumed run: %+v %v", sum, err)
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Error("a resumed run changed the output")
	}

	// a killed run: the last two lines lost, a third half-written
	lines := bytes.SplitAfter(bytes.TrimSuffix(before, []byte("\n")), []byte("\n"))
	cut := bytes.Join(lines[:len(lines)-3], nil)
	cut = append(cut, lines[len(lines)-3][:20]...)
	os.WriteFile(out, cut, 0o644)
	sum, err = Run(context.Background(), cfg)
	if err != nil || sum.Skipped != 5 || sum.Captioned+sum.Failed != 3 || !sum.Previous.Truncated {
		t.Errorf("run after a kill: %+v %v", sum, err)
	}
	check(readLines(t, out))

	// --retry-errors: only the three failures run again
	cfg.RetryErrors = true
	sum, err = Run(context.Background(), cfg)
	if err != nil || sum.Skipped != 5 || sum.Failed != 3 || sum.Captioned != 0 {
		t.Errorf("retry errors: %+v %v", sum, err)
	}

	// shards: three runs into three files caption each image exactly once
	seen := map[string]int{}
	for i := range 3 {
		o := filepath.Join(t.TempDir(), "shard.jsonl")
		c := Config{Paths: paths, Out: o, Model: pool, Shard: Shard{i, 3}}
		if _, err := Run(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		for _, r := range readLines(t, o) {
			seen[r.Path]++
			if r.Caption != nil && *r.Caption != want[r.Path] {
				t.Errorf("shard %d: %s caption %q, want %q", i, r.Path, *r.Caption, want[r.Path])
			}
		}
	}
	for _, p := range paths {
		if seen[p] != 1 {
			t.Errorf("%s captioned by %d shards", p, seen[p])
		}
	}
}

// A cancelled run writes no line for the images it did not finish and
// says so; the next run completes them.
func TestRunCancelled(t *testing.T) {
	pool := openPool(t)
	dir, _, _ := tree(t, 3)
	paths, _ := Expand([]string{dir})
	out := filepath.Join(t.TempDir(), "out.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sum, err := Run(ctx, Config{Paths: paths, Out: out, Model: pool})
	if err == nil || sum.Captioned+sum.Failed != 0 {
		t.Errorf("cancelled run: %+v %v", sum, err)
	}
	sum, err = Run(context.Background(), Config{Paths: paths, Out: out, Model: pool})
	if err != nil || sum.Captioned+sum.Failed != len(paths) {
		t.Errorf("next run: %+v %v", sum, err)
	}
}

func TestProgressLine(t *testing.T) {
	now := time.Unix(0, 0)
	p := newProgress(nil, 100, 20)
	p.now = func() time.Time { return now }
	p.start = now
	for range 10 {
		p.add(false)
	}
	now = now.Add(2 * time.Second)
	got := p.line()
	if !strings.Contains(got, "30/100") || !strings.Contains(got, "5.0 img/s") || !strings.Contains(got, "ETA 14s") {
		t.Errorf("line %q", got)
	}
}
