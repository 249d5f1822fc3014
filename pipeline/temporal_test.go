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
	_ "github.com/vlmrun/vlmrun/models/scenesvqa"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
	"github.com/vlmrun/vlmrun/scenes"
)

// The temporal methods through CaptionFrames on the frame-sequence model
// (models/scenes-vqa, or $VLMRUN_SCENES_VQA): their keep-all settings
// reproduce the unpruned answer ids, and global / per-frame budgets hold.
func TestTemporalMethodsOnFrames(t *testing.T) {
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
	ask := func(i int, req pipeline.Request) (*pipeline.Result, int) {
		item := scenes.GenerateVQA(4242, i, true)
		frames := make([]pipeline.Frame, len(item.Frames))
		for f, fr := range item.Frames {
			var buf bytes.Buffer
			if err := png.Encode(&buf, fr.Render(300)); err != nil {
				t.Fatal(err)
			}
			frames[f] = pipeline.Frame{Name: fmt.Sprintf("f%d.png", f), R: &buf}
		}
		req.Prompt = item.Question
		res, err := p.CaptionFrames(context.Background(), frames, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res, len(frames)
	}
	keepAll := map[string]string{"dtd": "dtd:tau=1", "dtd:input=pixel": "dtd:input=pixel,tau=0", "dycoke": "dycoke:k=0,order=spatial",
		"fastvid": "fastvid", "prunevid": "prunevid:tau=1,ratio=1,order=spatial", "holitom": "holitom"}
	for i := range 3 {
		base, F := ask(i, pipeline.Request{})
		n := base.Visual.Before / F
		for name, spec := range keepAll {
			req := pipeline.Request{}
			if err := (pipeline.PruneSpec{Method: spec, Keep: "1.0"}).Apply(&req); err != nil {
				t.Fatal(err)
			}
			if res, _ := ask(i, req); !slices.Equal(res.GeneratedIDs, base.GeneratedIDs) || res.Visual.AfterPre != base.Visual.Before {
				t.Errorf("question %d, %s: %v (%d tokens), unpruned %v", i, spec, res.GeneratedIDs, res.Visual.AfterPre, base.GeneratedIDs)
			}
			for _, scope := range []string{"global", "frame"} {
				req := pipeline.Request{}
				sep := ":"
				if strings.Contains(name, ":") {
					sep = ","
				}
				if err := (pipeline.PruneSpec{Method: name + sep + "scope=" + scope, Keep: "0.25"}).Apply(&req); err != nil {
					t.Fatal(err)
				}
				res, _ := ask(i, req)
				k, _ := pruning.KeepRatio(0.25).Count(F * n)
				if res.Visual.AfterPre < 1 || res.Visual.AfterPre > k {
					t.Errorf("question %d, %s scope=%s: %d tokens for a budget of %d", i, name, scope, res.Visual.AfterPre, k)
				}
			}
		}
	}
}
