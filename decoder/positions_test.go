package decoder

import (
	"slices"
	"testing"
)

func TestPosIDs(t *testing.T) {
	// M-RoPE: 5 tokens, rows t, h, w.
	q, err := newPosIDs(Input{PosDims: 3, Positions: []int64{
		0, 1, 1, 1, 3,
		0, 1, 1, 2, 3,
		0, 1, 2, 1, 3}})
	if err != nil {
		t.Fatal(err)
	}
	if q.len() != 5 || !slices.Equal(q.shape(), []int64{3, 1, 5}) {
		t.Fatalf("len %d shape %v", q.len(), q.shape())
	}
	g := q.gather([]int{0, 2, 4})
	if want := []int64{0, 1, 3, 0, 1, 3, 0, 2, 3}; !slices.Equal(g.p, want) {
		t.Errorf("gather: %v, want %v", g.p, want)
	}
	if a := g.appendToken(4); !slices.Equal(a.p, []int64{0, 1, 3, 4, 0, 1, 3, 4, 0, 2, 3, 4}) {
		t.Errorf("appendToken: %v", a.p)
	}
	if s := single(3, 7); !slices.Equal(s.p, []int64{7, 7, 7}) || !slices.Equal(s.shape(), []int64{3, 1, 1}) {
		t.Errorf("single: %v %v", s.p, s.shape())
	}
	one, _ := newPosIDs(Input{Positions: []int64{4, 5, 6}})
	if !slices.Equal(one.shape(), []int64{1, 3}) || !slices.Equal(one.gather([]int{2}).p, []int64{6}) {
		t.Errorf("one row: %v", one.shape())
	}
	if _, err := newPosIDs(Input{PosDims: 2, Positions: []int64{1, 2}}); err == nil {
		t.Error("2 position rows accepted")
	}
}
