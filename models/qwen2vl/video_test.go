package qwen2vl_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/internal/tjsref"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/models/qwen2vl"
	"github.com/vlmrun/vlmrun/pipeline"
)

// videoCase is one video differential case: frames synthetic frames of
// w×h, spread over duration seconds. RW×RH is the frames' smart_resize
// size when it differs from w×h (then torchvision's antialiased resize),
// else 0.
type videoCase struct {
	Name     string
	Twin     string
	Frames   int
	W, H     int
	RW, RH   int
	Duration float64
	Prompt   string
}

// size is the frames' size after the video processor's resize.
func (c videoCase) size() (int, int) {
	if c.RW > 0 {
		return c.RW, c.RH
	}
	return c.W, c.H
}

var videoCases = []videoCase{
	// 5 frames: odd, so the last is repeated (grid 3×6×4, 18 tokens)
	{Name: "video-5-frames", Twin: twin, Frames: 5, W: 56, H: 84, Duration: 2.5, Prompt: "What happens in the video?"},
	{Name: "video-4-frames-wide", Twin: twin, Frames: 4, W: 112, H: 56, Duration: 2},
	{Name: "video-2-frames", Twin: twin, Frames: 2, W: 56, H: 56, Duration: 1, Prompt: "Describe the clip."},
	// Qwen2.5-VL at 4 fps: second_per_grid 0.5 × tokens_per_second 2 = 1
	// time id per temporal patch, the layout transformers.js 4.3.1
	// computes (it has no second_per_grid_ts), so the whole run compares.
	{Name: "qwen2.5-video-6-frames-4fps", Twin: twin25, Frames: 6, W: 56, H: 84, Duration: 1.5},
	// not at size: 70×42 → 56×56 (Python's round) through torchvision's
	// antialiased bicubic; 3 frames, the last repeated
	{Name: "video-3-frames-resized", Twin: twin, Frames: 3, W: 70, H: 42, RW: 56, RH: 56, Duration: 1.5},
	// an upscale: 30×20 → 84×56 (below min_pixels)
	{Name: "video-4-frames-upscaled", Twin: twin, Frames: 4, W: 30, H: 20, RW: 84, RH: 56, Duration: 2, Prompt: "What moves?"},
}

// videoRef is qwenvideo.js's record for one case.
type videoRef struct {
	PromptText   string  `json:"prompt_text"`
	PositionIDs  []int64 `json:"position_ids"`
	RopeDelta    []int64 `json:"rope_delta"`
	GeneratedIDs []int   `json:"generated_ids"`
}

// videoFrames makes n w×h frames of a scene that changes over time: a
// bright square moving right over a gradient whose hue drifts per frame.
func videoFrames(t *testing.T, n, w, h int) ([]pipeline.Frame, []*image.NRGBA) {
	t.Helper()
	var fr []pipeline.Frame
	var imgs []*image.NRGBA
	for f := range n {
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				img.SetNRGBA(x, y, color.NRGBA{R: uint8((x*7 + f*40) % 256), G: uint8((y*5 + x*x/3) % 256), B: uint8((f*60 + y*3) % 256), A: 255})
			}
		}
		sx := (f * 11) % max(1, w-16)
		for y := 10; y < 26 && y < h; y++ {
			for x := sx; x < sx+16; x++ {
				img.SetNRGBA(x, y, color.NRGBA{R: 250, G: 250, B: 240, A: 255})
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		fr = append(fr, pipeline.Frame{Name: "frame", R: bytes.NewReader(b.Bytes())})
		imgs = append(imgs, img)
	}
	return fr, imgs
}

func (c videoCase) video(t *testing.T) (pipeline.Video, []*image.NRGBA) {
	fr, imgs := videoFrames(t, c.Frames, c.W, c.H)
	v := pipeline.Video{Frames: fr, Duration: c.Duration}
	for i := range c.Frames {
		v.Times = append(v.Times, float64(i)*c.Duration/float64(c.Frames))
	}
	return v, imgs
}

