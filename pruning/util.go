package pruning

import (
	"cmp"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
)

// normEps: a vector whose L2 norm is below normEps is treated as zero.
const normEps = 1e-12

// allFinite reports whether no value is NaN or ±Inf (exponent bits all
// ones), testing the bits so that the check costs one AND per value.
func allFinite(xs []float32) bool {
	const exp = 0x7f800000
	i := 0
	for ; i+4 <= len(xs); i += 4 {
		a := math.Float32bits(xs[i]) & exp
		b := math.Float32bits(xs[i+1]) & exp
		c := math.Float32bits(xs[i+2]) & exp
		d := math.Float32bits(xs[i+3]) & exp
		if a == exp || b == exp || c == exp || d == exp {
			return false
		}
	}
	for ; i < len(xs); i++ {
		if math.Float32bits(xs[i])&exp == exp {
			return false
		}
	}
	return true
}

// checkMatrix validates shape and values of m. rows < 0 accepts any count.
func checkMatrix(method, what string, m Matrix, rows int) error {
	if m.Rows < 0 || m.Cols < 1 || (rows >= 0 && m.Rows != rows) {
		want := ""
		if rows >= 0 {
			want = fmt.Sprintf(" (want %d rows)", rows)
		}
		return fmt.Errorf("pruning: %s: %s is %d×%d%s: %w", method, what, m.Rows, m.Cols, want, ErrBadInput)
	}
	if m.Rows > 0 && m.Cols > math.MaxInt/m.Rows {
		return fmt.Errorf("pruning: %s: %s is too large: %w", method, what, ErrBadInput)
	}
	need := m.Rows * m.Cols
	if len(m.Data) < need {
		return fmt.Errorf("pruning: %s: %s has %d values, want %d×%d: %w", method, what, len(m.Data), m.Rows, m.Cols, ErrBadInput)
	}
	if !allFinite(m.Data[:need]) {
		return fmt.Errorf("pruning: %s: %s holds a NaN or infinite value: %w", method, what, ErrBadInput)
	}
	return nil
}

func checkVector(method, what string, v []float32, n int) error {
	if len(v) != n {
		return fmt.Errorf("pruning: %s: %s has length %d, want %d: %w", method, what, len(v), n, ErrBadInput)
	}
	if !allFinite(v) {
		return fmt.Errorf("pruning: %s: %s holds a NaN or infinite value: %w", method, what, ErrBadInput)
	}
	return nil
}

