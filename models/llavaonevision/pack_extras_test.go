package llavaonevision

import (
	"errors"
	"testing"

	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pruning"
)

// The encoder extras follow their rows through the Python layout's packing:
// with every raw row's features, attention, keys and pre-projector values
// all set to the row's index, each packed token's extras equal its
// features, for an unpadded layout (100×80 at the twin's sizes: a 2×2 grid,
// rows cut) and for BaseOnly; a pooled map (420×420: 30×30 → 15×15) refuses
// them with pruning.ErrMissingInput and packs the features alone.
func TestPackExtrasFollowRows(t *testing.T) {
	l := &pyLayout{maxPatches: 9}
	unpadded, err := NewAnyres(80, 100, 70, 5, pinpoints(70), 9)
	if err != nil {
		t.Fatal(err)
	}
	pooled, err := NewAnyres(420, 420, 70, 5, pinpoints(70), 9)
	if err != nil {
		t.Fatal(err)
	}
	if unpadded.Pooled() || unpadded.Top == 0 || !pooled.Pooled() {
		t.Fatalf("layouts %+v, %+v", unpadded, pooled)
	}
	for _, c := range []struct {
		name   string
		a      Anyres
		refuse bool
	}{{"unpadded", unpadded, false}, {"base only", BaseOnly(5), false}, {"pooled", pooled, true}} {
		n := (1 + c.a.Crops()) * 25
		v := &pruning.Visual{Features: pruning.Matrix{Rows: n, Cols: 2}, CLSAttn: make([]float32, n),
			Keys: pruning.Matrix{Rows: n, Cols: 3}, PreProj: pruning.Matrix{Rows: n, Cols: 1}}
		for i := 0; i < n; i++ {
			v.Features.Data = append(v.Features.Data, float32(i), -float32(i))
			v.CLSAttn[i] = float32(i)
			v.Keys.Data = append(v.Keys.Data, float32(i), float32(i), float32(i))
			v.PreProj.Data = append(v.PreProj.Data, float32(i))
		}
		got, err := l.pack(models.Pixels{Images: 1 + c.a.Crops(), Layout: c.a}, v)
		if c.refuse {
			if !errors.Is(err, pruning.ErrMissingInput) {
				t.Errorf("%s: %v", c.name, err)
			}
			v.CLSAttn, v.Keys, v.PreProj = nil, pruning.Matrix{}, pruning.Matrix{}
			if got, err := l.pack(models.Pixels{Images: 1 + c.a.Crops(), Layout: c.a}, v); err != nil || got.Features.Rows != c.a.Visual() {
				t.Errorf("%s without extras: %v", c.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		m := c.a.Visual()
		if got.Features.Rows != m || len(got.CLSAttn) != m || got.Keys.Rows != m || got.PreProj.Rows != m || got.Keys.Cols != 3 {
			t.Fatalf("%s: %d features, %d attention, %d keys, %d pre-projector rows; want %d", c.name, got.Features.Rows,
				len(got.CLSAttn), got.Keys.Rows, got.PreProj.Rows, m)
		}
		for k := 0; k < m; k++ {
			row := got.Features.Data[2*k]
			if got.CLSAttn[k] != row || got.Keys.Data[3*k+2] != row || got.PreProj.Data[k] != row {
				t.Fatalf("%s: token %d is row %v, extras %v %v %v", c.name, k, row, got.CLSAttn[k], got.Keys.Data[3*k:3*k+3], got.PreProj.Data[k])
			}
		}
	}
}
