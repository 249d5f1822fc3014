package smolvlm_test

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
)

// A video on a SmolVLM2 folder (model_type smolvlm: the legacy twin) gets
// SmolVLM2's video prompt through pipeline.CaptionVideo: its ids are the
// tokenization of the prompt written out here from Python's rule (see
// video.go and TestVideoPromptText: 16 <image> tokens a frame on this
// twin), with one unsplit image's 16 features per frame; on an Idefics3
// folder (SmolVLM, no video prompt) a video is its frames as images,
// exactly CaptionFrames.
func TestCaptionVideoPrompt(t *testing.T) {
	testenv.ORT(t)
	imgs := []string{"land64x48", "sq64", "port48x64"}
	read := func() []pipeline.Frame {
		fr := make([]pipeline.Frame, len(imgs))
		for i, n := range imgs {
			data, err := os.ReadFile(testdata(t, "images", n+".png"))
			if err != nil {
				t.Fatal(err)
			}
			fr[i] = pipeline.Frame{Name: n, R: bytes.NewReader(data)}
		}
		return fr
	}
	const prompt = "What changes?"
	req := pipeline.Request{Prompt: prompt, MaxNewTokens: 6}
	v2, err := pipeline.Open(testdata(t, "smolvlm-twin-legacy"), pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if v2.Spec.BuildVideoPrompt == nil {
		t.Fatal("model_type smolvlm has no video prompt")
	}
	res, err := v2.CaptionVideo(context.Background(), pipeline.Video{Frames: read(), Times: []float64{0, 0.5, 1.25}, Duration: 1.5}, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := "<fake_token_around_image><global-img>" + strings.Repeat("<image>", 16) + "<fake_token_around_image>"
	text := "<|im_start|>User: You are provided the following series of three frames from a 0:00:01 [H:MM:SS] video.\n" +
		"\nFrame from 00:00:" + img + "\nFrame from 00:00:" + img + "\nFrame from 00:01:" + img +
		"\n\n" + prompt + "<end_of_utterance>\nAssistant:"
	want, err := v2.Spec.Tokenizer.Encode(text, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.PromptIDs, want) || res.Visual.Before != 3*16 || len(res.GeneratedIDs) == 0 {
		t.Errorf("prompt ids %v (%d visual tokens, %d generated)\nwant %v", res.PromptIDs, res.Visual.Before, len(res.GeneratedIDs), want)
	}
	// a temporal method's budget covers the three frames
	pr := req
	if err := (pipeline.PruneSpec{Method: "dycoke", Keep: "0.25"}).Apply(&pr); err != nil {
		t.Fatal(err)
	}
	if r, err := v2.CaptionVideo(context.Background(), pipeline.Video{Frames: read(), Times: []float64{0, 0.5, 1.25}, Duration: 1.5}, pr, nil); err != nil ||
		r.Visual.AfterPre > 12 || !slices.Equal(r.PromptIDs, want) {
		t.Errorf("dycoke 0.25: %v tokens kept of 48, %v", r.Visual.AfterPre, err)
	}

	v1, err := pipeline.Open(testdata(t, "smolvlm-twin"), pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer v1.Close()
	if v1.Spec.BuildVideoPrompt != nil {
		t.Fatal("model_type idefics3 has a video prompt")
	}
	a, err := v1.CaptionVideo(context.Background(), pipeline.Video{Frames: read(), Times: []float64{0, 0.5, 1.25}, Duration: 1.5}, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := v1.CaptionFrames(context.Background(), read(), req, nil)
	if err != nil || !slices.Equal(a.PromptIDs, b.PromptIDs) || !slices.Equal(a.GeneratedIDs, b.GeneratedIDs) {
		t.Errorf("idefics3: video %v / %v, frames %v / %v (%v)", a.PromptIDs, a.GeneratedIDs, b.PromptIDs, b.GeneratedIDs, err)
	}
}
