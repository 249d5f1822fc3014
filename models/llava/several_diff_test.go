package llava_test

import (
	"testing"

	"github.com/vlmrun/vlmrun/chattemplate"
	"github.com/vlmrun/vlmrun/internal/tjsref"
)

// TestSeveralDifferentialTransformersJS: two images in one prompt (both
// in one user message, and one in each of two turns), a square + wide and
// a tall + tiny pair, give the input ids (every <image> expanded), the
// pixel values (bit-identical) and 12 generated ids of transformers.js
// 4.3.1 composed as Python's LlavaProcessor does for several images
// (chat.js compose: its LlavaProcessor expands only the first <image>, so
// the image processor runs per image, each <image> becomes its image's
// count, then LlavaForConditionalGeneration's own feature merge and
// generate).
func TestSeveralDifferentialTransformersJS(t *testing.T) {
	c, err := chattemplate.Load(testdata(t, twin))
	if err != nil {
		t.Fatal(err)
	}
	img := func(n string) string { return testdata(t, "images", n+".png") }
	tjsref.SeveralDiff(t, testdata(t, "several_golden.json"), *update, []tjsref.SeveralTwin{{
		Name: twin, Dir: testdata(t, twin), Compose: "llava", ChatTemplate: c.Default,
		Pairs: [][2]string{{img("sq56"), img("wide112x56")}, {img("tall56x84"), img("tiny20x14")}}}})
}

// Two images through the pipeline: vlmrun video IMAGE IMAGE (CaptionFrames)
// equals the conversation; the budget covers both images; keep 1.0
// reproduces the unpruned ids.
func TestSeveralPipeline(t *testing.T) {
	tjsref.SeveralPipeline(t, testdata(t, twin), [2]string{testdata(t, "images", "sq56.png"), testdata(t, "images", "wide112x56.png")})
}
