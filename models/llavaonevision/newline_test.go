package llavaonevision_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/models/llavaonevision"
)

// writeSafetensors writes a safetensors file of one tensor (name, dtype,
// shape, data bytes) with the given data offsets (nil: the right ones).
func writeSafetensors(t *testing.T, path, name, dtype string, shape []int, data []byte, offsets []int) {
	t.Helper()
	if offsets == nil {
		offsets = []int{0, len(data)}
	}
	hdr, err := json.Marshal(map[string]any{name: map[string]any{"dtype": dtype, "shape": shape, "data_offsets": offsets},
		"__metadata__": map[string]string{"format": "pt"}})
	if err != nil {
		t.Fatal(err)
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	if err := os.WriteFile(path, append(append(b, hdr...), data...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ReadNewline reads image_newline (either checkpoint name) as F32, F16 or
// BF16 from the file the index names or any *.safetensors file, and
// refuses a wrong length, dtype or offsets.
func TestReadNewline(t *testing.T) {
	want := []float32{1, -2, 0.5, 3}
	f32 := make([]byte, 0, 16)
	f16 := []byte{0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0x00, 0x42}  // 1, −2, 0.5, 3 in float16
	bf16 := []byte{0x80, 0x3f, 0x00, 0xc0, 0x00, 0x3f, 0x40, 0x40} // the same in bfloat16
	for _, v := range want {
		f32 = binary.LittleEndian.AppendUint32(f32, math.Float32bits(v))
	}
	for _, c := range []struct {
		name, key, dtype, file string
		data                   []byte
		index                  bool
	}{
		{"f32", "image_newline", "F32", "model.safetensors", f32, false},
		{"f16 prefixed", "model.image_newline", "F16", "model-00001-of-00002.safetensors", f16, false},
		{"bf16 via index", "image_newline", "BF16", "model-00002-of-00002.safetensors", bf16, true},
	} {
		dir := t.TempDir()
		writeSafetensors(t, filepath.Join(dir, c.file), c.key, c.dtype, []int{4}, c.data, nil)
		if c.index {
			writeSafetensors(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), "lm_head.weight", "F32", []int{1}, f32[:4], nil)
			idx := `{"weight_map": {"lm_head.weight": "model-00001-of-00002.safetensors", "image_newline": "` + c.file + `"}}`
			if err := os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), []byte(idx), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := llavaonevision.ReadNewline(dir, 4)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %v %v", c.name, got, err)
		}
	}
	for _, c := range []struct {
		name, dtype string
		data        []byte
		offsets     []int
		want        string
	}{
		{"wrong length", "F32", f32[:12], nil, "has 3 values"},
		{"int tensor", "I32", f32, nil, "is I32"},
		{"offsets past the shape", "F32", f32, []int{0, 12}, "offsets"},
	} {
		dir := t.TempDir()
		shape := []int{len(c.data) / 4}
		writeSafetensors(t, filepath.Join(dir, "model.safetensors"), "image_newline", c.dtype, shape, c.data, c.offsets)
		if _, err := llavaonevision.ReadNewline(dir, 4); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := llavaonevision.ReadNewline(t.TempDir(), 4); err == nil || !strings.Contains(err.Error(), "no image_newline") {
		t.Errorf("empty folder: %v", err)
	}
}
