package pruning

import (
	"slices"
	"testing"
)

// TestKernelsSameSelections runs the O(N²·D) methods with the AVX2 kernels
// and with the portable loops on the same random inputs and requires the
// same selected tokens: the kernels change only the order of float64 sums.
func TestKernelsSameSelections(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2+FMA on this CPU: only the portable loops exist")
	}
	defer func() { useAVX2 = true }()
	for _, name := range []string{"divprune", "cdpruner", "tome", "todre", "dart-pre"} {
		m, err := Parse(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{37, 576} {
			v := benchVisual(n, 77) // 77: the kernels' 8-wide body plus a tail
			useAVX2 = true
			fast, err := m.Pre.Apply(v, n/4)
			if err != nil {
				t.Fatal(err)
			}
			useAVX2 = false
			slow, err := m.Pre.Apply(v, n/4)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(fast.Source, slow.Source) {
				t.Errorf("%s N=%d: AVX2 picks %v, portable %v", name, n, fast.Source, slow.Source)
			}
		}
	}
}
