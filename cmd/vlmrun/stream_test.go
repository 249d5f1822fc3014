package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
)

// pngFrames renders n small frames with a square moving across a
// gradient.
func pngFrames(t *testing.T, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for f := range n {
		img := image.NewNRGBA(image.Rect(0, 0, 48, 40))
		for y := 0; y < 40; y++ {
			for x := 0; x < 48; x++ {
				c := color.NRGBA{uint8(5 * x), uint8(6 * y), 90, 255}
				if x >= 8*f && x < 8*f+12 && y >= 8 && y < 20 {
					c = color.NRGBA{20, 240, 40, 255}
				}
				img.SetNRGBA(x, y, c)
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out
}

// vlmrun caption --stream-video reads concatenated PNGs from stdin, reports
// each frame, answers every --answer-every frames and at the end; each
// answer's ids are those of the one-shot run over the frames so far
// (pipeline.CaptionStreamFrames) with the same DTD selection.
func TestCaptionStreamVideo(t *testing.T) {
	testenv.ORT(t)
	twin := filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata", "smolvlm-twin-legacy")
	frames := pngFrames(t, 5)
	code, stdout, stderr := runCLI(t, bytes.NewReader(bytes.Join(frames, nil)), "caption", "--stream-video", "--model", twin,
		"--prompt", "What moves?", "--max-new-tokens", "6", "--fps", "2", "--answer-every", "2", "--prune", "dtd:tau=0.999", "--json", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var recs []streamRecord
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r streamRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	var kinds []string
	for _, r := range recs {
		kinds = append(kinds, fmt.Sprintf("%s%d", r.Kind, r.Index))
	}
	want := []string{"frame0", "frame1", "answer1", "frame2", "frame3", "answer3", "frame4", "answer4"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("records %v, want %v", kinds, want)
	}
	p, err := pipeline.Open(twin, pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	req := pipeline.Request{Prompt: "What moves?", MaxNewTokens: 6}
	if err := (pipeline.PruneSpec{Method: "dtd:tau=0.999"}).Apply(&req); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Kind != "answer" {
			if r.Frame == nil || r.Frame.TimeS != float64(r.Index)/2 || r.Frame.Visual != 16 {
				t.Errorf("frame record %+v", r.Frame)
			}
			continue
		}
		n := r.Frames
		fr := make([]pipeline.Frame, n)
		times := make([]float64, n)
		for i := range n {
			fr[i] = pipeline.Frame{Name: fmt.Sprint(i), R: bytes.NewReader(frames[i])}
			times[i] = float64(i) / 2
		}
		one, err := p.CaptionStreamFrames(context.Background(), fr, times, req)
		if err != nil {
			t.Fatal(err)
		}
		if r.Result == nil || !slices.Equal(r.GeneratedIDs, one.GeneratedIDs) || r.Visual.AfterPre != one.Visual.AfterPre || r.KVBytes <= 0 {
			t.Errorf("answer after %d frames: %+v; one-shot ids %v, %d kept", n, r.Result, one.GeneratedIDs, one.Visual.AfterPre)
		}
	}
}

// A stalled stream (frames stop, stdin stays open) ends after
// --stream-timeout: the frames so far are answered and the command fails
// with that reason; a stream cut inside a frame is answered up to the cut
// and fails; --max-frames ends the stream early with exit 0; what cannot
// stream is a usage error.
func TestCaptionStreamVideoBad(t *testing.T) {
	testenv.ORT(t)
	twin := filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata", "smolvlm-twin-legacy")
	frames := pngFrames(t, 3)
	pr, pw := io.Pipe()
	go func() {
		pw.Write(bytes.Join(frames[:2], nil)) // then nothing, the pipe open
	}()
	code, stdout, stderr := runCLI(t, pr, "caption", "--stream-video", "--model", twin, "--max-new-tokens", "3", "--stream-timeout", "300ms", "-q")
	pw.Close()
	if code != 1 || !strings.Contains(stderr, "no complete frame for 300ms") || !strings.HasPrefix(stdout, "[2 frames, 1.00 s] ") {
		t.Errorf("stalled: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	cut := append(bytes.Join(frames[:2], nil), frames[2][:30]...)
	code, stdout, stderr = runCLI(t, bytes.NewReader(cut), "caption", "--stream-video", "--model", twin, "--max-new-tokens", "3", "-q")
	if code != 1 || !strings.Contains(stderr, "frame 2") || !strings.Contains(stderr, "ends inside a frame") || !strings.HasPrefix(stdout, "[2 frames") {
		t.Errorf("cut: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, bytes.NewReader(bytes.Join(frames, nil)), "caption", "--stream-video", "--model", twin, "--max-new-tokens", "3", "--max-frames", "2")
	if code != 0 || !strings.HasPrefix(stdout, "[2 frames") || !strings.Contains(stderr, "--max-frames 2 reached") {
		t.Errorf("max frames: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for _, args := range [][]string{{"--prune", "dtd", "--keep", "0.5"}, {"--prune", "dycoke"}, {"clip.mp4"}} {
		code, _, stderr = runCLI(t, bytes.NewReader(nil), append([]string{"caption", "--stream-video", "--model", twin}, args...)...)
		if code != 2 {
			t.Errorf("%v: exit %d, %s", args, code, stderr)
		}
	}
	code, _, stderr = runCLI(t, bytes.NewReader(nil), "caption", "--stream-video", "--model", twin)
	if code != 1 || !strings.Contains(stderr, "no frame arrived") {
		t.Errorf("empty stream: exit %d, %s", code, stderr)
	}
}
