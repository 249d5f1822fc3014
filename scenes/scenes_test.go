package scenes

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestGenerateDeterministic(t *testing.T) {
	for i := range 50 {
		a, b := Generate(1000, i), Generate(1000, i)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("scene %d differs between calls:\n%+v\n%+v", i, a, b)
		}
	}
	if reflect.DeepEqual(Generate(1000, 0), Generate(1000, 1)) {
		t.Error("scenes 0 and 1 of seed 1000 are equal")
	}
	if reflect.DeepEqual(Generate(1000, 0), Generate(1001, 0)) {
		t.Error("scene 0 of seeds 1000 and 1001 are equal")
	}
}

// TestGolden pins the streams so a change of generator or toolchain shows.
func TestGolden(t *testing.T) {
	want := []string{
		"a large purple cross in the center , a large orange cross at the bottom and a small purple circle at the bottom right",
		"a large green triangle at the top",
		"a large purple circle at the top right and a small yellow circle in the center",
	}
	for i, w := range want {
		if got := Generate(1000, i).Caption(); got != w {
			t.Errorf("Generate(1000, %d).Caption() = %q, want %q", i, got, w)
		}
	}
}

func colourBase(name string) ([3]uint8, bool) {
	for _, c := range Colours {
		if c.Name == name {
			return c.RGB, true
		}
	}
	return [3]uint8{}, false
}

func sizeRange(name string) (SizeRange, bool) {
	for _, s := range Sizes {
		if s.Name == name {
			return s, true
		}
	}
	return SizeRange{}, false
}

func TestGenerateInvariants(t *testing.T) {
	const n = 5000
	counts := map[int]int{}
	seen := map[string]int{}
	for i := range n {
		s := Generate(1000, i)
		if len(s.Objects) < 1 || len(s.Objects) > MaxObjects {
			t.Fatalf("scene %d has %d objects", i, len(s.Objects))
		}
		counts[len(s.Objects)]++
		for k, o := range s.Objects {
			if o.Cell < 0 || o.Cell >= Grid*Grid {
				t.Fatalf("scene %d object %d: cell %d", i, k, o.Cell)
			}
			if k > 0 && o.Cell <= s.Objects[k-1].Cell {
				t.Fatalf("scene %d: cells not strictly ascending: %+v", i, s.Objects)
			}
			if shapeIndex(o.Shape) < 0 {
				t.Fatalf("scene %d object %d: shape %q", i, k, o.Shape)
			}
			base, ok := colourBase(o.Colour)
			if !ok {
				t.Fatalf("scene %d object %d: colour %q", i, k, o.Colour)
			}
			for c := range 3 {
				if d := int(o.RGB[c]) - int(base[c]); d < -ColourJitter || d > ColourJitter {
					t.Fatalf("scene %d object %d: %s channel %d = %d, base %d", i, k, o.Colour, c, o.RGB[c], base[c])
				}
			}
			sz, ok := sizeRange(o.Size)
			if !ok {
				t.Fatalf("scene %d object %d: size %q", i, k, o.Size)
			}
			if o.Half < sz.Min || o.Half > sz.Max {
				t.Fatalf("scene %d object %d: %s half-extent %v", i, k, o.Size, o.Half)
			}
			if o.FX-o.Half < 0 || o.FX+o.Half > 1 || o.FY-o.Half < 0 || o.FY+o.Half > 1 {
				t.Fatalf("scene %d object %d leaves its cell: %+v", i, k, o)
			}
			seen[o.Shape]++
			seen[o.Colour]++
			seen[o.Size]++
			seen[Positions[o.Cell]]++
		}
		lo, hi := 255, 0
		for _, v := range s.Background {
			if v < BackMin || v > BackMax {
				t.Fatalf("scene %d: background %v out of [%d, %d]", i, s.Background, BackMin, BackMax)
			}
			lo, hi = min(lo, int(v)), max(hi, int(v))
		}
		if hi-lo > 2*BackSpread {
			t.Fatalf("scene %d: background %v spreads more than ±%d", i, s.Background, BackSpread)
		}
		if s.Noise < NoiseMin || s.Noise > NoiseMax {
			t.Fatalf("scene %d: noise %v", i, s.Noise)
		}
	}
	for k := 1; k <= MaxObjects; k++ {
		if counts[k] < n/8 {
			t.Errorf("%d-object scenes: %d of %d", k, counts[k], n)
		}
	}
	var names []string
	names = append(names, Shapes[:]...)
	names = append(names, Positions[:]...)
	for _, c := range Colours {
		names = append(names, c.Name)
	}
	for _, s := range Sizes {
		names = append(names, s.Name)
	}
	for _, name := range names {
		if seen[name] < 100 {
			t.Errorf("%q occurs %d times in %d scenes", name, seen[name], n)
		}
	}
}

