package qwen2vl_test

import (
	"testing"

	"github.com/vlmrun/vlmrun/internal/tjsref"
)

// TestSeveralDifferentialTransformersJS: two images in one prompt (both
// in one user message, and one in each of two turns), a square + wide and
// a tall + tiny pair, on both twins, give the input ids (each
// <|image_pad|> expanded to t·h·w / merge² of its own grid), the pixel
// values (bit-identical), image_grid_thw, the 3-D position ids and 12
// generated ids of transformers.js 4.3.1 composed as Python's
// Qwen2VLProcessor does for several images (chat.js compose: 4.3.1's
// processor fails on two images, so the image processor runs per image,
// pixel_values concatenated, image_grid_thw stacked, then the model's own
// feature merge, get_rope_index over both grids and generate).
func TestSeveralDifferentialTransformersJS(t *testing.T) {
	img := func(n string) string { return testdata(t, "images", n+".png") }
	var twins []tjsref.SeveralTwin
	for _, name := range []string{twin, twin25} {
		twins = append(twins, tjsref.SeveralTwin{Name: name, Dir: testdata(t, name), Compose: "qwen2vl",
			Pairs: [][2]string{{img("sq56"), img("wide112x56")}, {img("tall56x84"), img("tiny20x14")}}})
	}
	tjsref.SeveralDiff(t, testdata(t, "several_golden.json"), *update, twins)
}

// Two images through the pipeline on both twins: vlmrun video IMAGE IMAGE
// (CaptionFrames) equals the conversation; the budget covers both
// images; keep 1.0 reproduces the unpruned ids.
func TestSeveralPipeline(t *testing.T) {
	for _, name := range []string{twin, twin25} {
		t.Run(name, func(t *testing.T) {
			tjsref.SeveralPipeline(t, testdata(t, name), [2]string{testdata(t, "images", "tall56x84.png"), testdata(t, "images", "wide112x56.png")})
		})
	}
}