// videoReference runs qwenvideo.js on the cases (vlmrun's input ids,
// grid and pixel_values_videos), or returns nil without transformers.js.
func videoReference(t *testing.T, cases []map[string]any) map[string]videoRef {
	t.Helper()
	if !tjsref.Available(t, *update) {
		return nil
	}
	tmp := t.TempDir()
	spec, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(tmp, "cases.json")
	if err := os.WriteFile(path, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "qwenvideo.js", path, filepath.Join(tmp, "out"))
	cmd.Dir = filepath.Join(testenv.Repo(t), "scripts", "transformersjs-ref")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("qwenvideo.js: %v\n%s", err, out)
	}
	res := map[string]videoRef{}
	for _, c := range cases {
		name := c["name"].(string)
		data, err := os.ReadFile(filepath.Join(tmp, "out", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var r videoRef
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		res[name] = r
	}
	return res
}

// TestVideoDifferentialTransformersJS runs videos through vlmrun
// (pipeline.CaptionVideo: Qwen2VLVideoProcessor's patches, the chat
// template's video part, <|video_pad|> expansion, M-RoPE over
// video_grid_thw) and compares with transformers.js 4.3.1: the chat
// template's rendering with a video part, expanded and tokenized, equals
// vlmrun's input ids; transformers.js's get_rope_index called with those
// ids and video_grid_thw equals vlmrun's position ids and next position;
// and its generate, fed vlmrun's pixel_values_videos and grid through its
// image inputs (it merges image features only; qwenvideo.js), gives the
// same 12 ids. Without Node the committed testdata/video_golden.json is
// the reference.
func TestVideoDifferentialTransformersJS(t *testing.T) {
	testenv.ORT(t)
	type run struct {
		res *pipeline.Result
		px  models.Pixels
		p   *pipeline.Pipeline
	}
	runs := map[string]run{}
	pipes := map[string]*pipeline.Pipeline{}
	tmp := t.TempDir()
	var refCases []map[string]any
	for _, c := range videoCases {
		if pipes[c.Twin] == nil {
			pipes[c.Twin] = openFolder(t, c.Twin, "", "")
		}
		p := pipes[c.Twin]
		v, imgs := c.video(t)
		res, err := p.CaptionVideo(context.Background(), v, pipeline.Request{Prompt: c.Prompt, MaxNewTokens: 12}, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		px, err := p.Spec.PreprocessVideo(imgs, models.Video{Times: v.Times, Duration: v.Duration}, models.ImageOptions{})
		if err != nil {
			t.Fatal(err)
		}
		runs[c.Name] = run{res, px, p}
		raw := make([]byte, 4*len(px.Data))
		for i, x := range px.Data {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
		}
		f := filepath.Join(tmp, c.Name+".f32")
		if err := os.WriteFile(f, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		prompt := c.Prompt
		if prompt == "" {
			prompt = qwen2vl.DefaultVideoPrompt
		}
		cfg := readConfig(t, c.Twin)
		refCases = append(refCases, map[string]any{"name": c.Name, "model": testdata(t, c.Twin), "prompt": prompt,
			"input_ids": res.PromptIDs, "video_grid_thw": px.Grids[0][:], "pixels": f, "patch_dim": px.PatchDim,
			"image_token_id": cfg["image_token_id"], "video_token_id": cfg["video_token_id"], "max_new_tokens": 12})
	}
	ref := videoReference(t, refCases)
	goldenPath := testdata(t, "video_golden.json")
	var golden map[string]videoRef
	if ref == nil {
		golden = tjsref.LoadGolden[videoRef](t, goldenPath)
	}
	for _, c := range videoCases {
		t.Run(c.Name, func(t *testing.T) {
			r, ok := ref[c.Name]
			if !ok {
				if r, ok = golden[c.Name]; !ok {
					t.Fatalf("no golden result for %s (run with -update and transformers.js installed)", c.Name)
				}
			}
			x := runs[c.Name]
			g := x.px.Grids[0]
			wantT := (c.Frames + 1) / 2
			rw, rh := c.size()
			if g != [3]int{wantT, rh / 14, rw / 14} || !x.px.Video {
				t.Errorf("video_grid_thw %v (video %v), want [%d %d %d]", g, x.px.Video, wantT, rh/14, rw/14)
			}
			if c.RW > 0 {
				// the pipeline's pixel_values_videos are those of the frames
				// resized by torchvision's antialiased bicubic first (a
				// processor that then has nothing left to resize)
				_, imgs := c.video(t)
				vp, err := qwen2vl.ReadVideoProcessor(testdata(t, c.Twin))
				if err != nil {
					t.Fatal(err)
				}
				for i, img := range imgs {
					if imgs[i], err = encoder.ResizeTorchAA(img, rw, rh, encoder.ResampleBicubic); err != nil {
						t.Fatal(err)
					}
				}
				want, _, err := vp.Process(imgs, 0)
				if err != nil || !slices.Equal(x.px.Data, want) {
					t.Errorf("pixel_values_videos are not the torch-resized frames' (%v)", err)
				}
			}
			n := g[0] * g[1] * g[2] / 4
			if x.res.Visual.Before != n {
				t.Errorf("%d visual tokens, want t·h·w/4 = %d", x.res.Visual.Before, n)
			}
			text, err := qwen2vl.ExpandVideo(r.PromptText, []qwen2vl.Grid{qwen2vl.Grid(g)}, 2)
			if err != nil {
				t.Fatal(err)
			}
			ids, err := x.p.Spec.Tokenizer.Encode(text, true)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, x.res.PromptIDs) {
				t.Errorf("input ids differ from the template's video rendering:\n vlmrun %v\n tjs    %v", x.res.PromptIDs, ids)
			}
			pos, dims, next, err := x.p.Spec.Positions(models.Prompt{IDs: x.res.PromptIDs}, x.px)
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
		for _, c := range videoCases {
			names = append(names, c.Name)
		}
		tjsref.WriteGolden(t, goldenPath, names, ref)
	}
}

func readConfig(t *testing.T, twin string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(testdata(t, twin, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestVideoKeepAllTemporal: every temporal method at keep 1.0 (with its
// keep-all setting) keeps the video's tokens and reproduces the unpruned
// ids; at keep 0.5 the budget
// covers all temporal patches together (half the video's tokens, however
// the method spreads them over its frames).
func TestVideoKeepAllTemporal(t *testing.T) {
	testenv.ORT(t)
	c := videoCases[0]
	p := openFolder(t, c.Twin, "", "")
	caption := func(spec pipeline.PruneSpec) *pipeline.Result {
		t.Helper()
		req := pipeline.Request{}
		if spec.Method != "" {
			if err := spec.Apply(&req); err != nil {
				t.Fatal(err)
			}
		}
		req.Prompt, req.MaxNewTokens = c.Prompt, 12
		v, _ := c.video(t)
		res, err := p.CaptionVideo(context.Background(), v, req, nil)
		if err != nil {
			t.Fatalf("%s: %v", spec.Method, err)
		}
		return res
	}
	base := caption(pipeline.PruneSpec{})
	n := base.Visual.Before
	// the keep-all settings of the content-adaptive methods (as
	// pipeline/temporal_test.go on scenes-vqa): DTD drops nothing at tau 1,
	// DyCoke prunes nothing at k 0; spatial order keeps the tokens in place
	keepAll := map[string]string{"dtd": "dtd:tau=1", "dycoke": "dycoke:k=0,order=spatial", "fastvid": "fastvid",
		"prunevid": "prunevid:tau=1,ratio=1,order=spatial", "holitom": "holitom"}
	for _, m := range []string{"dtd", "dycoke", "fastvid", "prunevid", "holitom"} {
		t.Run(m, func(t *testing.T) {
			res := caption(pipeline.PruneSpec{Method: keepAll[m], Keep: "1.0"})
			if res.Visual.AfterPre != n {
				t.Fatalf("keeps %d of %d at keep 1.0", res.Visual.AfterPre, n)
			}
			if !slices.Equal(res.GeneratedIDs, base.GeneratedIDs) {
				t.Errorf("generated %v, unpruned %v", res.GeneratedIDs, base.GeneratedIDs)
			}
			half := caption(pipeline.PruneSpec{Method: m, Keep: "0.5"})
			if half.Visual.AfterPre > n/2 || half.Visual.AfterPre < 1 {
				t.Errorf("keep 0.5 of %d tokens over 3 temporal patches kept %d", n, half.Visual.AfterPre)
			}
			t.Logf("keep 0.5: %d of %d", half.Visual.AfterPre, n)
		})
	}
}

// TestVideoMaxImageTokens: --max-image-tokens bounds the tokens of each
// temporal patch of a video (max_pixels = N·28²).
func TestVideoMaxImageTokens(t *testing.T) {
	dir := testdata(t, twin)
	spec, err := models.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, imgs := videoFrames(t, 3, 112, 84)
	px, err := spec.PreprocessVideo(imgs, models.Video{}, models.ImageOptions{MaxImageTokens: 6})
	if err != nil {
		t.Fatal(err)
	}
	// 112×84 with max_pixels 6·784 = 4704: beta = sqrt(9408/4704), floor(84/1.414/28)·28 = 56,
	// floor(112/1.414/28)·28 = 56: 56×56, 2×2 tokens per temporal patch; 3 frames → t = 2
	if g := px.Grids[0]; g != [3]int{2, 4, 4} {
		t.Errorf("grid %v, want [2 4 4]", g)
	}
	if _, err := spec.PreprocessVideo(imgs[:1], models.Video{}, models.ImageOptions{}); err != nil {
		t.Errorf("one frame: %v", err)
	}
	_, odd := videoFrames(t, 1, 56, 84)
	if _, err := spec.PreprocessVideo(append(imgs[:1:1], odd...), models.Video{}, models.ImageOptions{}); err == nil {
		t.Error("frames of different sizes were accepted")
	}
}

// TestVideoPrunedRuns: an image method (DivPrune) with a token count
// prunes a video's tokens across its temporal patches and generation
// runs on the kept ones.
func TestVideoPrunedRuns(t *testing.T) {
	testenv.ORT(t)
	c := videoCases[0]
	p := openFolder(t, c.Twin, "", "")
	req := pipeline.Request{}
	if err := (pipeline.PruneSpec{Method: "divprune", Keep: "6"}).Apply(&req); err != nil {
		t.Fatal(err)
	}
	req.MaxNewTokens = 4
	v, _ := c.video(t)
	res, err := p.CaptionVideo(context.Background(), v, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Visual.AfterPre != 6 || len(res.GeneratedIDs) == 0 {
		t.Errorf("kept %d (want 6), generated %v", res.Visual.AfterPre, res.GeneratedIDs)
	}
}

// TestVideoQwen25TimeIDs: on the Qwen2.5-VL twin (tokens_per_second 2) a
// 6-frame video sampled over 3 s (2 fps: second_per_grid 1) puts its three
// temporal patches at t = offset + 0, 2, 4 (Qwen2-VL: 0, 1, 2); h and w as
// for an image; the text after the video continues from the maximum + 1.
func TestVideoQwen25TimeIDs(t *testing.T) {
	c := videoCase{Frames: 6, W: 56, H: 84, Duration: 3}
	for _, tc := range []struct {
		twin string
		step int64
	}{{twin25, 2}, {twin, 1}} {
		spec, err := models.Load(testdata(t, tc.twin))
		if err != nil {
			t.Fatal(err)
		}
		v, imgs := c.video(t)
		info := models.Video{Times: v.Times, Duration: v.Duration}
		px, err := spec.PreprocessVideo(imgs, info, models.ImageOptions{})
		if err != nil {
			t.Fatal(err)
		}
		info.Pixels = &px
		pr, err := spec.BuildVideoPrompt("", info, 18)
		if err != nil {
			t.Fatal(err)
		}
		pos, _, next, err := spec.Positions(pr, px)
		if err != nil {
			t.Fatal(err)
		}
		L := len(pr.IDs)
		first := pr.ImagePos[0]
		off := pos[first] // the block's offset: t of its first token
		for i, j := range pr.ImagePos {
			k := int64(i / 6) // 6 tokens (3×2) per temporal patch
			if pos[j] != off+tc.step*k || pos[L+j] != off+int64(i%6/2) || pos[2*L+j] != off+int64(i%2) {
				t.Fatalf("%s: video token %d at (%d, %d, %d), want (%d, %d, %d)", tc.twin, i, pos[j], pos[L+j], pos[2*L+j],
					off+tc.step*k, off+int64(i%6/2), off+int64(i%2))
			}
		}
		after := pr.ImagePos[17] + 1
		if want := off + 2*tc.step + 1; pos[after] != want || next != want+int64(L-after) {
			t.Errorf("%s: the text after the video starts at %d (next %d), want %d (next %d)", tc.twin, pos[after], next,
				want, want+int64(L-after))
		}
	}
}
