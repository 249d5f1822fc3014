// Package visref loads the reference values of the vision-encoder extras
// that scripts/twins/vision_extras.py (LLaVA, Qwen2-VL) and
// vision_extras_onevision.py (LLaVA-OneVision) compute in torch from the
// twins' modules (testdata/vision-extras.json), for the tests that
// check vlmrun's instrumented vision graphs against them.
package visref

import (
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/vlmrun/vlmrun/pruning"
)

// Ref is one twin's reference: the input's shape and, computed from the
// input Pattern gives, the attention score per token, the pre-projector
// features, the head-mean keys and the projected features.
type Ref struct {
	PixelShape   []int       `json:"pixel_shape"`
	Grid         []int       `json:"grid_thw"`
	Attention    []float64   `json:"attention"`
	PreProjector [][]float64 `json:"pre_projector"`
	Keys         [][]float64 `json:"keys"`
	Features     [][]float64 `json:"features"`
}

// Load reads a vision-extras.json.
func Load(path string) (*Ref, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("visref: %w (regenerate with scripts/twins/vision_extras.py)", err)
	}
	var r Ref
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("visref: parse %s: %w", path, err)
	}
	return &r, nil
}

// Pattern returns the deterministic input the references were computed
// from: x_i = ((7919·i + 13) mod 251) / 50 − 2.5 in float64, as float32.
func Pattern(n int) []float32 {
	px := make([]float32, n)
	for i := range px {
		px[i] = float32(float64((i*7919+13)%251)/50.0 - 2.5)
	}
	return px
}

// Matrix converts reference rows to a pruning.Matrix.
func Matrix(rows [][]float64) pruning.Matrix {
	m := pruning.Matrix{Rows: len(rows)}
	if len(rows) > 0 {
		m.Cols = len(rows[0])
	}
	for _, r := range rows {
		for _, v := range r {
			m.Data = append(m.Data, float32(v))
		}
	}
	return m
}

// Float32s converts a reference vector.
func Float32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// Diff returns the largest difference between got and want relative to
// max(1, |want|), or +Inf when their lengths differ.
func Diff(got []float32, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range got {
		w := float64(want[i])
		d = max(d, math.Abs(float64(got[i])-w)/max(1, math.Abs(w)))
	}
	return d
}