func obj(cell int, size, colour, shape string) Object {
	return Object{Cell: cell, Size: size, Colour: colour, Shape: shape}
}

func TestCaptionFormat(t *testing.T) {
	tests := []struct {
		objs []Object
		want string
	}{
		{nil, ""},
		{[]Object{obj(0, "small", "red", "circle")}, "a small red circle at the top left"},
		{[]Object{obj(4, "large", "blue", "cross"), obj(1, "small", "yellow", "square")},
			"a small yellow square at the top and a large blue cross in the center"},
		{[]Object{obj(0, "small", "red", "circle"), obj(4, "large", "blue", "cross"), obj(8, "small", "green", "triangle")},
			"a small red circle at the top left , a large blue cross in the center and a small green triangle at the bottom right"},
		{[]Object{obj(3, "large", "purple", "square"), obj(2, "small", "orange", "circle"),
			obj(5, "small", "green", "cross"), obj(7, "large", "red", "triangle")},
			"a small orange circle at the top right , a large purple square on the left , " +
				"a small green cross on the right and a large red triangle at the bottom"},
		{[]Object{obj(6, "large", "yellow", "circle")}, "a large yellow circle at the bottom left"},
	}
	for _, tc := range tests {
		if got := (Scene{Objects: tc.objs}).Caption(); got != tc.want {
			t.Errorf("Caption(%v) = %q, want %q", tc.objs, got, tc.want)
		}
	}
}

func TestCaptionGrammar(t *testing.T) {
	phrase := `a (small|large) (red|green|blue|yellow|purple|orange) (circle|square|triangle|cross) ` +
		`(at the top left|at the top|at the top right|on the left|in the center|on the right|` +
		`at the bottom left|at the bottom|at the bottom right)`
	re := regexp.MustCompile(`^` + phrase + `((?: , ` + phrase + `)* and ` + phrase + `)?$`)
	for i := range 2000 {
		s := Generate(7, i)
		c := s.Caption()
		if !re.MatchString(c) {
			t.Fatalf("scene %d caption does not follow the grammar: %q", i, c)
		}
		if got := len(strings.Split(strings.ReplaceAll(c, " and ", " , "), " , ")); got != len(s.Objects) {
			t.Fatalf("scene %d: %d phrases for %d objects: %q", i, got, len(s.Objects), c)
		}
	}
}

func TestParseCaptionRoundTrip(t *testing.T) {
	for i := range 10000 {
		s := Generate(1000, i)
		c := s.Caption()
		labels, err := ParseCaption(c)
		if err != nil {
			t.Fatalf("scene %d: ParseCaption(%q): %v", i, c, err)
		}
		if len(labels) != len(s.Objects) {
			t.Fatalf("scene %d: %d labels for %d objects", i, len(labels), len(s.Objects))
		}
		for k, o := range s.Objects {
			if labels[k] != o.Label() {
				t.Fatalf("scene %d object %d: parsed %+v, want %+v", i, k, labels[k], o.Label())
			}
		}
		if tp, fp, fn := ObjectF1(c, c); tp != len(s.Objects) || fp != 0 || fn != 0 {
			t.Fatalf("scene %d: ObjectF1(c, c) = %d, %d, %d", i, tp, fp, fn)
		}
		if !ExactMatch(c, c) {
			t.Fatalf("scene %d: caption does not match itself", i)
		}
	}
}