// dot returns Σ a[i]·b[i] with exact float32 products summed in float64.
func dot(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += float64(a[i]) * float64(b[i])
		s1 += float64(a[i+1]) * float64(b[i+1])
		s2 += float64(a[i+2]) * float64(b[i+2])
		s3 += float64(a[i+3]) * float64(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += float64(a[i]) * float64(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// dot4 returns the dot products of a with four rows at once (a is loaded
// once per element): exact float32 products summed in float64. On amd64
// with AVX2 and FMA the first len(a)&^7 elements go through dot_amd64.s,
// which sums in eight lanes per row; otherwise, and for the tail, the sums
// run in element order. The order is fixed for a given machine, so results
// are deterministic there; between machines they may differ in the last
// bits of the float64 sums.
func dot4(a, b0, b1, b2, b3 []float32) (s0, s1, s2, s3 float64) {
	n := len(a)
	b0, b1, b2, b3 = b0[:n], b1[:n], b2[:n], b3[:n]
	i := 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		s0, s1, s2, s3 = dot4AVX2(&a[0], &b0[0], &b1[0], &b2[0], &b3[0], i)
	}
	for ; i < n; i++ {
		xf := float64(a[i])
		s0 += xf * float64(b0[i])
		s1 += xf * float64(b1[i])
		s2 += xf * float64(b2[i])
		s3 += xf * float64(b3[i])
	}
	return
}

// subScaled sets e[i] -= f·x[i] for every i, rounding each product and
// difference as the plain loop does (the AVX2 path multiplies, then
// subtracts; it does not fuse).
func subScaled(e, x []float64, f float64) {
	x = x[:len(e)]
	i := 0
	if useAVX2 && len(e) >= 4 {
		i = len(e) &^ 3
		subScaledAVX2(&e[0], &x[0], f, i)
	}
	for ; i < len(e); i++ {
		e[i] -= f * x[i]
	}
}

// dotRows sets out[j] = a · rows[j] for the rows of the row-major matrix
// data (cols wide), j in [0, len(out)).
func dotRows(a, data []float32, cols int, out []float64) {
	j := 0
	for ; j+4 <= len(out); j += 4 {
		o := j * cols
		out[j], out[j+1], out[j+2], out[j+3] = dot4(a, data[o:o+cols], data[o+cols:o+2*cols],
			data[o+2*cols:o+3*cols], data[o+3*cols:o+4*cols])
	}
	for ; j < len(out); j++ {
		out[j] = dot(a, data[j*cols:(j+1)*cols])
	}
}

// norm2 returns the L2 norm of x, in float64.
func norm2(x []float32) float64 { return math.Sqrt(dot(x, x)) }

// normalizeRows returns a copy of m's rows scaled to unit L2 norm (computed
// in float64); rows with norm < normEps become zero rows.
func normalizeRows(m Matrix) []float32 {
	out := make([]float32, m.Rows*m.Cols)
	for i := 0; i < m.Rows; i++ {
		normalizeInto(out[i*m.Cols:(i+1)*m.Cols], m.Row(i))
	}
	return out
}

func normalizeInto(dst, src []float32) {
	n := norm2(src)
	if n < normEps {
		clear(dst)
		return
	}
	inv := 1 / n
	for k, x := range src {
		dst[k] = float32(float64(x) * inv)
	}
}

// cosine returns the cosine similarity of a and b (0 if either is zero).
func cosine(a, b []float32) float64 {
	na, nb := norm2(a), norm2(b)
	if na < normEps || nb < normEps {
		return 0
	}
	return dot(a, b) / (na * nb)
}

// cmpDesc orders by descending score, then ascending index; NaN sorts last.
func cmpDesc(s []float64) func(a, b int) int {
	key := func(x float64) float64 {
		if x != x {
			return math.Inf(-1)
		}
		return x
	}
	return func(a, b int) int {
		if c := cmp.Compare(key(s[b]), key(s[a])); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	}
}

// orderDesc returns 0..len(s)-1 sorted by descending score, ties by lowest
// index.
func orderDesc(s []float64) []int {
	idx := seq(len(s))
	slices.SortFunc(idx, cmpDesc(s))
	return idx
}

// topK returns the indices of the k largest scores (ties: lowest index),
// sorted ascending.
func topK(s []float64, k int) []int {
	k = max(0, min(k, len(s)))
	sel := orderDesc(s)[:k]
	slices.Sort(sel)
	return sel
}

// argmaxFree returns the first index of the largest s[i] with !taken[i]
// (NaN never wins), or -1 when every index is taken.
func argmaxFree(s []float64, taken []bool) int {
	best := -1
	for i, x := range s {
		if taken[i] || x != x {
			continue
		}
		if best < 0 || x > s[best] {
			best = i
		}
	}
	if best < 0 { // only NaN left: take the first free index
		for i := range s {
			if !taken[i] {
				return i
			}
		}
	}
	return best
}

func seq(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func to64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// parallelFor runs fn over [0, n) split into contiguous chunks on up to
// GOMAXPROCS goroutines; work below minWork items runs inline. fn must only
// write to state owned by its chunk, so results do not depend on scheduling.
func parallelFor(n, minWork int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers <= 1 || n < 2*minWork {
		fn(0, n)
		return
	}
	workers = min(workers, n/minWork)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// selectResult builds the Result of a selection (idx ascending).
func selectResult(v *Visual, idx []int) Result {
	return Result{Source: idx, Features: Gather(v.Features, idx), Positions: Renumber}
}

// identityResult returns all tokens unchanged.
func identityResult(v *Visual) Result {
	return Result{Source: seq(v.Features.Rows), Features: v.Features, Positions: Renumber}
}

// checkVisual validates the common inputs of a pre-decoder method and keep.
// It returns N.
func checkVisual(m interface {
	Name() string
	Needs() Need
}, v *Visual, keep int) (int, error) {
	name := m.Name()
	if v == nil {
		return 0, fmt.Errorf("pruning: %s: nil visual input: %w", name, ErrBadInput)
	}
	if err := Check(m, v.Has()); err != nil {
		return 0, err
	}
	n := v.Features.Rows
	if n < 1 {
		return 0, fmt.Errorf("pruning: %s: no visual tokens: %w", name, ErrBadInput)
	}
	f := v.Features
	if g, ok := m.(interface{ featureValuesUnread() bool }); ok && g.featureValuesUnread() {
		f.Rows = 0 // shape only: this method copies or averages the rows without scoring them
		if v.Features.Cols < 1 || len(v.Features.Data) < n*v.Features.Cols || n > math.MaxInt/v.Features.Cols {
			return 0, fmt.Errorf("pruning: %s: features are %d×%d with %d values: %w", name, n, v.Features.Cols, len(v.Features.Data), ErrBadInput)
		}
	}
	if err := checkMatrix(name, "features", f, f.Rows); err != nil {
		return 0, err
	}
	if keep < 1 || keep > n {
		return 0, fmt.Errorf("pruning: %s: keep %d out of range [1, %d]: %w", name, keep, n, ErrBudget)
	}
	need := m.Needs()
	if need&NeedPreProj != 0 {
		if err := checkMatrix(name, "pre-projector features", v.PreProj, n); err != nil {
			return 0, err
		}
	}
	if need&NeedCLSAttn != 0 {
		if err := checkVector(name, "CLS attention", v.CLSAttn, n); err != nil {
			return 0, err
		}
	}
	if need&NeedKeys != 0 {
		if err := checkMatrix(name, "encoder keys", v.Keys, n); err != nil {
			return 0, err
		}
	}
	if need&NeedText != 0 {
		if err := checkMatrix(name, "text embeddings", v.Text, -1); err != nil {
			return 0, err
		}
		if v.Text.Cols != v.Features.Cols {
			return 0, fmt.Errorf("pruning: %s: text embeddings are %d wide, features %d: %w", name, v.Text.Cols, v.Features.Cols, ErrBadInput)
		}
	}
	return n, nil
}

// preProjUsable reports whether v.PreProj can be merged alongside the
// features (N rows, finite). Merging methods fill Result.PreProj only then;
// a pre-projector tensor of another length (e.g. before a patch merger) is
// ignored.
func preProjUsable(v *Visual) bool {
	return v.PreProj.Rows > 0 && v.PreProj.Rows == v.Features.Rows &&
		checkMatrix("", "", v.PreProj, v.Features.Rows) == nil
}

// grid returns the token grid of v, or an error when it is unknown or does
// not match N.
func grid(name string, v *Visual) (h, w int, err error) {
	n := v.Features.Rows
	if v.GridH < 1 || v.GridW < 1 || v.GridH > n || v.GridW > n || v.GridH*v.GridW != n {
		return 0, 0, fmt.Errorf("pruning: %s: token grid %d×%d does not match %d tokens: %w", name, v.GridH, v.GridW, n, ErrBadInput)
	}
	return v.GridH, v.GridW, nil
}
