package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/scenes"
)

func runCLI(t *testing.T, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code = run(context.Background(), args, stdin, &o, &e)
	return code, o.String(), e.String()
}

// pngHeader returns a PNG signature and IHDR chunk claiming w×h pixels,
// followed by nothing: a decoder that trusts it would allocate w*h*4 bytes.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.Write([]byte("\x89PNG\r\n\x1a\n"))
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every bad input gives one clear error naming the file and the cause, a
// non-zero exit status and no panic.
func TestBadInputs(t *testing.T) {
	testenv.ORT(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, scenes.Generate(1, 1).Render(200), nil); err != nil {
		t.Fatal(err)
	}
	model := testenv.Model(t)
	missing := filepath.Join(dir, "missing-model")
	copyDir(t, model, missing)
	os.Remove(filepath.Join(missing, "onnx", "decoder_model_merged.onnx"))
	mismatch := filepath.Join(dir, "mismatch-model")
	copyDir(t, model, mismatch)
	vis, _ := os.ReadFile(filepath.Join(model, "onnx", "vision_encoder.onnx"))
	os.WriteFile(filepath.Join(mismatch, "onnx", "embed_tokens.onnx"), vis, 0o644)

	cases := []struct {
		name  string
		args  []string
		wants []string // substrings of stderr
	}{
		{"missing file", []string{filepath.Join(dir, "nope.png")}, []string{"nope.png", "no such file"}},
		{"empty file", []string{write("empty.jpg", nil)}, []string{"empty.jpg", "empty"}},
		{"text file", []string{write("notes.txt", []byte("hello, this is not an image\n"))}, []string{"notes.txt", "not an image"}},
		{"truncated jpeg", []string{write("cut.jpg", jpg.Bytes()[:jpg.Len()/2])}, []string{"cut.jpg", "jpeg"}},
		{"huge png header", []string{write("huge.png", pngHeader(30000, 30000))}, []string{"huge.png", "30000", "limit"}},
		{"model missing a file", []string{"--model", missing, write("ok.jpg", jpg.Bytes())}, []string{"decoder_model_merged.onnx", "missing"}},
		{"onnx inputs mismatch", []string{"--model", mismatch, write("ok2.jpg", jpg.Bytes())}, []string{"embed_tokens.onnx", "input_ids"}},
		{"bad device", []string{"--device", "tpu", write("ok3.jpg", jpg.Bytes())}, []string{"device", "tpu"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, append([]string{"caption", "-q"}, c.args...)...)
			if code == 0 {
				t.Fatalf("exit status 0, want non-zero; stderr %q", stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if !strings.HasPrefix(lines[0], "vlmrun caption: ") {
				t.Errorf("stderr does not start with the command: %q", stderr)
			}
			for _, w := range c.wants {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not mention %q", stderr, w)
				}
			}
			if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine") {
				t.Errorf("stderr shows a panic: %q", stderr)
			}
		})
	}
}

// The CLI captions from stdin and prints one JSON object per image.
func TestCaptionJSONFromStdin(t *testing.T) {
	testenv.ORT(t)
	dir := filepath.Join(testenv.Repo(t), "examples")
	img, err := os.ReadFile(filepath.Join(dir, "scene-1.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	var labels map[string]string
	data, _ := os.ReadFile(filepath.Join(dir, "labels.json"))
	if err := json.Unmarshal(data, &labels); err != nil {
		t.Fatal(err)
	}
	jpg := bytes.NewReader(img)
	code, stdout, stderr := runCLI(t, jpg, "caption", "--json", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rec struct {
		Path         string `json:"path"`
		Caption      string `json:"caption"`
		PromptIDs    []int  `json:"prompt_ids"`
		GeneratedIDs []int  `json:"generated_ids"`
		Visual       struct {
			Before int `json:"before"`
			After  int `json:"after_pre_decoder"`
		} `json:"visual_tokens"`
		Timings   map[string]any     `json:"timings"`
		DTypes    map[string]string  `json:"dtypes"`
		Open      map[string]float64 `json:"open"`
		ProcessMs float64            `json:"process_elapsed_ms"`
	}
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
		t.Fatalf("bad JSON %q: %v", stdout, err)
	}
	// the embedded model's single set of files is fp32; opening it took
	// time, within the time since the process (here: the test binary) began
	if rec.DTypes["vision"] != "fp32" || rec.DTypes["decoder"] != "fp32" || !(rec.Open["total_ms"] > 0) ||
		rec.Open["total_ms"] < rec.Open["vision_session_ms"] || !(rec.ProcessMs > rec.Open["total_ms"]) {
		t.Errorf("dtypes %v, open %v, process %v ms", rec.DTypes, rec.Open, rec.ProcessMs)
	}
	if rec.Caption != labels["scene-1.jpg"] || rec.Path != "-" {
		t.Errorf("path %q caption %q, want %q", rec.Path, rec.Caption, labels["scene-1.jpg"])
	}
	if rec.Visual.Before != 64 || rec.Visual.After != 64 || len(rec.PromptIDs) != 67 {
		t.Errorf("visual %+v, prompt %d ids", rec.Visual, len(rec.PromptIDs))
	}
	for _, k := range []string{"image_decode_ms", "preprocess_ms", "encode_ms", "prune_ms", "prefill_ms",
		"decode_ms", "total_ms", "decode_tokens_per_s", "peak_rss_bytes"} {
		if _, ok := rec.Timings[k]; !ok {
			t.Errorf("timings lack %s", k)
		}
	}
}

func TestVersion(t *testing.T) {
	testenv.ORT(t)
	code, stdout, stderr := runCLI(t, nil, "version")
	if code != 0 || !strings.Contains(stdout, "onnxruntime 1.24.3") || !strings.Contains(stdout, "libonnxruntime.so.1") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	class, _ := models.CPUClass()
	if !strings.Contains(stdout, "cpu class "+class) ||
		!strings.Contains(stdout, "decoder  "+strings.Join(models.AutoOrder[class]["decoder"], " > ")) {
		t.Errorf("version does not print the --dtype auto order: %q", stdout)
	}
}

func TestORTLibNotFound(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "version", "--ort-lib", "/nonexistent/libonnxruntime.so.1")
	if code == 0 || !strings.Contains(stderr, "/nonexistent/libonnxruntime.so.1") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// Every command's --help works (this also catches duplicate flag names,
// which pflag reports with a panic).
func TestHelp(t *testing.T) {
	for _, c := range commands() {
		code, _, stderr := runCLI(t, nil, c.name, "--help")
		if code != 0 {
			t.Errorf("%s --help: exit %d: %s", c.name, code, stderr)
		}
	}
}

// TestSpinningStop checks that --ort-spinning-stop is accepted by ORT
// (the session option exists in this ORT build) and changes no output.
func TestSpinningStop(t *testing.T) {
	testenv.ORT(t)
	img := filepath.Join(testenv.Repo(t), "examples", "scene-0.png")
	_, plain, _ := runCLI(t, nil, "caption", img)
	code, stopped, stderr := runCLI(t, nil, "caption", "--ort-spinning-stop", img)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if plain == "" || stopped != plain {
		t.Errorf("caption with --ort-spinning-stop %q, without %q", stopped, plain)
	}
}
