package qwen2vl_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
)

// TestVideoDTDPixelMode: DTD's pixel mode on a Qwen2-VL video compares,
// per merged token (28×28 px), the last raw frame of each temporal patch
// with the first raw frame of the previous one (the reference's quirk).
// Four 56×56 frames make 2 temporal patches of 2×2 tokens. With frame 2
// changed in its top-left 28×28 block (frames 0, 1, 3 equal), patch 1's
// last frame (3) equals patch 0's first (0): all 4 of its tokens are
// dropped (kept 4), where comparing consecutive raw frames would keep
// the changed one. With frame 3 changed instead, that token stays (kept
// 5). τ = 0 keeps every token and reproduces the unpruned ids.
func TestVideoDTDPixelMode(t *testing.T) {
	testenv.ORT(t)
	p := openFolder(t, twin, "", "")
	base := image.NewNRGBA(image.Rect(0, 0, 56, 56))
	for y := range 56 {
		for x := range 56 {
			base.SetNRGBA(x, y, color.NRGBA{uint8(x * 4), uint8(y * 4), 128, 255})
		}
	}
	changed := image.NewNRGBA(base.Rect)
	copy(changed.Pix, base.Pix)
	for y := range 28 {
		for x := range 28 {
			changed.SetNRGBA(x, y, color.NRGBA{250, 10, 10, 255})
		}
	}
	video := func(imgs ...*image.NRGBA) pipeline.Video {
		v := pipeline.Video{Duration: 2}
		for i, img := range imgs {
			var b bytes.Buffer
			if err := png.Encode(&b, img); err != nil {
				t.Fatal(err)
			}
			v.Frames = append(v.Frames, pipeline.Frame{Name: "frame", R: bytes.NewReader(b.Bytes())})
			v.Times = append(v.Times, float64(i)/2)
		}
		return v
	}
	run := func(v pipeline.Video, method string) *pipeline.Result {
		req := pipeline.Request{MaxNewTokens: 6}
		if method != "" {
			if err := (pipeline.PruneSpec{Method: method, Keep: "1.0"}).Apply(&req); err != nil {
				t.Fatal(err)
			}
		}
		res, err := p.CaptionVideo(context.Background(), v, req, nil)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		return res
	}
	for _, c := range []struct {
		name   string
		frames []*image.NRGBA
		kept   int
	}{
		{"middle frame changed", []*image.NRGBA{base, base, changed, base}, 4},
		{"last frame changed", []*image.NRGBA{base, base, base, changed}, 5},
		{"no change", []*image.NRGBA{base, base, base, base}, 4},
	} {
		res := run(video(c.frames...), "dtd:input=pixel")
		if res.Visual.Before != 8 || res.Visual.AfterPre != c.kept {
			t.Errorf("%s: %d → %d tokens, want 8 → %d", c.name, res.Visual.Before, res.Visual.AfterPre, c.kept)
		}
	}
	v := []*image.NRGBA{base, changed, base, changed}
	all, none := run(video(v...), "dtd:input=pixel,tau=0"), run(video(v...), "")
	if all.Visual.AfterPre != 8 || !slices.Equal(all.GeneratedIDs, none.GeneratedIDs) {
		t.Errorf("tau 0: kept %d, ids %v; unpruned %v", all.Visual.AfterPre, all.GeneratedIDs, none.GeneratedIDs)
	}
}
