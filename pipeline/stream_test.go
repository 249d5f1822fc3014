package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	_ "github.com/vlmrun/vlmrun/models/smolvlm"
	"github.com/vlmrun/vlmrun/pipeline"
)

// streamFrames renders n 64×48 frames: a fixed gradient with a square that
// moves a few pixels a frame (so DTD finds some tokens unchanged).
func streamFrames(t *testing.T, n int) [][]byte {
	t.Helper()
	out := make([][]byte, n)
	for f := range n {
		img := image.NewNRGBA(image.Rect(0, 0, 64, 48))
		for y := 0; y < 48; y++ {
			for x := 0; x < 64; x++ {
				c := color.NRGBA{uint8(4 * x), uint8(5 * y), uint8(2 * (x + y)), 255}
				if x >= 6*f && x < 6*f+14 && y >= 10 && y < 24 {
					c = color.NRGBA{250, 20, 30, 255}
				}
				img.SetNRGBA(x, y, c)
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		out[f] = buf.Bytes()
	}
	return out
}

func asFrames(data [][]byte) []pipeline.Frame {
	fr := make([]pipeline.Frame, len(data))
	for i, d := range data {
		fr[i] = pipeline.Frame{Name: fmt.Sprintf("f%d.png", i), R: bytes.NewReader(d)}
	}
	return fr
}

// A streamed video (frames added one at a time, the KV cache of earlier
// frames reused, each new frame's block prefilled alone, DTD against the
// previous frame before the prefill) answers with the ids of a one-shot
// run over the same frames and the same selection (CaptionStreamFrames:
// the whole streamed-layout prompt, the method applied to all frames at
// once, one prefill) — mid-stream (after 3 frames, the stream then going
// on) and at the end — on both SmolVLM2 twins, unpruned, with feature DTD
// and with pixel DTD; DTD drops some but not all later-frame tokens.
func TestVideoStreamEqualsOneShot(t *testing.T) {
	testenv.ORT(t)
	data := streamFrames(t, 5)
	times := []float64{0, 1, 2, 3, 4}
	for _, twin := range []string{"smolvlm-twin-legacy", "smolvlm-twin-torch-legacy"} {
		p, err := pipeline.Open(filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata", twin), pipeline.Options{ORT: ortx.Options{Threads: 1}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		for _, method := range []string{"none", "dtd:tau=0.999", "dtd:input=pixel,tau=0.02"} {
			name := twin + " " + method
			req := pipeline.Request{Prompt: "What moves?", MaxNewTokens: 8}
			if method != "none" {
				if err := (pipeline.PruneSpec{Method: method}).Apply(&req); err != nil {
					t.Fatal(err)
				}
			}
			s, err := p.OpenVideoStream(req, 5)
			if err != nil {
				t.Fatal(err)
			}
			var mid *pipeline.Result
			for i, fr := range asFrames(data) {
				if _, err := s.AddFrame(context.Background(), fr, times[i]); err != nil {
					t.Fatalf("%s: frame %d: %v", name, i, err)
				}
				if i == 2 {
					if mid, err = s.Answer(context.Background(), "", nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			end, err := s.Answer(context.Background(), "", nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				res *pipeline.Result
				n   int
			}{{mid, 3}, {end, 5}} {
				one, err := p.CaptionStreamFrames(context.Background(), asFrames(data[:c.n]), times[:c.n], req)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(c.res.GeneratedIDs, one.GeneratedIDs) || c.res.Visual.Before != one.Visual.Before ||
					c.res.Visual.AfterPre != one.Visual.AfterPre || len(c.res.GeneratedIDs) == 0 {
					t.Errorf("%s, %d frames: streamed ids %v (%d→%d visual), one-shot %v (%d→%d)", name, c.n,
						c.res.GeneratedIDs, c.res.Visual.Before, c.res.Visual.AfterPre, one.GeneratedIDs, one.Visual.Before, one.Visual.AfterPre)
				}
				if want := len(one.PromptIDs) - (one.Visual.Before - one.Visual.AfterPre); len(c.res.PromptIDs) != want {
					t.Errorf("%s, %d frames: streamed prompt of %d ids, one-shot %d less %d dropped", name, c.n, len(c.res.PromptIDs),
						len(one.PromptIDs), one.Visual.Before-one.Visual.AfterPre)
				}
			}
			per := end.Visual.Before / 5
			if method != "none" && (end.Visual.AfterPre <= per || end.Visual.AfterPre >= end.Visual.Before) {
				t.Errorf("%s: DTD kept %d of %d (first frame %d): the test needs some dropped and some kept", name, end.Visual.AfterPre, end.Visual.Before, per)
			}
			if method == "none" && end.Visual.AfterPre != end.Visual.Before {
				t.Errorf("%s: %d of %d kept", name, end.Visual.AfterPre, end.Visual.Before)
			}
			t.Logf("%s: %d→%d visual tokens, ids %v, KV %d B", name, end.Visual.Before, end.Visual.AfterPre, end.GeneratedIDs, s.KVBytes())
			// bounded: a sixth frame is refused
			if _, err := s.AddFrame(context.Background(), asFrames(data[:1])[0], 5); err == nil {
				t.Errorf("%s: a frame over the limit was taken", name)
			}
		}
	}
}

// What cannot stream is refused with ErrNoStream: a --keep budget, a
// method that needs every frame, an in-decoder method.
func TestVideoStreamRefusals(t *testing.T) {
	testenv.ORT(t)
	p, err := pipeline.Open(filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata", "smolvlm-twin-legacy"), pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	for _, spec := range []pipeline.PruneSpec{{Method: "dtd", Keep: "0.5"}, {Method: "dycoke"}, {Method: "dycoke-kv"}} {
		var req pipeline.Request
		if err := spec.Apply(&req); err != nil {
			t.Fatal(err)
		}
		if _, err := p.OpenVideoStream(req, 4); !errors.Is(err, pipeline.ErrNoStream) {
			t.Errorf("%+v: %v, want ErrNoStream", spec, err)
		}
	}
	s, err := p.OpenVideoStream(pipeline.Request{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Answer(context.Background(), "", nil); err == nil {
		t.Error("an answer before any frame: no error")
	}
	if _, err := s.AddFrame(context.Background(), pipeline.Frame{Name: "x.png", R: bytes.NewReader([]byte("not a png"))}, 0); err == nil {
		t.Error("a bad frame: no error")
	}
}
