package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
	"github.com/vlmrun/vlmrun/scenes"
)

// recordPre wraps a pre-decoder method and keeps the selection it made.
type recordPre struct {
	pruning.PreDecoder
	got *pruning.Result
}

func (r recordPre) Apply(v *pruning.Visual, keep int) (pruning.Result, error) {
	res, err := r.PreDecoder.Apply(v, keep)
	*r.got = res
	return res, err
}

// replayPre returns a recorded selection (for the same tokens).
type replayPre struct {
	sel pruning.Result
	n   int
}

func (replayPre) Name() string        { return "replay" }
func (replayPre) Needs() pruning.Need { return pruning.NeedFeatures }
func (r replayPre) Apply(v *pruning.Visual, _ int) (pruning.Result, error) {
	if v.Features.Rows != r.n {
		return pruning.Result{}, fmt.Errorf("replay: %d tokens, recorded for %d", v.Features.Rows, r.n)
	}
	return r.sel, nil
}

// A combination "PRE+IN" is the pre-decoder method's selection then the
// in-decoder stage: on the frame-sequence model its ids and per-layer KV
// rows equal a run whose pre-decoder stage replays the selection the
// method made alone (recorded by hand) with the in-decoder method given
// separately; and its keep-all settings reproduce the unpruned ids.
func TestCombinedStages(t *testing.T) {
	testenv.ORT(t)
	dir := filepath.Join(testenv.Repo(t), "models", "scenes-vqa")
	if d := os.Getenv("VLMRUN_SCENES_VQA"); d != "" {
		dir = d
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		t.Skip("no scenes-vqa model (models/scenes-vqa or $VLMRUN_SCENES_VQA)")
	}
	p, err := pipeline.Open(dir, pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	try := func(i int, req pipeline.Request) (*pipeline.Result, error) {
		t.Helper()
		item := scenes.GenerateVQA(4242, i, true)
		frames := make([]pipeline.Frame, len(item.Frames))
		for f, fr := range item.Frames {
			var buf bytes.Buffer
			if err := png.Encode(&buf, fr.Render(300)); err != nil {
				t.Fatal(err)
			}
			frames[f] = pipeline.Frame{Name: fmt.Sprintf("f%d.png", f), R: &buf}
		}
		req.Prompt, req.MaxNewTokens = item.Question, 8
		req, err := p.FitRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		return p.CaptionFrames(context.Background(), frames, req, nil)
	}
	ask := func(i int, req pipeline.Request) *pipeline.Result {
		t.Helper()
		res, err := try(i, req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	parse := func(spec, keep string) pipeline.Request {
		t.Helper()
		var req pipeline.Request
		if err := (pipeline.PruneSpec{Method: spec, Keep: keep}).Apply(&req); err != nil {
			t.Fatal(err)
		}
		return req
	}
	for _, tc := range []struct {
		pre, in, keep string
		inRows        bool // the in-decoder stage shortens later layers' KV
	}{
		{"dycoke", "dycoke-kv:l=1,p=0.5,threshold=1", "0.5", false},
		{"holitom", "holitom-inner:k=2", "0.5", true},
		{"dtd:tau=0.9", "holitom-inner:k=1,r=0.75", "", true},
		{"prunevid", "prunevid-inner", "", true},
	} {
		for i := range 2 {
			combined := ask(i, parse(tc.pre+"+"+tc.in, tc.keep))
			// by hand: the pre-decoder method alone, its selection recorded
			alone := parse(tc.pre, tc.keep)
			var sel pruning.Result
			alone.Pre = recordPre{alone.Pre, &sel}
			preOnly := ask(i, alone)
			// then that selection replayed, with the in-decoder method
			hand := parse(tc.in, "")
			hand.Pre, hand.Keep = replayPre{sel, preOnly.Visual.Before}, alone.Keep
			byHand := ask(i, hand)
			name := fmt.Sprintf("question %d, %s+%s", i, tc.pre, tc.in)
			if !slices.Equal(combined.GeneratedIDs, byHand.GeneratedIDs) || !slices.Equal(combined.Visual.LayerRows, byHand.Visual.LayerRows) ||
				combined.Visual.AfterPre != len(sel.Source) {
				t.Errorf("%s: %v rows %v (%d after pre); by hand %v rows %v (%d)", name, combined.GeneratedIDs, combined.Visual.LayerRows,
					combined.Visual.AfterPre, byHand.GeneratedIDs, byHand.Visual.LayerRows, len(sel.Source))
			}
			if combined.Visual.PreMethod == "" || combined.Visual.InMethod == "" || combined.Visual.AfterPre >= combined.Visual.Before {
				t.Errorf("%s: visual %+v: want both stages named and the pre stage pruning", name, combined.Visual)
			}
			if tc.inRows && slices.Equal(combined.Visual.LayerRows, preOnly.Visual.LayerRows) {
				t.Errorf("%s: KV rows %v equal the pre stage alone's: the in-decoder stage did not run", name, combined.Visual.LayerRows)
			}
		}
	}
	// prunevid-inner selects within prunevid's grouping: after a method
	// that records none it is refused, with the combination to use
	if _, err := try(0, parse("dtd+prunevid-inner", "")); err == nil || !strings.Contains(err.Error(), "prunevid+prunevid-inner") {
		t.Errorf("dtd+prunevid-inner: %v, want a refusal naming prunevid+prunevid-inner", err)
	}
	// keep-all settings of both stages reproduce the unpruned ids
	for _, spec := range []string{"dycoke:k=0,order=spatial+dycoke-kv:p=0", "holitom+holitom-inner:k=2,r=0", "dtd:tau=1+dycoke-kv:p=0",
		"prunevid:tau=1,ratio=1,order=spatial+prunevid-inner:alpha=1"} {
		for i := range 2 {
			base := ask(i, pipeline.Request{})
			res := ask(i, parse(spec, "1.0"))
			if !slices.Equal(res.GeneratedIDs, base.GeneratedIDs) || res.Visual.AfterPre != base.Visual.Before {
				t.Errorf("question %d, %s: %v (%d tokens), unpruned %v (%d)", i, spec, res.GeneratedIDs, res.Visual.AfterPre,
					base.GeneratedIDs, base.Visual.Before)
			}
		}
	}
}
