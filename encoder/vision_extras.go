package encoder

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/pruning"
)

// readExtras reads the extra outputs of a run into vis (whose features
// are set), their rows mapped to the feature rows by v.g.Rows.
func (v *Vision) readExtras(vis *pruning.Visual, outs []ort.Value) error {
	nr := vis.Features.Rows
	for i, name := range v.outs {
		if name == v.g.Features {
			continue
		}
		data, sh, err := ortx.Floats(outs[i], name, v.half[name])
		if err != nil {
			return fmt.Errorf("encoder: %w", err)
		}
		switch name {
		case v.g.PreProj, v.g.Keys:
			if len(sh) != 3 || sh[0] != 1 {
				return fmt.Errorf("encoder: output %s has shape %v, want (1, N, D)", name, sh)
			}
			skip, g, err := v.g.Rows.align(name, int(sh[1]), nr)
			if err != nil {
				return err
			}
			d := int(sh[2])
			m := pruning.Matrix{Rows: nr, Cols: g * d, Data: data[skip*d : (skip+nr*g)*d]}
			if name == v.g.PreProj {
				vis.PreProj = m // a merged token's rows side by side, as a patch merger reads them
			} else {
				vis.Keys = meanRows(m, g) // a merged token's keys averaged
			}
		case v.g.CLSAttn:
			if len(sh) != 2 || sh[0] != 1 {
				return fmt.Errorf("encoder: output %s has shape %v, want (1, N)", name, sh)
			}
			skip, g, err := v.g.Rows.align(name, int(sh[1]), nr)
			if err != nil {
				return err
			}
			vis.CLSAttn = meanRows(pruning.Matrix{Rows: nr, Cols: g, Data: data[skip : skip+nr*g]}, g).Data
		}
	}
	return nil
}

// ExtraRows says how the rows of a vision graph's extra outputs (attention,
// pre-projector features, keys) map to its feature rows. The zero value:
// one row each.
type ExtraRows struct {
	// CLSFirst: row 0 is the CLS token, which the features may leave out
	// (LLaVA's "default" strategy as Python counts it); it is then
	// dropped.
	CLSFirst bool
	// Group > 1: each feature row stands for Group consecutive extra rows
	// (a patch merger's m×m patches, Qwen2-VL): their attention and keys
	// are averaged, their pre-projector rows put side by side.
	Group int
}

// align returns the rows to skip and the group size for an extra output
// of rows rows and n feature rows.
func (r ExtraRows) align(name string, rows, n int) (skip, group int, err error) {
	g := max(r.Group, 1)
	switch {
	case rows == n*g:
		return 0, g, nil
	case r.CLSFirst && rows == n*g+1:
		return 1, g, nil
	}
	want := fmt.Sprint(n * g)
	if r.CLSFirst {
		want += " or, with the CLS row, " + fmt.Sprint(n*g+1)
	}
	return 0, 0, fmt.Errorf("encoder: output %s has %d rows for %d features, want %s", name, rows, n, want)
}

// meanRows averages each row's g consecutive blocks of m.Cols/g values.
func meanRows(m pruning.Matrix, g int) pruning.Matrix {
	if g <= 1 {
		return m
	}
	d := m.Cols / g
	out := pruning.Matrix{Rows: m.Rows, Cols: d, Data: make([]float32, m.Rows*d)}
	for i := range m.Rows {
		row, dst := m.Row(i), out.Row(i)
		for k := range d {
			var s float64
			for j := range g {
				s += float64(row[j*d+k])
			}
			dst[k] = float32(s / float64(g))
		}
	}
	return out
}
