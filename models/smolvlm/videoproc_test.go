package smolvlm

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
)

// get_resize_output_image_size (video_processing_smolvlm.py): (height,
// width) for a w×h frame and a longest edge. Cross-checked locally by
// running the official function (torch 1.13) on these sizes; the rule
// written out: the long side becomes the edge (at most 4096), the other is
// int(edge / (w/h)) or int(edge · w/h), one added when odd.
func TestVideoResizeSize(t *testing.T) {
	cases := []struct{ w, h, edge, wantH, wantW int }{
		{320, 240, 1536, 1152, 1536},
		{1024, 576, 1536, 864, 1536},
		{64, 48, 32, 24, 32},
		{48, 64, 32, 32, 24},
		{64, 64, 32, 32, 32},
		{1920, 1080, 384, 216, 384},
		{333, 1000, 512, 512, 170},
		{1000, 3, 512, 2, 512}, // int(1.536) = 1, odd: 2
		{7, 1000, 512, 512, 4}, // int(3.584) = 3, odd: 4
		{640, 481, 1536, 1154, 1536},
		{100, 30, 5000, 1228, 4096}, // MAX_IMAGE_SIZE
		{1024, 575, 2048, 1150, 2048},
	}
	for _, c := range cases {
		if h, w := videoResizeSize(c.w, c.h, c.edge); h != c.wantH || w != c.wantW {
			t.Errorf("%d×%d to %d: %d×%d (h×w), want %d×%d", c.w, c.h, c.edge, h, w, c.wantH, c.wantW)
		}
	}
}

// The first resize's edge: the config's "size" wins over
// video_sampling.video_size (the processor's __init__ copies it over "for
// BC"); video_size without "size"; the class default 4·364 without both.
// LANCZOS (1) is kept and resized as bicubic.
func TestNewVideoProcessorEdge(t *testing.T) {
	ip := imageProcessor{Tile: 384, Norm: encoder.Preprocess{Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5}}}
	one := 1
	cases := []struct {
		json string
		edge int
	}{
		{`{"size": {"longest_edge": 1536}, "video_sampling": {"fps": 1, "max_frames": 64, "video_size": {"longest_edge": 384}}}`, 1536},
		{`{"video_sampling": {"fps": 1, "video_size": {"longest_edge": 384}}}`, 384},
		{`{"video_sampling": {"fps": 1}}`, 1456},
	}
	for _, c := range cases {
		vp, err := newVideoProcessor([]byte(c.json), preprocessorConfig{Resample: &one}, ip)
		if err != nil {
			t.Fatal(err)
		}
		if vp.Edge != c.edge || vp.Tile != 384 || vp.Resample != encoder.ResampleLanczos {
			t.Errorf("%s: edge %d tile %d %v, want edge %d", c.json, vp.Edge, vp.Tile, vp.Resample, c.edge)
		}
		// rescale 1/255 fused into mean and std: 0.5·255 = 127.5 in float32
		if vp.Mean != [3]float32{127.5, 127.5, 127.5} || vp.Std != vp.Mean || !vp.Normalize {
			t.Errorf("fused mean %v std %v", vp.Mean, vp.Std)
		}
	}
	if _, err := newVideoProcessor([]byte(`{"size": {"longest_edge": 0}}`), preprocessorConfig{}, ip); err == nil {
		t.Error("a zero edge: no error")
	}
}

// A 4×2 frame, edge 2, tile 2: the first resize is to (2, 2) (w ≥ h: width
// 2, height int(2/2) = 1, odd, so 2), a horizontal 4 → 2 bicubic pass only
// (encoder's hand vectors: [10 200 50 255] → [93 163]); the second resize
// is none. Normalized as (v − 127.5)/127.5 in float32.
func TestVideoProcessorPixels(t *testing.T) {
	vp := &videoProcessor{Edge: 2, Tile: 2, Resample: encoder.ResampleLanczos,
		Mean: [3]float32{127.5, 127.5, 127.5}, Std: [3]float32{127.5, 127.5, 127.5}, Normalize: true}
	img := image.NewNRGBA(image.Rect(0, 0, 4, 2))
	for x, v := range []uint8{10, 200, 50, 255} {
		img.SetNRGBA(x, 0, color.NRGBA{v, v, v, 255})
		img.SetNRGBA(x, 1, color.NRGBA{51, 51, 51, 255})
	}
	px, err := vp.Process(img)
	if err != nil {
		t.Fatal(err)
	}
	n := func(v float32) float32 { return (v - 127.5) / 127.5 }
	plane := []float32{n(93), n(163), n(51), n(51)} // n(51) = -0.6
	want := slices.Concat(plane, plane, plane)
	if px.Images != 1 || !slices.Equal(px.Data, want) {
		t.Errorf("pixels %v (%d images)\nwant %v", px.Data, px.Images, want)
	}
	if _, err := vp.Process(image.NewNRGBA(image.Rect(0, 0, 0, 0))); err == nil {
		t.Error("empty frame: no error")
	}
}

// On the SmolVLM2 twin (model_type smolvlm; size 32, max_image_size 32,
// resample 1), a video frame goes through the video processor: a 64×48
// frame becomes 32×24 (even height), then 32×32, both torch-bicubic;
// the image path (sharp lanczos, then ONNX bilinear to the tile) gives
// other pixels. An Idefics3 folder has no video processor.
func TestVideoFrameThroughSpec(t *testing.T) {
	img, _, err := encoder.DecodeImage("land64x48.png", openFile(t, filepath.Join("testdata", "images", "land64x48.png")), encoder.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := models.Load(filepath.Join("testdata", "smolvlm-twin-legacy"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := spec.PreprocessImageWith(img, models.ImageOptions{NoSplit: true, VideoFrame: true})
	if err != nil {
		t.Fatal(err)
	}
	r1, err := encoder.ResizeTorchAA(img, 32, 24, encoder.ResampleBicubic)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := encoder.ResizeTorchAA(r1, 32, 32, encoder.ResampleBicubic)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, 3*32*32)
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			c := r2.NRGBAAt(x, y)
			for k, v := range []uint8{c.R, c.G, c.B} {
				want[k*1024+y*32+x] = (float32(v) - 127.5) / 127.5
			}
		}
	}
	if got.Images != 1 || !slices.Equal(got.Data, want) {
		t.Errorf("video frame pixels differ from the two torch resizes (%d images)", got.Images)
	}
	still, err := spec.PreprocessImageWith(img, models.ImageOptions{NoSplit: true})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(still.Data, got.Data) {
		t.Error("the image path gave the video path's pixels: the test cannot tell them apart")
	}
	if _, err := spec.PreprocessImageWith(img, models.ImageOptions{VideoFrame: true, MaxImageTokens: 8}); err == nil {
		t.Error("a budget under one frame's tokens: no error")
	}
	v1, err := models.Load(filepath.Join("testdata", "smolvlm-twin"))
	if err != nil {
		t.Fatal(err)
	}
	a, err1 := v1.PreprocessImageWith(img, models.ImageOptions{NoSplit: true, VideoFrame: true})
	b, err2 := v1.PreprocessImageWith(img, models.ImageOptions{NoSplit: true})
	if err1 != nil || err2 != nil || !slices.Equal(a.Data, b.Data) {
		t.Errorf("Idefics3 folder: a video frame is not an unsplit image (%v, %v)", err1, err2)
	}
}

func openFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Clean(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
