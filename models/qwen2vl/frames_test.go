package qwen2vl_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
)

// TestSeveralImagesOneSet: several images through CaptionFrames (vlmrun
// video IMAGE IMAGE) are the temporal methods' frames only when they give
// the same number of tokens (models/llava's TestSeveralImagesAsFrames);
// Qwen2-VL's grids follow each image's size, so a square and a wide image
// stay one token set, which DTD (one frame: nothing before it) keeps
// whole, while two copies of one image are two frames and DTD drops the
// second's tokens.
func TestSeveralImagesOneSet(t *testing.T) {
	testenv.ORT(t)
	p := openFolder(t, twin, "", "")
	run := func(names ...string) *pipeline.Result {
		t.Helper()
		req := pipeline.Request{MaxNewTokens: 2}
		if err := (pipeline.PruneSpec{Method: "dtd"}).Apply(&req); err != nil {
			t.Fatal(err)
		}
		var fr []pipeline.Frame
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join("testdata", "images", n+".png"))
			if err != nil {
				t.Fatal(err)
			}
			fr = append(fr, pipeline.Frame{Name: n, R: bytes.NewReader(b)})
		}
		res, err := p.CaptionFrames(context.Background(), fr, req, nil)
		if err != nil {
			t.Fatalf("%v: %v", names, err)
		}
		return res
	}
	if r := run("sq56", "wide112x56"); r.Visual.AfterPre != r.Visual.Before {
		t.Errorf("dtd on a square and a wide image: kept %d of %d, want all (one token set)", r.Visual.AfterPre, r.Visual.Before)
	}
	if r := run("sq56", "sq56"); r.Visual.AfterPre != r.Visual.Before/2 {
		t.Errorf("dtd on an image repeated: kept %d of %d, want the first image's %d", r.Visual.AfterPre, r.Visual.Before, r.Visual.Before/2)
	}
}
