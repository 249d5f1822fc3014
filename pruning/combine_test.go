package pruning

import (
	"errors"
	"strings"
	"testing"
)

// "PRE+IN" parses to both stages (the budget stays the pre stage's), reads
// back from String, and every other shape is one clear error.
func TestParseCombined(t *testing.T) {
	for _, tc := range []struct {
		spec, pre, in, name string
	}{
		{"dycoke+dycoke-kv", "dycoke", "dycoke-kv", "dycoke+dycoke-kv"},
		{"holitom:tau=0.7+holitom-inner:k=2,r=0.25", "holitom", "holitom-inner", "holitom+holitom-inner"},
		{"DTD:tau=0.9 + dycoke-kv:p=0.5", "dtd", "dycoke-kv", "dtd+dycoke-kv"},
	} {
		m, err := Parse(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		st := m.Stages()
		if m.Pre == nil || m.In == nil || m.Pre.Name() != tc.pre || m.In.Name() != tc.in || m.Info.Name != tc.name ||
			len(st) != 2 || st[0].Info.Name != tc.pre || st[1].Info.Name != tc.in || m.Info.DefaultKeep != st[0].Info.DefaultKeep {
			t.Errorf("%s: %+v", tc.spec, m.Info)
		}
		back, err := Parse(m.String())
		if err != nil || back.String() != m.String() {
			t.Errorf("%s: String %q reads back as %q (%v)", tc.spec, m.String(), back.String(), err)
		}
	}
	m, _ := Parse("holitom:tau=0.7+holitom-inner:k=2")
	if s := m.String(); !strings.Contains(s, "tau=0.7") || !strings.Contains(s, "+holitom-inner:k=2,r=0.5") {
		t.Errorf("String %q: want both stages with every parameter", s)
	}
	if st := (Method{Info: Info{Name: "x"}}).Stages(); len(st) != 1 {
		t.Errorf("a single method has %d stages", len(st))
	}
	for _, tc := range []struct{ spec, says string }{
		{"dycoke-kv+dycoke", "first stage must be a pre-decoder method"},
		{"dycoke+dtd", "second stage must be an in-decoder method"},
		{"dycoke+dycoke-kv+holitom-inner", "at most two stages"},
		{"none+dycoke-kv", "give dycoke-kv alone"},
		{"dycoke+nosuch", "nosuch"},
		{"dycoke:k=2+dycoke-kv", "dycoke"},
	} {
		_, err := Parse(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: error %v; want one saying %q", tc.spec, err, tc.says)
		}
	}
	if _, err := Parse("dycoke-kv+dycoke"); !errors.Is(err, ErrBadValue) {
		t.Errorf("wrong order: %v, want ErrBadValue", err)
	}
	// "+" inside a value (an exponent) does not split
	if pre, _, ok := splitStages("dtd:tau=1e+0"); ok {
		t.Errorf("1e+0 split at %q", pre)
	}
}
