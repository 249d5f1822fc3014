package llavaonevision_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/models/llavaonevision"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
)

// twinVideo is a 4-frame video of the twin's test images (70×70 frames
// pass unresized, the 140×70 one is squashed to 70×70).
func twinVideo(t *testing.T) pipeline.Video {
	t.Helper()
	var v pipeline.Video
	for i, name := range []string{"sq70", "sq70b", "wide140x70", "sq70"} {
		data, err := os.ReadFile(testdata(t, "images", name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		v.Frames = append(v.Frames, pipeline.Frame{Name: name, R: bytes.NewReader(data)})
		v.Times = append(v.Times, float64(i))
	}
	v.Duration = 4
	return v
}

func captionVideo(t *testing.T, p *pipeline.Pipeline, req pipeline.Request) (*pipeline.Result, error) {
	t.Helper()
	req.MaxNewTokens = 12
	return p.CaptionVideo(context.Background(), twinVideo(t), req, nil)
}

// A video on the twin (5×5 tokens per frame, pooled to 3×3) is one user
// message holding <video> then the text, rendered by the chat template,
// with <video> expanded to 4·9 + 1 = 37 tokens (the pooled tokens of the
// four frames, then the newline): the prompt ids equal the tokenizer's
// ids of that text written out by hand; the visual tokens (what pruning
// sees) are the 36 pooled ones.
func TestVideoPromptTwin(t *testing.T) {
	testenv.ORT(t)
	p := openTwin(t, "", "")
	res, err := captionVideo(t, p, pipeline.Request{Prompt: "What happens?"})
	if err != nil {
		t.Fatal(err)
	}
	text := "<|im_start|>user " + strings.Repeat("<video>", llavaonevision.VideoTokens(4, 5)) +
		"\nWhat happens?<|im_end|><|im_start|>assistant\n"
	want, err := p.Spec.Tokenizer.Encode(text, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.PromptIDs, want) {
		t.Errorf("prompt ids\n%v\nwant\n%v", res.PromptIDs, want)
	}
	if res.Visual.Before != 36 || res.Visual.AfterPre != 36 || len(res.GeneratedIDs) == 0 {
		t.Errorf("visual tokens %+v, %d generated", res.Visual, len(res.GeneratedIDs))
	}
	// the user's own <video> text is the whole prompt
	raw := "<|im_start|>user <video>\nWhat happens?<|im_end|><|im_start|>assistant\n"
	res2, err := captionVideo(t, p, pipeline.Request{Prompt: raw})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res2.PromptIDs, want) || !slices.Equal(res2.GeneratedIDs, res.GeneratedIDs) {
		t.Errorf("raw prompt: ids %v, generated %v; want those of the rendered prompt", res2.PromptIDs, res2.GeneratedIDs)
	}
	for _, bad := range []string{"<image> and <video>", "<video><video>"} {
		if _, err := captionVideo(t, p, pipeline.Request{Prompt: bad}); err == nil {
			t.Errorf("prompt %q accepted", bad)
		}
	}
	// the encoder extras describe the unpooled rows: methods reading them
	// are refused on a video, with the reason
	req := pipeline.Request{}
	if err := (pipeline.PruneSpec{Method: "fastervlm", Keep: "0.5"}).Apply(&req); err != nil {
		t.Fatal(err)
	}
	if _, err := captionVideo(t, p, req); !errors.Is(err, pruning.ErrMissingInput) || !strings.Contains(err.Error(), "pooled") {
		t.Errorf("fastervlm on a video: %v", err)
	}
}

// The video path does not depend on the folder's image layout: with
// Python's anyres layout for images (vlmrun_config.json) the video gives
// the same prompt and ids.
func TestVideoPythonLayout(t *testing.T) {
	testenv.ORT(t)
	base, err := captionVideo(t, openTwin(t, "", ""), pipeline.Request{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.Open(pythonTwin(t), pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	res, err := captionVideo(t, p, pipeline.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.PromptIDs, base.PromptIDs) || !slices.Equal(res.GeneratedIDs, base.GeneratedIDs) {
		t.Errorf("python layout: %v, transformers.js layout: %v", res.GeneratedIDs, base.GeneratedIDs)
	}
}

// The temporal methods see the four frames' pooled 3×3 grids: at --keep
// 1.0, with the keep-all settings of the content-adaptive ones (as the
// Qwen2-VL video test: DTD drops nothing at tau 1, DyCoke and PruneVid
// prune nothing at k 0 / tau 1 with spatial order), each keeps all 36
// tokens and reproduces the unpruned prompt and ids (the newline row
// stays, outside pruning); at keep 0.5 (defaults) the budget covers all
// frames together: at most 18 of 36 kept.
func TestVideoTemporalTwin(t *testing.T) {
	testenv.ORT(t)
	p := openTwin(t, "", "")
	base, err := captionVideo(t, p, pipeline.Request{})
	if err != nil {
		t.Fatal(err)
	}
	keepAll := map[string]string{"dtd": "dtd:tau=1", "dycoke": "dycoke:k=0,order=spatial", "fastvid": "fastvid",
		"prunevid": "prunevid:tau=1,ratio=1,order=spatial", "holitom": "holitom", "random": "random", "divprune": "divprune"}
	run := func(spec, keep string) *pipeline.Result {
		t.Helper()
		req := pipeline.Request{}
		if err := (pipeline.PruneSpec{Method: spec, Keep: keep}).Apply(&req); err != nil {
			t.Fatal(err)
		}
		res, err := captionVideo(t, p, req)
		if err != nil {
			t.Fatalf("%s keep %s: %v", spec, keep, err)
		}
		if res.Visual.Before != 36 {
			t.Errorf("%s keep %s: %d visual tokens before, want 36", spec, keep, res.Visual.Before)
		}
		return res
	}
	for _, m := range []string{"dtd", "dycoke", "fastvid", "prunevid", "holitom", "random", "divprune"} {
		t.Run(m, func(t *testing.T) {
			res := run(keepAll[m], "1.0")
			if res.Visual.AfterPre != 36 {
				t.Fatalf("keep 1.0 keeps %d of 36", res.Visual.AfterPre)
			}
			if !slices.Equal(res.GeneratedIDs, base.GeneratedIDs) || !slices.Equal(res.PromptIDs, base.PromptIDs) {
				t.Errorf("keep 1.0: %v, unpruned %v", res.GeneratedIDs, base.GeneratedIDs)
			}
			if half := run(m, "0.5"); half.Visual.AfterPre > 18 || half.Visual.AfterPre < 1 {
				t.Errorf("keep 0.5: %d tokens kept of 36", half.Visual.AfterPre)
			}
		})
	}
}

// Without image_newline in a safetensors file of the folder, a video is
// refused with the reason (the ONNX export does not carry it); images
// still run.
func TestVideoNeedsNewline(t *testing.T) {
	testenv.ORT(t)
	src := testdata(t, twin)
	dir := t.TempDir()
	err := filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil || path == src {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if info.IsDir() {
			return os.Mkdir(filepath.Join(dir, rel), 0o755)
		}
		if strings.HasSuffix(rel, ".safetensors") {
			return nil
		}
		return os.Symlink(path, filepath.Join(dir, rel))
	})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := models.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if spec.PreprocessVideo == nil || spec.BuildVideoPrompt == nil {
		t.Fatal("no video hooks")
	}
	p, err := pipeline.Open(dir, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = p.CaptionVideo(context.Background(), twinVideo(t), pipeline.Request{MaxNewTokens: 2}, nil)
	if err == nil || !strings.Contains(err.Error(), "image_newline") {
		t.Errorf("video without image_newline: %v", err)
	}
	if _, err := caption(t, p, byName(t, "square"), pipeline.Request{}), error(nil); err != nil {
		t.Error(err)
	}
}

// The video tokens and generated ids equal an independent torch
// computation of Python's rules on the twin (scripts/twins/onevision_video_ref.py →
// testdata/video-features.json: the frames' pixels, the twin's SigLIP and
// projector, torch's bilinear interpolate 5×5 → 3×3, image_newline from
// model.safetensors): vlmrun's PreprocessVideo, vision graph and pooling
// give the 27 pooled rows (within ORT-vs-torch rounding), and the video
// prompt's fixed row after them is the newline, bit for bit, at the last
// <video> position; through the pipeline, the reference's prompt gives its
// torch decoder's 8 greedy ids (the newline spliced, not pruned).
func TestVideoFeaturesMatchTorch(t *testing.T) {
	testenv.ORT(t)
	raw, err := os.ReadFile(testdata(t, "video-features.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Frames []string `json:"frames"`
		Tokens int      `json:"tokens"`
		Dim    int      `json:"dim"`
		F32LE  string   `json:"features_f32le"`
		Prompt []int    `json:"prompt_ids"`
		Gen    []int    `json:"generated_ids"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(ref.F32LE)
	if err != nil || len(b) != 4*ref.Tokens*ref.Dim || ref.Tokens != llavaonevision.VideoTokens(len(ref.Frames), 5) {
		t.Fatalf("reference: %d bytes, %d tokens of %d frames, %v", len(b), ref.Tokens, len(ref.Frames), err)
	}
	want := make([]float32, ref.Tokens*ref.Dim)
	for i := range want {
		want[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	spec, err := models.Load(testdata(t, twin))
	if err != nil {
		t.Fatal(err)
	}
	var frames []*image.NRGBA
	for _, f := range ref.Frames {
		frames = append(frames, decode(t, f))
	}
	px, err := spec.PreprocessVideo(frames, models.Video{}, models.ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := encoder.OpenVision(encoder.VisionGraph{Path: spec.Files.Vision, Width: 70, Height: 70, Features: "image_features"},
		ortx.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Destroy()
	enc, err := v.EncodeChunks(px.Data, px.Images, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := spec.PackVideo(px, enc)
	if err != nil {
		t.Fatal(err)
	}
	n := ref.Tokens - 1
	if got.Features.Rows != n || got.Features.Cols != ref.Dim || got.Frames != len(ref.Frames) || got.GridH != 3 || got.GridW != 3 {
		t.Fatalf("pooled %d×%d, %d frames of %d×%d; want %d×%d, %d frames of 3×3",
			got.Features.Rows, got.Features.Cols, got.Frames, got.GridH, got.GridW, n, ref.Dim, len(ref.Frames))
	}
	d := 0.0
	for i := range got.Features.Data {
		d = math.Max(d, math.Abs(float64(got.Features.Data[i]-want[i]))/math.Max(1, math.Abs(float64(want[i]))))
	}
	t.Logf("%d frames, %d pooled tokens: largest difference relative to max(1, |x|) %.2g", len(ref.Frames), n, d)
	if d > 1e-4 {
		t.Errorf("pooled tokens differ from the reference by %g", d)
	}
	pr, err := spec.BuildVideoPrompt("", models.Video{Pixels: &px}, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.ImagePos) != n || len(pr.Fixed) != 1 || pr.Fixed[0].Pos != pr.ImagePos[n-1]+1 ||
		!slices.Equal(pr.Fixed[0].Embed, want[n*ref.Dim:]) {
		t.Errorf("%d visual positions, fixed rows %d (at %v), want the newline right after the last visual token", len(pr.ImagePos), len(pr.Fixed), pr.Fixed)
	}
	// the whole path: the reference's prompt (special tokens only) and its
	// torch decoder's greedy ids
	p := openTwin(t, "", "")
	var vid pipeline.Video
	for i, f := range ref.Frames {
		data, err := os.ReadFile(testdata(t, "images", f+".png"))
		if err != nil {
			t.Fatal(err)
		}
		vid.Frames = append(vid.Frames, pipeline.Frame{Name: f, R: bytes.NewReader(data)})
		vid.Times = append(vid.Times, float64(i))
	}
	res, err := p.CaptionVideo(context.Background(), vid, pipeline.Request{Prompt: "<|im_start|><video><|im_end|><|im_start|>",
		MaxNewTokens: len(ref.Gen)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.PromptIDs, ref.Prompt) || !slices.Equal(res.GeneratedIDs, ref.Gen) {
		t.Errorf("prompt %v\ngenerated %v\nreference prompt %v\ngenerated %v", res.PromptIDs, res.GeneratedIDs, ref.Prompt, ref.Gen)
	}
}
