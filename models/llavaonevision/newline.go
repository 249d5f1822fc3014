package llavaonevision

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/vlmrun/vlmrun/internal/ortx"
)

// NewlineKeys are the checkpoint names of the learned image_newline vector
// (transformers' LlavaOnevisionForConditionalGeneration before and after
// the model/ prefix was added).
var NewlineKeys = []string{"image_newline", "model.image_newline"}

// errNoNewline says that no safetensors file of the folder holds
// image_newline.
var errNoNewline = errors.New("no image_newline in the folder's safetensors files")

// maxHeader bounds a safetensors header (the real checkpoints' are tens of
// kilobytes).
const maxHeader = 64 << 20

// ReadNewline returns the image_newline vector (want values) from the
// folder's safetensors checkpoint: the file model.safetensors.index.json
// maps it to, else the first *.safetensors file (in name order) that holds
// it. Only the headers and the vector's bytes are read. F32, F16 and BF16
// tensors are accepted.
func ReadNewline(dir string, want int) ([]float32, error) {
	var files []string
	var index struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json")); err == nil {
		if err := json.Unmarshal(raw, &index); err != nil {
			return nil, fmt.Errorf("llavaonevision: parse %s/model.safetensors.index.json: %w", dir, err)
		}
		for _, k := range NewlineKeys {
			if f, ok := index.WeightMap[k]; ok && filepath.Base(f) == f {
				files = append(files, f)
			}
		}
	}
	all, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return nil, fmt.Errorf("llavaonevision: %w", err)
	}
	slices.Sort(all)
	for _, f := range all {
		files = append(files, filepath.Base(f))
	}
	for _, f := range files {
		v, err := readTensor(filepath.Join(dir, f), NewlineKeys)
		if errors.Is(err, errNoNewline) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(v) != want {
			return nil, fmt.Errorf("llavaonevision: %s: image_newline has %d values, the text hidden size is %d", f, len(v), want)
		}
		return v, nil
	}
	return nil, fmt.Errorf("llavaonevision: %s: %w (looked in %d files)", dir, errNoNewline, len(files))
}

// readTensor reads the first of keys from a safetensors file as float32.
func readTensor(path string, keys []string) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("llavaonevision: %w", err)
	}
	defer f.Close()
	var n uint64
	if err := binary.Read(f, binary.LittleEndian, &n); err != nil {
		return nil, fmt.Errorf("llavaonevision: %s: safetensors header: %w", path, err)
	}
	if n > maxHeader {
		return nil, fmt.Errorf("llavaonevision: %s: safetensors header of %d bytes", path, n)
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return nil, fmt.Errorf("llavaonevision: %s: safetensors header: %w", path, err)
	}
	var tensors map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &tensors); err != nil {
		return nil, fmt.Errorf("llavaonevision: %s: safetensors header: %w", path, err)
	}
	for _, k := range keys {
		raw, ok := tensors[k]
		if !ok {
			continue
		}
		var t struct {
			DType   string   `json:"dtype"`
			Shape   []int64  `json:"shape"`
			Offsets []uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, fmt.Errorf("llavaonevision: %s: tensor %s: %w", path, k, err)
		}
		size := map[string]uint64{"F32": 4, "F16": 2, "BF16": 2}[t.DType]
		count := uint64(1)
		for _, d := range t.Shape {
			if d < 0 || d > math.MaxInt32 {
				return nil, fmt.Errorf("llavaonevision: %s: tensor %s has shape %v", path, k, t.Shape)
			}
			count *= uint64(d)
		}
		switch {
		case size == 0:
			return nil, fmt.Errorf("llavaonevision: %s: tensor %s is %s (want F32, F16 or BF16)", path, k, t.DType)
		case len(t.Offsets) != 2 || t.Offsets[1] < t.Offsets[0] || t.Offsets[1]-t.Offsets[0] != count*size || count > 1<<24:
			return nil, fmt.Errorf("llavaonevision: %s: tensor %s: offsets %v do not hold shape %v of %s", path, k, t.Offsets, t.Shape, t.DType)
		}
		buf := make([]byte, count*size)
		if _, err := f.ReadAt(buf, int64(8+n+t.Offsets[0])); err != nil {
			return nil, fmt.Errorf("llavaonevision: %s: tensor %s: %w", path, k, err)
		}
		out := make([]float32, count)
		switch t.DType {
		case "F32":
			for i := range out {
				out[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
			}
		case "F16":
			ortx.HalfToFloat(out, buf)
		case "BF16":
			for i := range out {
				out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(buf[2*i:])) << 16)
			}
		}
		return out, nil
	}
	return nil, errNoNewline
}
