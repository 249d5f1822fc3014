package pruning_test

import (
	"fmt"

	"github.com/vlmrun/vlmrun/pruning"
)

// A runner parses --prune and --keep, refuses missing inputs, and applies
// a pre-decoder method to the encoder output.
func ExampleParse() {
	m, err := pruning.Parse("divprune")
	if err != nil {
		panic(err)
	}
	b, _ := pruning.ParseBudget("0.5")
	v := &pruning.Visual{Features: pruning.Matrix{Rows: 4, Cols: 2,
		Data: []float32{1, 0, 0.9, 0.1, 0, 1, -1, 0}}}
	if err := pruning.Check(m.Pre, v.Has()); err != nil {
		panic(err)
	}
	keep, _ := b.Count(v.Features.Rows)
	res, _ := m.Pre.Apply(v, keep)
	fmt.Println(m.Info.Stage, m.Info.Needs, res.Source, res.Positions)

	_, err = pruning.Parse("fastv:q=1")
	fmt.Println(err)
	// Output:
	// pre-decoder features [0 3] renumber
	// pruning: fastv: unknown parameter "q" (valid: k, r)
}

// An in-decoder method: the runner asks for the boundaries, builds a
// Boundary there and keeps the returned visual tokens (text is never
// dropped), numbering positions by the method's policy.
func ExampleInDecoder() {
	m, _ := pruning.Parse("fastv:k=2,r=0.5")
	fmt.Println(m.In.Layers(), m.In.Positions())
	b := &pruning.Boundary{
		Layer: 1,
		Attn: pruning.Matrix{Rows: 1, Cols: 6,
			Data: []float32{0.4, 0.1, 0.05, 0.2, 0.05, 0.2}},
		ImageIdx:  []int{1, 2, 3, 4},
		LastToken: 5,
	}
	keep, _ := m.In.Select(b, 4)
	rows, _ := pruning.KeptRows(6, b.ImageIdx, keep)
	pos, _ := pruning.PositionIDs(m.In.Positions(), []int{0, 1, 2, 3, 4, 5}, rows)
	fmt.Println(keep, rows, pos, pruning.DecodePosition(m.In.Positions(), 6, len(rows), 0))
	// Output:
	// [1] original
	// [0 2] [0 1 3 5] [0 1 3 5] 6
}

func ExampleMethods() {
	for _, info := range pruning.Methods()[:2] {
		fmt.Printf("%s (%s; needs %s): %s\n", info.Name, info.Stage, info.Needs, info.Doc)
		for _, p := range info.Params {
			fmt.Printf("  %s=%s  %s\n", p.Name, p.Default, p.Doc)
		}
	}
	// Output:
	// none (pre-decoder; needs features): keep every visual token (no pruning)
	// random (pre-decoder; needs features): uniformly random tokens, seeded (baseline)
	//   seed=0  seed of the splitmix64 generator
}
