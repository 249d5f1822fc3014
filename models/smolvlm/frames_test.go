package smolvlm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
)

// Several images (video frames) in one prompt, each unsplit, equal
// transformers.js 4.3.1 (processor(text, images, {do_image_splitting:
// false}) on a chat message with one image part per frame;
// scripts/transformersjs-ref/frames.js): the same prompt ids and the same
// 12 generated ids on the twin. Without transformers.js installed the ids
// recorded from it are the reference.
func TestFramesEqualTransformersJS(t *testing.T) {
	testenv.ORT(t)
	twin := testdata(t, "smolvlm-twin")
	imgs := []string{"land64x48", "sq64", "port48x64"} // longest edge 64: no first (sharp) resize, pixels exact
	paths := make([]string, len(imgs))
	for i, n := range imgs {
		paths[i] = testdata(t, "images", n+".png")
	}
	const prompt = "What changes?"
	want := struct {
		InputIDs     []int `json:"input_ids"`
		GeneratedIDs []int `json:"generated_ids"`
	}{GeneratedIDs: []int{173, 116, 33, 296, 57, 38, 49, 86, 154, 255, 83, 72}}
	dir := filepath.Join(testenv.Repo(t), "scripts", "transformersjs-ref")
	_, errNode := exec.LookPath("node")
	_, errMod := os.Stat(filepath.Join(dir, "node_modules", "@huggingface", "transformers", "package.json"))
	if errNode == nil && errMod == nil {
		cmd := exec.Command("node", append([]string{"frames.js", twin, "12", prompt}, paths...)...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("transformers.js: %v", err)
		}
		if err := json.Unmarshal(out, &want); err != nil {
			t.Fatal(err)
		}
	} else if os.Getenv("VLMRUN_REQUIRE_TJS") != "" {
		t.Fatalf("transformers.js reference not installed: node %v, module %v", errNode, errMod)
	}
	p, err := pipeline.Open(twin, pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	frames := make([]pipeline.Frame, len(paths))
	for i, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		frames[i] = pipeline.Frame{Name: imgs[i], R: bytes.NewReader(data)}
	}
	res, err := p.CaptionFrames(context.Background(), frames, pipeline.Request{Prompt: prompt, MaxNewTokens: 12}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want.InputIDs != nil && !slices.Equal(res.PromptIDs, want.InputIDs) {
		t.Errorf("prompt ids\n go  %v\n tjs %v", res.PromptIDs, want.InputIDs)
	}
	if !slices.Equal(res.GeneratedIDs, want.GeneratedIDs) {
		t.Errorf("generated ids: go %v, transformers.js %v", res.GeneratedIDs, want.GeneratedIDs)
	}
	if res.Visual.Before != 3*16 {
		t.Errorf("%d visual tokens, want 3 frames × 16", res.Visual.Before)
	}
	// a temporal method runs on the frames; keeping everything changes nothing
	for _, spec := range []string{"dtd:tau=1", "holitom", "dtd:input=pixel,tau=0"} {
		req := pipeline.Request{Prompt: prompt, MaxNewTokens: 12}
		if err := (pipeline.PruneSpec{Method: spec, Keep: "1.0"}).Apply(&req); err != nil {
			t.Fatal(err)
		}
		for i := range frames {
			data, _ := os.ReadFile(paths[i])
			frames[i].R = bytes.NewReader(data)
		}
		r, err := p.CaptionFrames(context.Background(), frames, req, nil)
		if err != nil || !slices.Equal(r.GeneratedIDs, res.GeneratedIDs) {
			t.Errorf("%s keep 1.0: %v %v", spec, r, err)
		}
	}
	// pixel mode reads the frames' pixels: these three differ everywhere
	// (every token changes by more than 0.01), a 0.5 threshold drops much
	for tau, want := range map[string]func(int) bool{"0.01": func(k int) bool { return k == 48 }, "0.5": func(k int) bool { return k < 48 && k >= 16 }} {
		req := pipeline.Request{Prompt: prompt, MaxNewTokens: 2}
		if err := (pipeline.PruneSpec{Method: "dtd:input=pixel,tau=" + tau, Keep: "1.0"}).Apply(&req); err != nil {
			t.Fatal(err)
		}
		for i := range frames {
			data, _ := os.ReadFile(paths[i])
			frames[i].R = bytes.NewReader(data)
		}
		r, err := p.CaptionFrames(context.Background(), frames, req, nil)
		if err != nil || !want(r.Visual.AfterPre) {
			t.Errorf("dtd pixel tau %s: %v tokens, %v", tau, r.Visual.AfterPre, err)
		}
	}
}
