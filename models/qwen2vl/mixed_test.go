package qwen2vl_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/internal/tjsref"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/models/qwen2vl"
	"github.com/vlmrun/vlmrun/pipeline"
)

// mixedCase is one conversation of one user message holding an image and
// a video (ImageFirst: in that order) then the text.
type mixedCase struct {
	Name       string
	Twin       string
	Image      string // testdata/images/<Image>.png
	ImageFirst bool
	Video      videoCase
	Prompt     string
}

var mixedCases = []mixedCase{
	{Name: "image-then-video", Twin: twin, Image: "sq56", ImageFirst: true,
		Video: videoCase{Frames: 4, W: 56, H: 84, Duration: 2}, Prompt: "What changes between the picture and the clip?"},
	{Name: "video-then-image", Twin: twin, Image: "wide112x56",
		Video: videoCase{Frames: 3, W: 70, H: 42, RW: 56, RH: 56, Duration: 1.5}, Prompt: "Compare them."},
	// 4 fps: Qwen2.5-VL's t ids are one per temporal patch, the layout
	// transformers.js 4.3.1 computes (it ignores tokens_per_second)
	{Name: "qwen2.5-image-then-video-4fps", Twin: twin25, Image: "tall56x84", ImageFirst: true,
		Video: videoCase{Frames: 4, W: 56, H: 56, Duration: 1}},
}

func (c mixedCase) conversation() models.Conversation {
	parts := []models.Part{models.VideoPart(), models.ImagePart()}
	if c.ImageFirst {
		parts = []models.Part{models.ImagePart(), models.VideoPart()}
	}
	if c.Prompt != "" {
		parts = append(parts, models.TextPart(c.Prompt))
	}
	return models.Conversation{{Role: models.RoleUser, Parts: parts}}
}

