package models

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParseDTypesAuto(t *testing.T) {
	for _, c := range []struct {
		in      string
		auto    bool
		perFile map[string]string
		err     bool
	}{
		{in: "auto", auto: true},
		{in: "auto,decoder_model_merged=fp32", auto: true, perFile: map[string]string{"decoder_model_merged": "fp32"}},
		{in: "auto,q4", err: true},
		{in: "q4"},
		{in: "decoder_model_merged=auto", err: true},
	} {
		d, err := ParseDTypes(c.in)
		if (err != nil) != c.err {
			t.Errorf("%q: error %v, want error %v", c.in, err, c.err)
			continue
		}
		if err != nil {
			continue
		}
		if d.Auto != c.auto || len(d.PerFile) != len(c.perFile) {
			t.Errorf("%q: %+v", c.in, d)
		}
		for k, v := range c.perFile {
			if d.PerFile[k] != v {
				t.Errorf("%q: %s = %q, want %q", c.in, k, d.PerFile[k], v)
			}
		}
	}
	// auto alone has nothing to choose in a single-file-set model
	if d, _ := ParseDTypes("auto"); !d.IsZero() {
		t.Error("auto alone: not zero")
	}
}

func TestDTypeOfAndRole(t *testing.T) {
	for path, want := range map[string]string{
		"x/onnx/vision_encoder.onnx": "fp32", "decoder_model_merged_quantized.onnx": "q8",
		"embed_tokens_q4f16.onnx": "q4f16", "embed_tokens_q4.onnx": "q4", "a_fp16.onnx": "fp16",
		"decoder_model_merged_uint8.onnx": "uint8", "decoder_model_merged_int8.onnx": "int8",
	} {
		if got := DTypeOf(path); got != want {
			t.Errorf("DTypeOf(%s) = %s, want %s", path, got, want)
		}
	}
	for base, want := range map[string]string{"vision_encoder": "vision", "embed_tokens": "embed",
		"encoder_model": "encoder", "decoder_model_merged": "decoder", "decoder_model": "decoder"} {
		if got := Role(base); got != want {
			t.Errorf("Role(%s) = %s, want %s", base, got, want)
		}
	}
}

// AutoChoose takes the first variant of the role's order that exists, and
// resolveAuto leaves the user's per-file choices alone.
func TestAutoChoose(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "onnx"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"vision_encoder", "vision_encoder_q4", "embed_tokens", "decoder_model_merged",
		"decoder_model_merged_quantized"} {
		if err := os.WriteFile(filepath.Join(dir, "onnx", f+".onnx"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for class, order := range AutoOrder {
		for _, base := range []string{"vision_encoder", "embed_tokens", "decoder_model_merged"} {
			want := "fp32"
			for _, d := range order[Role(base)] {
				if _, err := os.Stat(filepath.Join(dir, "onnx", base+DTypeSuffix[d]+".onnx")); err == nil {
					want = d
					break
				}
			}
			if got := AutoChoose(dir, base, class); got != want {
				t.Errorf("%s %s: %s, want %s", class, base, got, want)
			}
		}
		// every order names every dtype the generators write, once
		for role, o := range order {
			for _, d := range []string{"fp32", "fp16", "q8", "q4"} {
				if !slices.Contains(o, d) {
					t.Errorf("%s %s: %v lacks %s", class, role, o, d)
				}
			}
		}
	}
	if got := AutoChoose(dir, "missing", CPUInt8Dot); got != "fp32" {
		t.Errorf("no variant: %s", got)
	}
	d := DTypes{Auto: true, PerFile: map[string]string{"decoder_model_merged": "fp32"}}
	r := d.resolveAuto(dir, []string{"vision_encoder", "embed_tokens", "decoder_model_merged"})
	class, _ := CPUClass()
	if r.Auto || r.PerFile["decoder_model_merged"] != "fp32" || r.PerFile["vision_encoder"] != AutoChoose(dir, "vision_encoder", class) {
		t.Errorf("resolved %+v", r)
	}
	if d.PerFile["vision_encoder"] != "" {
		t.Error("resolveAuto changed its receiver's map")
	}
}
