package encoder

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/internal/ortx"
)

// runHalf runs the session on ins into outs (which the caller destroys),
// the float16 outputs in buffers allocated here for n (images, or tokens
// for a patch graph): onnxruntime_go v1.27 cannot convert a float16 output
// that ORT allocates (it copies one byte per value and leaves a typed nil
// pointer behind). A run that fails on a wrong shape guess is retried
// with the shapes its error reveals (learnHalf), at most once per float16
// output, and the shapes that worked are remembered for n.
func (v *Vision) runHalf(ins, outs []ort.Value, n int) error {
	if err := v.allocHalf(outs, n); err != nil {
		return err
	}
	err := v.sess.Run(ins, outs)
	for try := 0; err != nil && len(v.half) > 0 && try < len(v.half) && v.learnHalf(outs, n, err); try++ {
		destroyAll(outs)
		if err := v.allocHalf(outs, n); err != nil {
			return err
		}
		err = v.sess.Run(ins, outs)
	}
	if err != nil {
		return fmt.Errorf("encoder: %w", err)
	}
	if len(v.half) > 0 {
		v.rememberHalf(outs, n)
	}
	return nil
}

// allocHalf allocates the float16 outputs of a run of n images (the other
// outputs stay nil, for ORT to allocate), in the shapes learned for n, or
// else the declared shape with its first symbolic dimension set to n and
// any other to 1 (learn then corrects a wrong guess).
func (v *Vision) allocHalf(outs []ort.Value, n int) error {
	if len(v.half) == 0 {
		return nil
	}
	v.mu.Lock()
	shapes, ok := v.halfShapes[n]
	v.mu.Unlock()
	for i, name := range v.outs {
		if !v.half[name] {
			continue
		}
		var sh []int64
		if ok {
			sh = shapes[i]
		} else {
			sh = append([]int64(nil), v.halfDims[name]...)
			first := true
			for j, d := range sh {
				if d < 0 {
					sh[j] = 1
					if first {
						sh[j] = int64(n)
					}
					first = false
				}
			}
		}
		size := int64(2)
		for _, d := range sh {
			size *= max(d, 0)
		}
		if size == 0 {
			return fmt.Errorf("encoder: float16 output %s: no buffer for shape %v", name, sh)
		}
		t, err := ortx.Raw(ort.TensorElementDataTypeFloat16, make([]byte, size), sh...)
		if err != nil {
			return fmt.Errorf("encoder: %w", err)
		}
		outs[i] = t
	}
	return nil
}

// requestedShape finds the shape ORT wanted for an output buffer in its
// "OrtValue shape verification failed" error.
var requestedShape = regexp.MustCompile(`Requested shape:\{([0-9,]*)\}`)

// invalidOutput and invalidIndex read ORT's check of an output buffer
// against the inferred shape.
var (
	invalidOutput = regexp.MustCompile(`Got invalid dimensions for output: (\S+) for the following indices`)
	invalidIndex  = regexp.MustCompile(`index: (\d+) Got: \d+ Expected: (\d+)`)
)

// learnHalf records the float16 output shapes for n from the error of a
// run whose buffers had the wrong shape; false when the error is another.
func (v *Vision) learnHalf(outs []ort.Value, n int, runErr error) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	shapes := v.halfShapes[n]
	if shapes == nil {
		shapes = make([][]int64, len(v.outs))
		for i, name := range v.outs {
			if v.half[name] {
				if t, ok := outs[i].(*ort.CustomDataTensor); ok && t != nil {
					shapes[i] = append([]int64(nil), t.GetShape()...)
				}
			}
		}
	}
	// ORT checks an output buffer against the shape it inferred before
	// running ("Got invalid dimensions for output: NAME ... index: i Got: g
	// Expected: e"), or against the computed one while running ("Requested
	// shape:{...}", naming no output).
	if m := invalidOutput.FindStringSubmatch(runErr.Error()); m != nil {
		i := slices.Index(v.outs, m[1])
		if i < 0 || !v.half[m[1]] || shapes[i] == nil {
			return false
		}
		want := slices.Clone(shapes[i])
		for _, d := range invalidIndex.FindAllStringSubmatch(runErr.Error(), -1) {
			k, _ := strconv.Atoi(d[1])
			e, _ := strconv.ParseInt(d[2], 10, 64)
			if k < 0 || k >= len(want) {
				return false
			}
			want[k] = e
		}
		return v.setHalf(n, shapes, i, want)
	}
	m := requestedShape.FindStringSubmatch(runErr.Error())
	if m == nil {
		return false
	}
	var want []int64
	for _, f := range strings.Split(m[1], ",") {
		d, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return false
		}
		want = append(want, d)
	}
	// The message does not name the output: give the shape to the one
	// float16 output whose rank and static dimensions it fits.
	fits := -1
	for i, name := range v.outs {
		if !v.half[name] || len(v.halfDims[name]) != len(want) || equalDims(shapes[i], want) {
			continue
		}
		ok := true
		for j, d := range v.halfDims[name] {
			ok = ok && (d < 0 || d == want[j])
		}
		if ok {
			if fits >= 0 {
				return false // ambiguous
			}
			fits = i
		}
	}
	if fits < 0 {
		return false
	}
	return v.setHalf(n, shapes, fits, want)
}

// setHalf records want as output i's float16 shape for n images (v.mu held);
// false when it is what was already tried.
func (v *Vision) setHalf(n int, shapes [][]int64, i int, want []int64) bool {
	if equalDims(shapes[i], want) {
		return false
	}
	shapes[i] = want
	if v.halfShapes == nil {
		v.halfShapes = map[int][][]int64{}
	}
	v.halfShapes[n] = shapes
	return true
}

func equalDims(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// destroyAll destroys the values of a run, skipping nil ones, including
// the typed nil pointers onnxruntime_go leaves in the slice when it fails
// to convert an output (destroying those crashed: issue 20, defect 9).
func destroyAll(vals []ort.Value) {
	for i, o := range vals {
		if o == nil {
			continue
		}
		if rv := reflect.ValueOf(o); rv.Kind() == reflect.Pointer && rv.IsNil() {
			vals[i] = nil
			continue
		}
		o.Destroy()
		vals[i] = nil
	}
}

// rememberHalf caches the float16 output shapes of a successful run of n.
func (v *Vision) rememberHalf(outs []ort.Value, n int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.halfShapes[n]; ok {
		return
	}
	shapes := make([][]int64, len(v.outs))
	for i, name := range v.outs {
		if t, ok := outs[i].(*ort.CustomDataTensor); ok && v.half[name] {
			shapes[i] = append([]int64(nil), t.GetShape()...)
		}
	}
	if v.halfShapes == nil {
		v.halfShapes = map[int][][]int64{}
	}
	v.halfShapes[n] = shapes
}
