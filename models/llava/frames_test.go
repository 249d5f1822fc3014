package llava_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
)

// TestSeveralImagesAsFrames: several images through CaptionFrames (vlmrun
// video IMAGE IMAGE), each one encoder image of the same token count, are
// the temporal methods' frames: DTD drops the tokens of a second image
// that repeats the first (each equals the token at its place in the frame
// before), and keeps every token at tau 1 (models/qwen2vl's
// TestSeveralImagesOneSet: images of different token counts stay one
// token set).
func TestSeveralImagesAsFrames(t *testing.T) {
	testenv.ORT(t)
	p, err := pipeline.Open(testdata(t, twin), pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	run := func(method string, names ...string) *pipeline.Result {
		t.Helper()
		req := pipeline.Request{MaxNewTokens: 2}
		if err := (pipeline.PruneSpec{Method: method}).Apply(&req); err != nil {
			t.Fatal(err)
		}
		var fr []pipeline.Frame
		for _, n := range names {
			b, err := os.ReadFile(testdata(t, "images", n+".png"))
			if err != nil {
				t.Fatal(err)
			}
			fr = append(fr, pipeline.Frame{Name: n, R: bytes.NewReader(b)})
		}
		res, err := p.CaptionFrames(context.Background(), fr, req, nil)
		if err != nil {
			t.Fatalf("%s on %v: %v", method, names, err)
		}
		return res
	}
	same := run("dtd", "sq56", "sq56")
	if n := same.Visual.Before; same.Visual.AfterPre != n/2 {
		t.Errorf("dtd on an image repeated: kept %d of %d, want the first image's %d", same.Visual.AfterPre, n, n/2)
	}
	if all := run("dtd:tau=1", "sq56", "sq56"); all.Visual.AfterPre != all.Visual.Before {
		t.Errorf("dtd tau 1 on an image repeated: kept %d of %d", all.Visual.AfterPre, all.Visual.Before)
	}
}
