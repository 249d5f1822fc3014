package smolvlm_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"
)

// TestCachedEqualsRecompute: KV-cached generation gives the same ids as
// re-running the whole sequence without a cache, for both decoder
// signatures and the float16 cache.
func TestCachedEqualsRecompute(t *testing.T) {
	testenv.ORT(t)
	for _, c := range []diffCase{
		{Name: "current-fp32", Twin: "smolvlm-twin", Image: "land64x48"},
		{Name: "current-fp16", Twin: "smolvlm-twin", Image: "port48x64", DType: "fp16"},
		{Name: "legacy-use-cache-branch", Twin: "smolvlm-twin-legacy", Image: "land32x24"},
		{Name: "torch-fp32", Twin: "smolvlm-twin-torch", Image: "land64x48"},
		{Name: "torch-fp16", Twin: "smolvlm-twin-torch", Image: "port48x64", DType: "fp32,decoder_model_merged=fp16"},
		{Name: "torch-q8", Twin: "smolvlm-twin-torch", Image: "sq64", DType: "fp32,decoder_model_merged=q8"},
		{Name: "torch-q4", Twin: "smolvlm-twin-torch", Image: "wide64x24", DType: "fp32,decoder_model_merged=q4"},
		{Name: "torch-legacy", Twin: "smolvlm-twin-torch-legacy", Image: "port24x32"},
	} {
		t.Run(c.Name, func(t *testing.T) {
			cached := runGo(t, c, false)
			free := runGo(t, c, true)
			if !slices.Equal(cached.generated, free.generated) || len(cached.generated) != 12 {
				t.Errorf("cached %v, cache-free %v", cached.generated, free.generated)
			}
		})
	}
}

// copyTwin copies a twin folder into a temporary directory.
func copyTwin(t *testing.T, name string) string {
	t.Helper()
	src := testdata(t, name)
	dst := filepath.Join(t.TempDir(), name)
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestLoadErrors: unknown model types, missing dtype files and graphs that
// break the family's contract give errors naming the file and the input.
func TestLoadErrors(t *testing.T) {
	testenv.ORT(t)
	cases := []struct {
		name   string
		dtype  string
		mutate func(t *testing.T, dir string)
		want   []string
		is     error
	}{
		{name: "unknown model_type", mutate: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "config.json"), `{"model_type": "not_a_vlm"}`)
		}, want: []string{`model_type "not_a_vlm"`, "idefics3", "smolvlm"}, is: models.ErrUnknownFamily},
		{name: "missing dtype file", dtype: "q4", want: []string{"dtype q4", "vision_encoder_q4.onnx", "fp16, fp32"}},
		{name: "missing per-file dtype", dtype: "fp32,decoder_model_merged=q4f16",
			want: []string{"decoder_model_merged_q4f16.onnx"}},
		{name: "dtype for an unknown file", dtype: "encoder_model=fp16", want: []string{`"encoder_model"`}},
		{name: "decoder input mismatch", mutate: func(t *testing.T, dir string) {
			copyFile(t, filepath.Join(dir, "onnx", "embed_tokens.onnx"), filepath.Join(dir, "onnx", "decoder_model_merged.onnx"))
		}, want: []string{"decoder_model_merged.onnx", `input "input_ids"`, "not part of the decoder contract"},
			is: ortx.ErrGraphMismatch},
		{name: "vision input mismatch", mutate: func(t *testing.T, dir string) {
			copyFile(t, filepath.Join(dir, "onnx", "embed_tokens.onnx"), filepath.Join(dir, "onnx", "vision_encoder.onnx"))
		}, want: []string{"vision_encoder.onnx", `input "pixel_values"`, "missing"}, is: ortx.ErrGraphMismatch},
		{name: "fewer decoder layers than config", mutate: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "config.json")
			data, _ := os.ReadFile(p)
			write(t, p, strings.Replace(string(data), `"num_hidden_layers": 2`, `"num_hidden_layers": 3`, 1))
		}, want: []string{"decoder_model_merged.onnx", `input "past_key_values.2.key"`, "missing"}, is: ortx.ErrGraphMismatch},
		{name: "missing processor_config", mutate: func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "processor_config.json"))
		}, want: []string{"processor_config.json"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyTwin(t, "smolvlm-twin")
			if c.mutate != nil {
				c.mutate(t, dir)
			}
			dt, err := models.ParseDTypes(c.dtype)
			if err != nil {
				t.Fatal(err)
			}
			p, err := pipeline.Open(dir, pipeline.Options{ORT: ortx.Options{Threads: 1}, DTypes: dt})
			if err == nil {
				p.Close()
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q is not %v", err, c.is)
			}
		})
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dst, string(data))
}

// TestParseDTypes covers the --dtype syntax.
func TestParseDTypes(t *testing.T) {
	for _, c := range []struct {
		in      string
		vision  string
		decoder string
		err     bool
	}{
		{"", "fp32", "fp32", false},
		{"fp16", "fp16", "fp16", false},
		{"q4,vision_encoder=fp16", "fp16", "q4", false},
		{"decoder_model_merged=q4f16", "fp32", "q4f16", false},
		{"fp8", "", "", true},
		{"=q4", "", "", true},
	} {
		d, err := models.ParseDTypes(c.in)
		if (err != nil) != c.err {
			t.Errorf("%q: error %v", c.in, err)
			continue
		}
		if err == nil && (d.Of("vision_encoder") != c.vision || d.Of("decoder_model_merged") != c.decoder) {
			t.Errorf("%q: vision %s decoder %s", c.in, d.Of("vision_encoder"), d.Of("decoder_model_merged"))
		}
	}
	d, _ := models.ParseDTypes("q8")
	if got := d.Path("/m", "embed_tokens"); got != filepath.Join("/m", "onnx", "embed_tokens_quantized.onnx") {
		t.Errorf("path %s", got)
	}
}
