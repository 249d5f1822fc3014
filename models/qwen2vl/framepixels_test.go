package qwen2vl

import (
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/models"
)

// TestVideoFramePixels: the frames of TestVideoPatchesLayout (three 4×2
// frames, values frame·1000 + channel·100 + row·10 + column; patch 1,
// merge 2, temporal 2) come back from the patches as each temporal
// patch's first raw frame (frames 0 and 2) and last (frame 1, and frame 2
// again: the padding copy), C×H×W; the scale is the std per channel.
func TestVideoFramePixels(t *testing.T) {
	const w, h = 4, 2
	frames := make([][]float32, 3)
	for f := range frames {
		frames[f] = make([]float32, 3*w*h)
		for c := range 3 {
			for y := range h {
				for x := range w {
					frames[f][c*w*h+y*w+x] = float32(f*1000 + c*100 + y*10 + x)
				}
			}
		}
	}
	data, g, err := VideoPatches(frames, w, h, 1, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	vp := clipVideo()
	vp.PatchSize = 1
	px := models.Pixels{Data: data, Grids: [][3]int{g}, PatchDim: 3 * 2, Video: true}
	fp, err := VideoFramePixels(px, vp, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(fp.Data) != 2 || len(fp.Last) != 2 || fp.H != 2 || fp.W != 4 || fp.GridH != 1 || fp.GridW != 2 {
		t.Fatalf("%d first, %d last frames of %d×%d, grid %d×%d", len(fp.Data), len(fp.Last), fp.W, fp.H, fp.GridW, fp.GridH)
	}
	for i, want := range [][2]int{{0, 1}, {2, 2}} {
		if !slices.Equal(fp.Data[i], frames[want[0]]) || !slices.Equal(fp.Last[i], frames[want[1]]) {
			t.Errorf("temporal patch %d: first %v last %v, want frames %d and %d", i, fp.Data[i], fp.Last[i], want[0], want[1])
		}
	}
	if want := []float32{0.26862954, 0.26130258, 0.27577711}; !slices.Equal(fp.Scale, want) {
		t.Errorf("scale %v, want %v", fp.Scale, want)
	}
	if _, err := VideoFramePixels(px, vp, 2, 1); err == nil {
		t.Error("a 1×2 token grid given as 2×1: no error")
	}
	px.Data = px.Data[1:]
	if _, err := VideoFramePixels(px, vp, 1, 2); err == nil {
		t.Error("short pixel values: no error")
	}
}
