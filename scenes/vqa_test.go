package scenes

import (
	"strings"
	"testing"
)

func TestVQAGrammar(t *testing.T) {
	answers := VQAAnswers()
	types := map[string]int{}
	for _, seq := range []bool{false, true} {
		for i := 0; i < 2000; i++ {
			it := GenerateVQA(1000, i, seq)
			types[it.Type]++
			if !answers[it.Answer] {
				t.Fatalf("item %d: answer %q outside the vocabulary", i, it.Answer)
			}
			if !strings.HasSuffix(it.Question, " ?") {
				t.Fatalf("item %d: question %q", i, it.Question)
			}
			if seq != (len(it.Frames) >= 2) || len(it.Frames) > VQAMaxFrames || len(it.Relevant) != len(it.Frames) {
				t.Fatalf("item %d: %d frames, %d relevant lists", i, len(it.Frames), len(it.Relevant))
			}
			for _, f := range it.Frames {
				if len(f.Objects) < 1 || len(f.Objects) > VQAMaxObjects {
					t.Fatalf("item %d: %d objects", i, len(f.Objects))
				}
				cells, pairs := map[int]bool{}, map[string]bool{}
				for _, o := range f.Objects {
					if cells[o.Cell] || pairs[objName(o)] || o.Cell < 0 || o.Cell >= VQAGrid*VQAGrid {
						t.Fatalf("item %d: duplicate cell or object %+v", i, o)
					}
					cells[o.Cell], pairs[objName(o)] = true, true
					if o.FX-o.Half < 0 || o.FX+o.Half > 1 || o.FY-o.Half < 0 || o.FY+o.Half > 1 {
						t.Fatalf("item %d: object outside its cell %+v", i, o)
					}
				}
			}
			// answers that name an object point at a relevant one
			if it.Answer == "yes" || (it.Sequence && it.Answer != "nothing" && it.Type != "count_last") {
				n := 0
				for _, r := range it.Relevant {
					n += len(r)
				}
				if n == 0 {
					t.Fatalf("item %d (%s): no relevant objects for %q", i, it.Type, it.Answer)
				}
			}
		}
	}
	for _, ty := range VQASingleTypes {
		if types[ty] != 2000/len(VQASingleTypes) {
			t.Errorf("type %s: %d items", ty, types[ty])
		}
	}
	for _, ty := range VQASequenceTypes {
		if types[ty] != 2000/len(VQASequenceTypes) {
			t.Errorf("type %s: %d items", ty, types[ty])
		}
	}
}

func TestVQADeterministicAndConsistent(t *testing.T) {
	a, b := GenerateVQA(7, 3, true), GenerateVQA(7, 3, true)
	if a.Question != b.Question || a.Answer != b.Answer || len(a.Frames) != len(b.Frames) {
		t.Fatal("not deterministic")
	}
	// a sequence's event shows in its frames
	for i := 0; i < 400; i++ {
		it := GenerateVQA(1000, i, true)
		first, last := it.Frames[0].Objects, it.Frames[len(it.Frames)-1].Objects
		names := func(objs []Object) map[string]int {
			m := map[string]int{}
			for _, o := range objs {
				m[objName(o)] = o.Cell
			}
			return m
		}
		fn, ln := names(first), names(last)
		switch it.Type {
		case "appeared":
			if _, ok := fn[it.Answer]; it.Answer != "nothing" && ok {
				t.Fatalf("item %d: %q was there from the start", i, it.Answer)
			}
		case "disappeared":
			if _, ok := ln[it.Answer]; it.Answer != "nothing" && ok {
				t.Fatalf("item %d: %q is still there", i, it.Answer)
			}
		case "moved":
			if it.Answer != "nothing" && fn[it.Answer] == ln[it.Answer] {
				t.Fatalf("item %d: %q did not move", i, it.Answer)
			}
		}
	}
}

func TestVQARenderCoverage(t *testing.T) {
	it := GenerateVQA(1000, 5, false)
	f := it.Frames[0]
	img := f.Render(96)
	if img.Bounds().Dx() != 96 {
		t.Fatal("size")
	}
	all := f.Coverage(8, nil)
	sum := 0.0
	for _, v := range all {
		sum += v
	}
	area := 0.0
	for _, o := range f.Objects {
		area += shapeArea(o.Shape, o.Half)
	}
	// coverage sums to the objects' area in patch units (a cell is 2×2 patches)
	if d := sum - area*4; d > 1e-6 || d < -1e-6 {
		t.Fatalf("coverage sum %v, want %v", sum, area*4)
	}
	rel := f.Coverage(8, it.Relevant[0])
	for i := range rel {
		if rel[i] > all[i]+1e-12 {
			t.Fatal("relevant coverage above total coverage")
		}
	}
}