// TestMixedImageVideoDifferentialTransformersJS: a conversation holding an
// image and a video (either first) runs through pipeline.ChatVideo and is
// compared with transformers.js 4.3.1 (qwenvideo.js): the chat template's
// rendering of the image and video parts, expanded for the image's and the
// video's grids, gives vlmrun's input ids; get_rope_index(input_ids,
// image_grid_thw, video_grid_thw) equals vlmrun's position ids and next
// position; and generate, fed both inputs' pixel values in prompt order
// (the vision graph run per grid), gives the same 12 ids. Python's
// Qwen2VLProcessor takes images and videos together; transformers.js has
// no video processor, so the pixels are vlmrun's (the image's are
// bit-identical to transformers.js's, TestDifferentialTransformersJS).
func TestMixedImageVideoDifferentialTransformersJS(t *testing.T) {
	testenv.ORT(t)
	type run struct {
		res *pipeline.Result
		all models.Pixels
		p   *pipeline.Pipeline
	}
	runs := map[string]run{}
	pipes := map[string]*pipeline.Pipeline{}
	tmp := t.TempDir()
	write := func(name string, data []float32) string {
		raw := make([]byte, 4*len(data))
		for i, x := range data {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
		}
		f := filepath.Join(tmp, name+".f32")
		if err := os.WriteFile(f, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	var refCases []map[string]any
	for _, c := range mixedCases {
		if pipes[c.Twin] == nil {
			pipes[c.Twin] = openFolder(t, c.Twin, "", "")
		}
		p := pipes[c.Twin]
		imgPath := testdata(t, "images", c.Image+".png")
		data, err := os.ReadFile(imgPath)
		if err != nil {
			t.Fatal(err)
		}
		v, frames := c.Video.video(t)
		res, err := p.ChatVideo(context.Background(), c.conversation(), []pipeline.Frame{{Name: imgPath, R: bytes.NewReader(data)}},
			[]pipeline.Video{v}, pipeline.Request{MaxNewTokens: 12}, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		img, _, err := encoder.DecodeImage(imgPath, bytes.NewReader(data), encoder.DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		ipx, err := p.Spec.PreprocessImage(img)
		if err != nil {
			t.Fatal(err)
		}
		vpx, err := p.Spec.PreprocessVideo(frames, models.Video{Times: v.Times, Duration: v.Duration}, models.ImageOptions{})
		if err != nil {
			t.Fatal(err)
		}
		all := models.Pixels{Grids: [][3]int{vpx.Grids[0], ipx.Grids[0]}, GridVideo: []bool{true, false},
			GridSeconds: []float64{vpx.SecondsPerGrid, 0}}
		if c.ImageFirst {
			all = models.Pixels{Grids: [][3]int{ipx.Grids[0], vpx.Grids[0]}, GridVideo: []bool{false, true},
				GridSeconds: []float64{0, vpx.SecondsPerGrid}}
		}
		runs[c.Name] = run{res, all, p}
		prompt := c.Prompt
		if prompt == "" {
			prompt = qwen2vl.DefaultPrompt
		}
		cfg := readConfig(t, c.Twin)
		refCases = append(refCases, map[string]any{"name": c.Name, "model": testdata(t, c.Twin), "prompt": prompt,
			"input_ids": res.PromptIDs, "video_grid_thw": vpx.Grids[0][:], "pixels": write(c.Name+"-video", vpx.Data),
			"image_grid_thw": ipx.Grids[0][:], "image_pixels": write(c.Name+"-image", ipx.Data), "image_first": c.ImageFirst,
			"patch_dim": vpx.PatchDim, "image_token_id": cfg["image_token_id"], "video_token_id": cfg["video_token_id"],
			"max_new_tokens": 12})
	}
	ref := videoReference(t, refCases)
	goldenPath := testdata(t, "mixed_golden.json")
	var golden map[string]videoRef
	if ref == nil {
		golden = tjsref.LoadGolden[videoRef](t, goldenPath)
	}
	for _, c := range mixedCases {
		t.Run(c.Name, func(t *testing.T) {
			r, ok := ref[c.Name]
			if !ok {
				if r, ok = golden[c.Name]; !ok {
					t.Fatalf("no golden result for %s (run with -update and transformers.js installed)", c.Name)
				}
			}
			x := runs[c.Name]
			gi, gv := x.all.Grids[1], x.all.Grids[0]
			if c.ImageFirst {
				gi, gv = gv, gi
			}
			n := (gi[0]*gi[1]*gi[2] + gv[0]*gv[1]*gv[2]) / 4
			if x.res.Visual.Before != n {
				t.Errorf("%d visual tokens, want the image's and the video's t·h·w/4 = %d", x.res.Visual.Before, n)
			}
			text, err := qwen2vl.Expand(r.PromptText, []qwen2vl.Grid{qwen2vl.Grid(gi)}, 2)
			if err == nil {
				text, err = qwen2vl.ExpandVideo(text, []qwen2vl.Grid{qwen2vl.Grid(gv)}, 2)
			}
			if err != nil {
				t.Fatal(err)
			}
			ids, err := x.p.Spec.Tokenizer.Encode(text, true)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, x.res.PromptIDs) {
				t.Errorf("input ids differ from the template's rendering:\n vlmrun %v\n tjs    %v", x.res.PromptIDs, ids)
			}
			pos, dims, next, err := x.p.Spec.Positions(models.Prompt{IDs: x.res.PromptIDs}, x.all)
			if err != nil || dims != 3 {
				t.Fatalf("positions: %v (%d rows)", err, dims)
			}
			if !slices.Equal(pos, r.PositionIDs) {
				t.Errorf("position ids differ:\n vlmrun %v\n tjs    %v", pos, r.PositionIDs)
			}
			if len(r.RopeDelta) != 1 || next != int64(len(x.res.PromptIDs))+r.RopeDelta[0] {
				t.Errorf("next position %d, tjs L + rope_delta = %d + %v", next, len(x.res.PromptIDs), r.RopeDelta)
			}
			if len(r.GeneratedIDs) != 12 || !slices.Equal(x.res.GeneratedIDs, r.GeneratedIDs) {
				t.Errorf("generated ids differ:\n vlmrun %v\n tjs    %v", x.res.GeneratedIDs, r.GeneratedIDs)
			}
		})
	}
	if *update && ref != nil {
		var names []string
		for _, c := range mixedCases {
			names = append(names, c.Name)
		}
		tjsref.WriteGolden(t, goldenPath, names, ref)
	}
}

// TestMixedPrunedAndRefused: a budget covers the image's and the video's
// tokens together (divprune keeps 6 of 4 + 12; keep 1.0 reproduces the
// unpruned ids); a video count that does not match the video parts and
// text holding the video placeholder are refused.
func TestMixedPrunedAndRefused(t *testing.T) {
	testenv.ORT(t)
	c := mixedCases[0]
	p := openFolder(t, c.Twin, "", "")
	data, err := os.ReadFile(testdata(t, "images", c.Image+".png"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(conv models.Conversation, nVideos int, ps pipeline.PruneSpec) (*pipeline.Result, error) {
		req := pipeline.Request{MaxNewTokens: 6}
		if err := ps.Apply(&req); err != nil {
			t.Fatal(err)
		}
		var vids []pipeline.Video
		for range nVideos {
			v, _ := c.Video.video(t)
			vids = append(vids, v)
		}
		return p.ChatVideo(context.Background(), conv, []pipeline.Frame{{Name: "img.png", R: bytes.NewReader(data)}}, vids, req, nil)
	}
	full, err := run(c.conversation(), 1, pipeline.PruneSpec{})
	if err != nil {
		t.Fatal(err)
	}
	same, err := run(c.conversation(), 1, pipeline.PruneSpec{Method: "divprune", Keep: "1.0"})
	if err != nil || !slices.Equal(same.GeneratedIDs, full.GeneratedIDs) {
		t.Errorf("keep 1.0: %v %v, unpruned %v", same.GeneratedIDs, err, full.GeneratedIDs)
	}
	res, err := run(c.conversation(), 1, pipeline.PruneSpec{Method: "divprune", Keep: "6"})
	if err != nil || res.Visual.Before != 16 || res.Visual.AfterPre != 6 || len(res.GeneratedIDs) == 0 {
		t.Errorf("divprune 6: %v, %d → %d, %v", err, res.Visual.Before, res.Visual.AfterPre, res.GeneratedIDs)
	}
	if _, err := run(c.conversation(), 0, pipeline.PruneSpec{}); err == nil {
		t.Error("no video for the video part: no error")
	}
	bad := c.conversation()
	bad[0].Parts = append(bad[0].Parts, models.TextPart("see "+qwen2vl.VideoToken))
	if _, err := run(bad, 1, pipeline.PruneSpec{}); err == nil {
		t.Error("text holding the video token: no error")
	}
}

// TestChatVideoAloneIsCaptionVideo: a conversation of one user message
// holding a video then text gives CaptionVideo's prompt, visual tokens and
// ids, unpruned and under temporal methods (which see the temporal
// patches as frames in both, DTD's pixel mode included).
func TestChatVideoAloneIsCaptionVideo(t *testing.T) {
	testenv.ORT(t)
	c := videoCases[0]
	p := openFolder(t, c.Twin, "", "")
	for _, method := range []string{"", "dycoke", "dtd:input=pixel,tau=0.05", "prunevid"} {
		req := pipeline.Request{Prompt: c.Prompt, MaxNewTokens: 6}
		if method != "" {
			if err := (pipeline.PruneSpec{Method: method, Keep: "0.5"}).Apply(&req); err != nil {
				t.Fatal(err)
			}
		}
		v, _ := c.video(t)
		want, err := p.CaptionVideo(context.Background(), v, req, nil)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		v, _ = c.video(t)
		conv := models.Conversation{{Role: models.RoleUser, Parts: []models.Part{models.VideoPart(), models.TextPart(c.Prompt)}}}
		got, err := p.ChatVideo(context.Background(), conv, nil, []pipeline.Video{v}, req, nil)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if !slices.Equal(got.PromptIDs, want.PromptIDs) || !slices.Equal(got.GeneratedIDs, want.GeneratedIDs) || !reflect.DeepEqual(got.Visual, want.Visual) {
			t.Errorf("%q: chat %v %+v, caption %v %+v", method, got.GeneratedIDs, got.Visual, want.GeneratedIDs, want.Visual)
		}
	}
}
