package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
)

// PruneSpec.Apply is what --prune/--keep and the server's extension use.
func TestPruneSpec(t *testing.T) {
	cases := []struct {
		method, keep string
		pre, in      string // method names set on the request
		err          string // substring of the error
	}{
		{method: "", keep: ""},
		{method: "none", keep: "100%"},
		{method: "none", keep: "0.5", err: "keep 0.5 needs a prune method"},
		{method: "divprune", keep: "0.25", pre: "divprune"},
		{method: "divprune", keep: "", pre: "divprune"},
		{method: "divprune", keep: "2.5", err: "bad keep"},
		{method: "nosuch", err: "unknown method"},
		{method: "fastv", keep: "0.5", in: "fastv"},
	}
	for _, c := range cases {
		var req pipeline.Request
		err := pipeline.PruneSpec{Method: c.method, Keep: c.keep}.Apply(&req)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q/%q: error %v, want %q", c.method, c.keep, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q/%q: %v", c.method, c.keep, err)
			continue
		}
		var pre, in string
		if req.Pre != nil {
			pre = req.Pre.Name()
		}
		if req.In != nil {
			in = req.In.Name()
		}
		if pre != c.pre || in != c.in {
			t.Errorf("%q/%q: pre %q in %q, want %q %q", c.method, c.keep, pre, in, c.pre, c.in)
		}
	}
	var req pipeline.Request
	err := pipeline.PruneSpec{Method: "nosuch"}.Apply(&req)
	if !errors.Is(err, pruning.ErrUnknownMethod) {
		t.Errorf("unknown method error %v does not wrap pruning.ErrUnknownMethod", err)
	}
}

// A stream callback returning ErrStop ends generation with a result.
func TestStreamStop(t *testing.T) {
	p := open(t)
	img, _ := scenePNG(t, 7003, 0, 96)
	full, err := p.Caption(context.Background(), "a.png", bytes.NewReader(img), pipeline.Request{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	res, err := p.Caption(context.Background(), "a.png", bytes.NewReader(img), pipeline.Request{},
		func(string) error {
			if n++; n == 3 {
				return pipeline.ErrStop
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GeneratedIDs) >= len(full.GeneratedIDs) || !slices.Equal(res.GeneratedIDs, full.GeneratedIDs[:len(res.GeneratedIDs)]) {
		t.Errorf("stopped ids %v are not a proper prefix of %v", res.GeneratedIDs, full.GeneratedIDs)
	}
}

// Concurrent calls on one Pipeline are marked ORTShared; a Pool's replicas
// run alone and give the same captions.
func TestPoolAndSharedORT(t *testing.T) {
	testenv.ORT(t)
	p := open(t)
	pool, err := pipeline.OpenPool(testenv.Model(t), pipeline.Options{ORT: ortx.Options{Threads: 1}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	img, _ := scenePNG(t, 7004, 1, 96)
	want, err := p.Caption(context.Background(), "a.png", bytes.NewReader(img), pipeline.Request{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want.Timings.ORTShared {
		t.Error("a lone call is marked ort_shared")
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	shared := 0
	for i := range 8 {
		wg.Go(func() {
			var res *pipeline.Result
			var err error
			if i%2 == 0 {
				res, err = p.Caption(context.Background(), "a.png", bytes.NewReader(img), pipeline.Request{}, nil)
			} else {
				res, err = pool.Caption(context.Background(), "a.png", bytes.NewReader(img), pipeline.Request{}, nil)
			}
			if err != nil {
				t.Error(err)
				return
			}
			if res.Caption != want.Caption {
				t.Errorf("concurrent caption %q, want %q", res.Caption, want.Caption)
			}
			mu.Lock()
			defer mu.Unlock()
			if i%2 == 1 && res.Timings.ORTShared {
				t.Error("a pool replica's call is marked ort_shared")
			}
			if res.Timings.ORTShared {
				shared++
			}
		})
	}
	wg.Wait()
	if shared == 0 {
		t.Log("no overlap observed between the four concurrent calls on one Pipeline")
	}
}
