//go:build !amd64

package pruning

// useAVX2 is false off amd64: dot4 always takes its portable loop.
const useAVX2 = false

// dot4AVX2 exists only so that dot4 compiles everywhere; it is never
// called when useAVX2 is false. It sums like the portable loop.
func dot4AVX2(a, b0, b1, b2, b3 *float32, n int) (s0, s1, s2, s3 float64) {
	return 0, 0, 0, 0
}

// subScaledAVX2 exists only so that subScaled compiles everywhere.
func subScaledAVX2(e, x *float64, f float64, n int) {}
