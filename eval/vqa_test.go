package eval_test

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/vlmrun/vlmrun/eval"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
	"github.com/vlmrun/vlmrun/scenes"

	_ "github.com/vlmrun/vlmrun/models/scenesvqa"
)

func openVQA(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	testenv.ORT(t)
	dir := filepath.Join(testenv.Repo(t), "models", "scenes-vqa")
	if d := os.Getenv("VLMRUN_SCENES_VQA"); d != "" {
		dir = d // another export of the model (scripts/scenesvqa/export.py --out)
	}
	p, err := pipeline.Open(dir, pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// The committed scenes-vqa model must answer 100 held-out questions (50 on
// single images, 50 on frame sequences) with at least 95 % exact match and
// never outside the answer vocabulary.
//
// The check runs on the committed model (or on $VLMRUN_SCENES_VQA's export).
func TestVQAAccuracy(t *testing.T) {
	p := openVQA(t)
	exact, n, oov := 0, 0, 0
	for _, seq := range []bool{false, true} {
		r, err := eval.VQA(context.Background(), p, eval.VQAConfig{Seed: eval.HeldOutSeed, Count: 50, Size: 300, Sequence: seq})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range r.Samples {
			if !s.Exact {
				t.Logf("wrong (%s, %d frames): %s -> %q, want %q", s.Type, s.Frames, s.Question, s.Answer, s.Reference)
			}
		}
		exact += r.All.Exact
		n += r.All.N
		oov += r.OutOfVocab
	}
	acc := float64(exact) / float64(n)
	t.Logf("exact match %.3f on %d held-out questions", acc, n)
	if acc < 0.95 {
		t.Errorf("exact match %.3f below 0.95 on %d held-out questions", acc, n)
	}
	if oov != 0 {
		t.Errorf("%d answers outside the answer vocabulary", oov)
	}
}

// A frame sequence's prompt holds each frame's marker before its tokens,
// and a pruning budget applies to all frames' tokens together.
func TestVQAFramesPromptAndBudget(t *testing.T) {
	p := openVQA(t)
	var item scenes.VQAItem
	for i := 0; ; i++ {
		if item = scenes.GenerateVQA(eval.HeldOutSeed, i, true); len(item.Frames) == 3 {
			break
		}
	}
	frames := make([]pipeline.Frame, len(item.Frames))
	for f, fr := range item.Frames {
		var buf bytes.Buffer
		if err := png.Encode(&buf, fr.Render(200)); err != nil {
			t.Fatal(err)
		}
		frames[f] = pipeline.Frame{Name: "f.png", R: &buf}
	}
	res, err := p.CaptionFrames(context.Background(), frames,
		pipeline.Request{Prompt: item.Question, Pre: pruning.Random{Seed: 1}, Keep: pruning.KeepRatio(0.25)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Visual.Before != 3*64 || res.Visual.AfterPre != 48 {
		t.Errorf("visual tokens %d -> %d, want 192 -> 48", res.Visual.Before, res.Visual.AfterPre)
	}
	tok := p.Spec.Tokenizer
	for f := 0; f < 3; f++ {
		id, _ := tok.TokenID("<frame_" + string(rune('1'+f)) + ">")
		if at := 1 + f*65; res.PromptIDs[at] != id {
			t.Errorf("prompt[%d] = %d, want frame marker %d", at, res.PromptIDs[at], id)
		}
	}
	if _, err := p.Spec.BuildPrompt("what colour is the object at z9 ?", 64); err == nil {
		t.Error("a question with words outside the vocabulary was accepted")
	}
}
