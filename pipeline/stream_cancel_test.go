package pipeline_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
)

// A frame whose prefill fails (here: its context is canceled) leaves the
// stream as it was: the same frame added again, and the answer, give the
// one-shot run's ids and prompt (the failed frame's position ids were
// spent before; the answer then came at shifted positions).
func TestVideoStreamFailedFrame(t *testing.T) {
	testenv.ORT(t)
	data := streamFrames(t, 3)
	times := []float64{0, 1, 2}
	p, err := pipeline.Open(filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata", "smolvlm-twin-torch-legacy"),
		pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	req := pipeline.Request{Prompt: "What moves?", MaxNewTokens: 8}
	s, err := p.OpenVideoStream(req, 3)
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for i, fr := range asFrames(data) {
		if i == 1 {
			if _, err := s.AddFrame(canceled, asFrames(data)[1], times[1]); err == nil {
				t.Fatal("a canceled frame: no error")
			}
			if len(s.Frames()) != 1 {
				t.Fatalf("after a failed frame the stream holds %d frames, want 1", len(s.Frames()))
			}
		}
		if _, err := s.AddFrame(context.Background(), fr, times[i]); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	got, err := s.Answer(context.Background(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := p.CaptionStreamFrames(context.Background(), asFrames(data), times, req)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.GeneratedIDs, want.GeneratedIDs) || !slices.Equal(got.PromptIDs, want.PromptIDs) || len(got.GeneratedIDs) == 0 {
		t.Errorf("after a failed frame: ids %v (prompt of %d), one-shot %v (prompt of %d)", got.GeneratedIDs, len(got.PromptIDs),
			want.GeneratedIDs, len(want.PromptIDs))
	}
}
