package pruning

import (
	"math"
	"testing"
)

// dot4Portable is dot4's element-order loop, the reference for the
// AVX2 kernel.
func dot4Portable(a, b0, b1, b2, b3 []float32) (s0, s1, s2, s3 float64) {
	for i, x := range a {
		xf := float64(x)
		s0 += xf * float64(b0[i])
		s1 += xf * float64(b1[i])
		s2 += xf * float64(b2[i])
		s3 += xf * float64(b3[i])
	}
	return
}

// TestDot4 checks dot4 (the AVX2 kernel where the CPU has it) against the
// portable loop: within float64 rounding of the differently ordered sums
// for random rows of many lengths (tails included), and exactly for
// small integers, whose sums are exact in any order.
func TestDot4(t *testing.T) {
	if !useAVX2 {
		t.Log("no AVX2+FMA here: dot4 is the portable loop")
	}
	r := rng(11)
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 576, 577, 4096} {
		m := randMat(r, 5, max(n, 1))
		row := func(i int) []float32 { return m.Data[i*m.Cols : i*m.Cols+n] }
		a, b := row(0), [4][]float32{row(1), row(2), row(3), row(4)}
		g0, g1, g2, g3 := dot4(a, b[0], b[1], b[2], b[3])
		w0, w1, w2, w3 := dot4Portable(a, b[0], b[1], b[2], b[3])
		for k, pair := range [4][2]float64{{g0, w0}, {g1, w1}, {g2, w2}, {g3, w3}} {
			// bound: n · max|a_i b_i| · 2^-50, loose but far below float32 noise
			var mag float64
			for i := range a {
				mag = max(mag, math.Abs(float64(a[i])*float64(b[k][i])))
			}
			if d := math.Abs(pair[0] - pair[1]); d > float64(n+1)*mag*0x1p-50 {
				t.Errorf("n=%d row %d: dot4 %v, portable %v (diff %g)", n, k, pair[0], pair[1], d)
			}
		}
	}
	// Small integers: every partial sum is exact, so the results are equal.
	a := make([]float32, 37)
	b := make([][]float32, 4)
	for k := range b {
		b[k] = make([]float32, len(a))
	}
	for i := range a {
		a[i] = float32(i%7 - 3)
		for k := range b {
			b[k][i] = float32((i*(k+2))%11 - 5)
		}
	}
	g0, g1, g2, g3 := dot4(a, b[0], b[1], b[2], b[3])
	w0, w1, w2, w3 := dot4Portable(a, b[0], b[1], b[2], b[3])
	if g0 != w0 || g1 != w1 || g2 != w2 || g3 != w3 {
		t.Errorf("integer rows: dot4 %v %v %v %v, want %v %v %v %v", g0, g1, g2, g3, w0, w1, w2, w3)
	}
	if g0 == 0 && g1 == 0 && g2 == 0 && g3 == 0 {
		t.Errorf("integer rows: all sums zero, test rows are degenerate")
	}
}

// TestSubScaled checks subScaled bit for bit against a loop whose
// float64() conversion forces each product to be rounded (no fusion).
func TestSubScaled(t *testing.T) {
	r := rng(12)
	for _, n := range []int{0, 1, 3, 4, 5, 8, 31, 1000} {
		m := randMat(r, 2, max(n, 1))
		e := make([]float64, n)
		x := make([]float64, n)
		for i := range n {
			e[i], x[i] = float64(m.Data[i])*1.37, float64(m.Data[m.Cols+i])/3
		}
		want := make([]float64, n)
		const f = -0.7310585786300049
		for i := range n {
			want[i] = e[i] - float64(f*x[i])
		}
		subScaled(e, x, f)
		for i := range n {
			if math.Float64bits(e[i]) != math.Float64bits(want[i]) {
				t.Fatalf("n=%d element %d: %v, want %v", n, i, e[i], want[i])
			}
		}
	}
}
