package scenes

import (
	"errors"
	"math"
	"strings"
	"testing"
)

const (
	refOne   = "a small red circle at the top left"
	refThree = "a small red circle at the top left , a large blue cross in the center and a small green triangle at the bottom right"
)

func TestParseCaption(t *testing.T) {
	tests := []struct {
		in      string
		want    []Label
		wantErr bool
	}{
		{"", nil, false},
		{refOne, []Label{{Size: "small", Colour: "red", Shape: "circle", Cell: 0}}, false},
		{"  A Small RED circle at the top left. ", []Label{{Size: "small", Colour: "red", Shape: "circle", Cell: 0}}, false},
		{"a large blue cross in the center, a small yellow square on the right", []Label{
			{Size: "large", Colour: "blue", Shape: "cross", Cell: 4},
			{Size: "small", Colour: "yellow", Shape: "square", Cell: 5}}, false},
		{"a small red circle at the top left and", []Label{{Size: "small", Colour: "red", Shape: "circle", Cell: 0}}, true},
		{"a small red circle at the top left , , a large green square at the bottom", []Label{
			{Size: "small", Colour: "red", Shape: "circle", Cell: 0},
			{Size: "large", Colour: "green", Shape: "square", Cell: 7}}, true},
		{"a huge red circle at the top left and a large green square at the bottom", []Label{
			{Cell: -1, Raw: "a huge red circle at the top left"},
			{Size: "large", Colour: "green", Shape: "square", Cell: 7}}, true},
		{"a small pink circle on the left", []Label{{Cell: -1, Raw: "a small pink circle on the left"}}, true},
		{"a small red hexagon on the left", []Label{{Cell: -1, Raw: "a small red hexagon on the left"}}, true},
		{"a small red circle in the middle", []Label{{Cell: -1, Raw: "a small red circle in the middle"}}, true},
		{"the small red circle on the left", []Label{{Cell: -1, Raw: "the small red circle on the left"}}, true},
		{"a small red circle", []Label{{Cell: -1, Raw: "a small red circle"}}, true},
		{"<unk> <unk>", []Label{{Cell: -1, Raw: "<unk> <unk>"}}, true},
		{"and", nil, true},
	}
	for _, tc := range tests {
		got, err := ParseCaption(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseCaption(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
		}
		if err != nil && !errors.Is(err, ErrUnparsable) {
			t.Errorf("ParseCaption(%q) error %v does not wrap ErrUnparsable", tc.in, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "scenes: ") {
			t.Errorf("ParseCaption(%q) error %q lacks the package prefix", tc.in, err)
		}
		if len(got) != len(tc.want) {
			t.Errorf("ParseCaption(%q) = %+v, want %+v", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("ParseCaption(%q)[%d] = %+v, want %+v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func TestLabelString(t *testing.T) {
	labels, _ := ParseCaption(refThree + " and gibberish")
	var parts []string
	for _, l := range labels {
		parts = append(parts, l.String())
	}
	if got, want := strings.Join(parts, "|"), strings.ReplaceAll(strings.ReplaceAll(refThree, " , ", "|"), " and ", "|")+"|gibberish"; got != want {
		t.Errorf("label strings %q, want %q", got, want)
	}
}

func TestExactMatch(t *testing.T) {
	tests := []struct {
		pred, ref string
		want      bool
	}{
		{refThree, refThree, true},
		{"  " + strings.ToUpper(refThree) + ".", refThree, true},
		{strings.ReplaceAll(refThree, " , ", ", "), refThree, true},
		{refOne, refThree, false},
		{"a small blue cross in the center and " + refOne, "a small red circle at the top left and a small blue cross in the center", false},
		{"", "", true},
		{"", refOne, false},
		{refOne + " and", refOne, false},
	}
	for _, tc := range tests {
		if got := ExactMatch(tc.pred, tc.ref); got != tc.want {
			t.Errorf("ExactMatch(%q, %q) = %v, want %v", tc.pred, tc.ref, got, tc.want)
		}
	}
}

func TestObjectF1(t *testing.T) {
	tests := []struct {
		name          string
		pred, ref     string
		tp, fp, fn    int
		exact         bool
		f1, precision float64
	}{
		{"identical", refThree, refThree, 3, 0, 0, true, 1, 1},
		{"empty prediction", "", refThree, 0, 0, 3, false, 0, 0},
		{"one of three", refOne, refThree, 1, 0, 2, false, 0.5, 1},
		{"order does not matter",
			"a small green triangle at the bottom right and a small red circle at the top left",
			"a small red circle at the top left and a small green triangle at the bottom right", 2, 0, 0, false, 1, 1},
		{"wrong size", "a large red circle at the top left", refOne, 0, 1, 1, false, 0, 0},
		{"wrong colour", "a small blue circle at the top left", refOne, 0, 1, 1, false, 0, 0},
		{"wrong shape", "a small red square at the top left", refOne, 0, 1, 1, false, 0, 0},
		{"wrong position", "a small red circle at the top", refOne, 0, 1, 1, false, 0, 0},
		{"extra object", refOne + " and a large blue cross in the center", refOne, 1, 1, 0, false, 2.0 / 3, 0.5},
		{"duplicate counts once", refOne + " and " + refOne, refOne, 1, 1, 0, false, 2.0 / 3, 0.5},
		{"garbage", "<unk> caption : the the", refOne, 0, 1, 1, false, 0, 0},
		{"partly garbled", "a small red circle at the top left , a large blue blob in the center", refThree, 1, 1, 2, false, 0.4, 0.5},
		{"dangling and", refOne + " and", refOne, 1, 0, 0, false, 1, 1},
		{"unparsable reference", refOne, "not a caption", 0, 1, 1, false, 0, 0},
	}
	for _, tc := range tests {
		tp, fp, fn := ObjectF1(tc.pred, tc.ref)
		if tp != tc.tp || fp != tc.fp || fn != tc.fn {
			t.Errorf("%s: ObjectF1 = %d, %d, %d, want %d, %d, %d", tc.name, tp, fp, fn, tc.tp, tc.fp, tc.fn)
		}
		var s Score
		s.Add(tc.pred, tc.ref)
		if (s.Exact == 1) != tc.exact {
			t.Errorf("%s: exact = %v, want %v", tc.name, s.Exact == 1, tc.exact)
		}
		if math.Abs(s.F1()-tc.f1) > 1e-12 || math.Abs(s.Precision()-tc.precision) > 1e-12 {
			t.Errorf("%s: F1 %.4f precision %.4f, want %.4f, %.4f", tc.name, s.F1(), s.Precision(), tc.f1, tc.precision)
		}
	}
}

func TestScore(t *testing.T) {
	var s Score
	if s.F1() != 0 || s.ExactRate() != 0 || s.Recall() != 0 {
		t.Errorf("empty score: %+v", s)
	}
	two := "a small red circle at the top left and a large blue cross in the center"
	s.Add(refOne, refOne)                                 // 1 object, exact
	s.Add("a large red circle at the top left", refOne)   // 1 object, wrong
	s.Add(two, two)                                       // 2 objects, exact
	s.Add(refOne, two)                                    // 2 objects, half
	s.Add(refThree, refThree)                             // 3 objects, exact
	s.Add("garbage", "")                                  // no objects: other
	s.Add(refThree, refThree+" , "+refOne+" and "+refOne) // 5 phrases: other
	if s.Captions != 7 || s.Exact != 3 {
		t.Errorf("captions %d exact %d, want 7, 3", s.Captions, s.Exact)
	}
	want := [MaxObjects + 1]Counts{
		{Captions: 2, Exact: 0, TP: 3, FP: 1, FN: 2},
		{Captions: 2, Exact: 1, TP: 1, FP: 1, FN: 1},
		{Captions: 2, Exact: 1, TP: 3, FP: 0, FN: 1},
		{Captions: 1, Exact: 1, TP: 3, FP: 0, FN: 0},
		{},
	}
	if s.ByObjects != want {
		t.Errorf("by objects %+v, want %+v", s.ByObjects, want)
	}
	if s.TP != 10 || s.FP != 2 || s.FN != 4 {
		t.Errorf("overall %d, %d, %d, want 10, 2, 4", s.TP, s.FP, s.FN)
	}
	if got, want := s.F1(), 20.0/26; math.Abs(got-want) > 1e-12 {
		t.Errorf("micro F1 %v, want %v", got, want)
	}
	if got, want := s.ByObjects[2].F1(), 6.0/7; math.Abs(got-want) > 1e-12 {
		t.Errorf("2-object F1 %v, want %v", got, want)
	}
	table := s.String()
	for _, w := range []string{"objects", "\n1 ", "\n2 ", "\n3 ", "\nother ", "\nall "} {
		if !strings.Contains(table, w) {
			t.Errorf("table lacks %q:\n%s", w, table)
		}
	}
	if strings.Contains(table, "\n4 ") {
		t.Errorf("table has an empty 4-object row:\n%s", table)
	}
}

func TestScoreGenerated(t *testing.T) {
	var s Score
	for i := range 1000 {
		c := Generate(1000, i).Caption()
		s.Add(c, c)
	}
	if s.ExactRate() != 1 || s.F1() != 1 || s.ByObjects[0].Captions != 0 {
		t.Errorf("self-score of generated captions:\n%s", s)
	}
	for n := 1; n <= MaxObjects; n++ {
		if s.ByObjects[n].Captions == 0 || s.ByObjects[n].TP != n*s.ByObjects[n].Captions {
			t.Errorf("%d objects: %+v", n, s.ByObjects[n])
		}
	}
}
