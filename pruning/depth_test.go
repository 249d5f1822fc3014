package pruning

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// FitDepth scales PyramidDrop's default stages to the decoder's depth and
// refuses every other schedule that lies past the last layer (issue 20,
// defect 10: pdrop's 8/16/24 on a 4-layer decoder silently did nothing).
func TestFitDepth(t *testing.T) {
	parse := func(spec string) InDecoder {
		t.Helper()
		m, err := Parse(spec)
		if err != nil || m.In == nil {
			t.Fatalf("%s: %v", spec, err)
		}
		return m.In
	}
	for _, c := range []struct {
		spec   string
		layers int
		want   []int  // boundaries after fitting
		err    string // substring of the refusal
	}{
		{"pdrop", 4, []int{0, 1, 2}, ""}, // stages start at layers 1/2/3
		{"pdrop", 32, []int{7, 15, 23}, ""},
		{"pdrop", 30, []int{6, 14, 21}, ""},
		{"pdrop", 3, nil, "at least 4 layers"},
		{"pdrop:ratios=0.5/0.25", 6, []int{1, 3}, ""},
		{"pdrop:layers=8/16/24", 4, nil, "prunes after layer 7"},
		{"pdrop:layers=2/3/4", 4, []int{1, 2, 3}, ""},
		{"pdrop:layers=8/16/24", 32, []int{7, 15, 23}, ""},
		{"pdrop:layers=1/2/3", 4, []int{0, 1, 2}, ""},
		{"fastv", 4, []int{1}, ""},
		{"fastv:k=3", 4, []int{2}, ""},
		{"fastv:k=4", 4, nil, "only after the last layer"},
		{"fastv:k=5", 4, nil, "k=K with 1 <= K <= 3"},
		{"fastv", 2, nil, "only after the last layer"},
		{"fastv", 1, nil, "prunes after layer 1"},
		{"adaptive-fastv:k=9", 8, nil, "adaptive-fastv"},
		{"dart", 4, []int{1}, ""},
		{"dart:k=5", 4, nil, "dart"},
		{"sparsevlm", 4, nil, "layers= within 0..3"},
		{"sparsevlm:layers=1/2/3", 4, []int{1, 2, 3}, ""}, // 3: allowed, prunes nothing
		{"sparsevlm:layers=3", 4, nil, "only after the last layer"},
		{"sparsevlm", 32, []int{2, 6, 15}, ""},
		{"sparsevlm:layers=1/2", 4, []int{1, 2}, ""},
		{"aim", 4, nil, "from layer 14 to 21"},
		{"aim:start=3", 4, nil, "only after the last layer"},
		{"aim", 32, []int{14, 15, 16, 17, 18, 19, 20, 21}, ""},
		{"aim:start=1,step=0.5", 4, []int{1, 2}, ""},
		{"aim:start=1,step=0.25", 4, []int{1, 2, 3, 4}, ""}, // ends with the decoder
		{"aim:start=1,step=0.34", 4, []int{1, 2, 3}, ""},
	} {
		got, err := FitDepth(parse(c.spec), c.layers)
		if c.err != "" {
			if err == nil || !errors.Is(err, ErrDepth) || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s on %d layers: %v, want ErrDepth mentioning %q", c.spec, c.layers, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s on %d layers: %v", c.spec, c.layers, err)
			continue
		}
		if !slices.Equal(got.Layers(), c.want) {
			t.Errorf("%s on %d layers: boundaries %v, want %v", c.spec, c.layers, got.Layers(), c.want)
		}
	}
}
