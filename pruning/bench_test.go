package pruning

import (
	"fmt"
	"testing"
)

// Selection overhead per method (issue 4: N=576, D=576 and N=2304; also
// N=1088, SmolVLM-256M's visual tokens at 2048 px), keep = N/4. Run briefly: go test ./pruning -run '^$' -bench . -benchtime=200ms

func benchVisual(n, d int) *Visual {
	r := rng(uint64(n))
	h, w := gridOf(n)
	return &Visual{Features: randMat(r, n, d), Keys: randMat(r, n, 64), Text: randMat(r, 32, d),
		CLSAttn: softmaxRow(r, n, 3), GridH: h, GridW: w}
}

func BenchmarkPre(b *testing.B) {
	for _, info := range Methods() {
		if info.Stage != PreDecoderStage || info.Name == "none" {
			continue
		}
		m, _ := Parse(info.Name)
		for _, n := range []int{576, 1088, 2304} { // 1,088: SmolVLM's 4×4+global
			v := benchVisual(n, 576)
			b.Run(fmt.Sprintf("%s/N=%d", info.Name, n), func(b *testing.B) {
				for b.Loop() {
					if _, err := m.Pre.Apply(v, n/4); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkIn(b *testing.B) {
	for _, info := range Methods() {
		if info.Stage != InDecoderStage {
			continue
		}
		m, _ := Parse(info.Name)
		in := m.In
		if bm, ok := in.(Budgeted); ok {
			in, _ = bm.WithBudget(KeepRatio(0.25))
		}
		for _, n := range []int{576, 2304} {
			s := newSeq(uint64(n), 32, n, 32, 576, false)
			s.keys = randMat(rng(3), s.hidden.Rows, 576)
			bd := s.boundary(in.Layers()[0], rng(4), false)
			bd.Attn = attnRows(rng(5), 16, s.hidden.Rows, false)
			if rr, ok := in.(RowRequester); ok {
				rows, _ := rr.QueryRows(bd)
				for _, q := range rows {
					bd.Queries = append(bd.Queries, q)
					bd.QueryAttn = append(bd.QueryAttn, bd.Attn)
				}
			}
			b.Run(fmt.Sprintf("%s/N=%d", info.Name, n), func(b *testing.B) {
				for b.Loop() {
					var err error
					if rr, ok := in.(RowRequester); ok {
						_, err = rr.QueryRows(bd)
					}
					if rc, ok := in.(Recycler); ok {
						_, _, err = rc.SelectRecycle(bd, n)
					} else {
						_, err = in.Select(bd, n)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkDot(b *testing.B) {
	r := rng(1)
	x, y := randMat(r, 1, 4096).Data, randMat(r, 64, 4096).Data
	out := make([]float64, 64)
	b.SetBytes(64 * 4096 * 4)
	for b.Loop() {
		dotRows(x, y, 4096, out)
	}
}
