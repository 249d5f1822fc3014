package pruning

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseBudget(t *testing.T) {
	good := []struct {
		in    string
		ratio bool
		n     int // Count(576)
	}{
		{"0.25", true, 144}, {"64", false, 64}, {"1.0", true, 576}, {"1", false, 1}, {"25%", true, 144},
		{" 0.098 ", true, 56}, {"1e-1", true, 58}, {"1000", false, 576}, {".5", true, 288}, {"0.0001", true, 1},
	}
	for _, c := range good {
		b, err := ParseBudget(c.in)
		if err != nil {
			t.Errorf("ParseBudget(%q): %v", c.in, err)
			continue
		}
		if b.IsRatio() != c.ratio {
			t.Errorf("ParseBudget(%q) ratio=%v", c.in, b.IsRatio())
		}
		if n, err := b.Count(576); err != nil || n != c.n {
			t.Errorf("ParseBudget(%q).Count(576) = %d, %v; want %d", c.in, n, err, c.n)
		}
		if r, err := ParseBudget(b.String()); err != nil || r != b {
			t.Errorf("round trip of %q via %q: %v %v", c.in, b.String(), r, err)
		}
	}
	for _, in := range []string{"", "0", "-1", "1.5", "0.0", "abc", "NaN", "Inf", "1e2", "-0.5", "150%", "64x", "0x10"} {
		if _, err := ParseBudget(in); !errors.Is(err, ErrBudget) || !strings.HasPrefix(err.Error(), "pruning: ") {
			t.Errorf("ParseBudget(%q): error %v", in, err)
		}
	}
	// Half to even, as Python's round.
	for _, c := range []struct {
		r    float64
		n, k int
	}{{0.5, 5, 2}, {0.5, 7, 4}, {0.5, 3, 2}, {0.25, 10, 2}, {0.75, 10, 8}, {0.098, 576, 56}, {0.11, 576, 63}} {
		if k, _ := KeepRatio(c.r).Count(c.n); k != c.k {
			t.Errorf("round(%v·%d) = %d, want %d", c.r, c.n, k, c.k)
		}
	}
	for _, b := range []Budget{{}, KeepRatio(2), KeepRatio(-1), KeepCount(-3)} {
		if _, err := b.Count(10); !errors.Is(err, ErrBudget) {
			t.Errorf("%v.Count: %v", b, err)
		}
	}
	if _, err := KeepCount(3).Count(0); !errors.Is(err, ErrBudget) {
		t.Errorf("Count(0): %v", err)
	}
}

func TestParse(t *testing.T) {
	m, err := Parse(" FastV : K=3, r=0.75 ")
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := m.In.(FastV); !ok || f.K != 3 || f.R != 0.75 || m.Pre != nil || m.Info.Stage != InDecoderStage {
		t.Errorf("parsed %#v", m)
	}
	if m.String() != "fastv:k=3,r=0.75" {
		t.Errorf("String() = %q", m.String())
	}
	p, err := Parse("pdrop:layers=4,8,12,ratios=0.5/0.25/0.1")
	if err != nil {
		t.Fatal(err)
	}
	if pd := p.In.(PDrop); !slices.Equal(pd.LayerList, []int{4, 8, 12}) || !slices.Equal(pd.Ratios, []float64{0.5, 0.25, 0.1}) {
		t.Errorf("pdrop lists %v %v", pd.LayerList, pd.Ratios)
	}
	if p.String() != "pdrop:layers=4/8/12,ratios=0.5/0.25/0.1" {
		t.Errorf("String() = %q", p.String())
	}
	if d, _ := Parse("divprune"); d.String() != "divprune" || d.Pre == nil {
		t.Errorf("divprune: %v", d)
	}
	if c, _ := Parse("cdpruner:relevance=none"); c.Info.Needs != NeedFeatures {
		t.Errorf("cdpruner without relevance needs %v", c.Info.Needs)
	}
	errs := []struct {
		spec, want string
		is         error
	}{
		{"nope", `pruning: unknown method "nope" (valid: none, random, stride, pool, divprune,`, ErrUnknownMethod},
		{"", "pruning: empty method name", ErrUnknownMethod},
		{":k=1", "pruning: empty method name", ErrUnknownMethod},
		{"fastv:x=1", `pruning: fastv: unknown parameter "x" (valid: k, r)`, ErrUnknownParam},
		{"divprune:ratio=0.1", `pruning: divprune: unknown parameter "ratio" (valid: none)`, ErrUnknownParam},
		{"fastv:r=1.5", `pruning: fastv: bad value "1.5" for r: want a number in [0, 1)`, ErrBadValue},
		{"fastv:k=0", `pruning: fastv: bad value "0" for k: want an integer in [1, 65536]`, ErrBadValue},
		{"fastv:k=2,k=3", "pruning: fastv: parameter k given twice", ErrBadValue},
		{"stride:mode=diag", `pruning: stride: bad value "diag" for mode: want one of grid, 1d`, ErrBadValue},
		{"pdrop:layers=8/16,ratios=0.5", "pruning: pdrop: 2 layers but 1 ratios", ErrBadValue},
		{"pdrop:layers=16/8", `pruning: pdrop: bad value "16/8" for layers: want strictly ascending`, ErrBadValue},
		{"fastv:2", `pruning: fastv: bad parameter "2": want name=value`, ErrBadValue},
		{"fastv:=2", `pruning: fastv: bad parameter "=2"`, ErrBadValue},
		{"adaptive:max=2.5", `pruning: adaptive: bad value "2.5" for max`, ErrBadValue},
		{"dart:exact=maybe", `pruning: dart: bad value "maybe" for exact: want true or false`, ErrBadValue},
		{"sparsevlm:counts=5", "pruning: sparsevlm: 1 counts for 3 layers", ErrBadValue},
	}
	for _, c := range errs {
		_, err := Parse(c.spec)
		if !errors.Is(err, c.is) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Parse(%q): %v; want %q (%v)", c.spec, err, c.want, c.is)
		}
	}
}

func TestMethods(t *testing.T) {
	infos := Methods()
	seen := map[string]bool{}
	for _, info := range infos {
		if seen[info.Name] || info.Doc == "" || info.Count == "" {
			t.Errorf("method %q: duplicate or undocumented", info.Name)
		}
		seen[info.Name] = true
		m, err := Parse(info.Name)
		if err != nil {
			t.Fatalf("Parse(%q): %v", info.Name, err)
		}
		if (m.Pre != nil) != (info.Stage == PreDecoderStage) || (m.Pre == nil) == (m.In == nil) {
			t.Errorf("%s: stage %v but Pre=%v In=%v", info.Name, info.Stage, m.Pre, m.In)
		}
		name := ""
		if m.Pre != nil {
			name = m.Pre.Name()
			if info.DefaultKeep == "" {
				t.Errorf("%s: pre-decoder method without a default budget", info.Name)
			}
		} else {
			name = m.In.Name()
			if m.In.Positions() != info.Positions || len(m.In.Layers()) == 0 {
				t.Errorf("%s: positions/layers mismatch", info.Name)
			}
		}
		if name != info.Name {
			t.Errorf("registry name %q, method name %q", info.Name, name)
		}
		if info.DefaultKeep != "" {
			if _, err := ParseBudget(info.DefaultKeep); err != nil {
				t.Errorf("%s: default keep: %v", info.Name, err)
			}
		}
		for _, p := range info.Params {
			if p.Doc == "" {
				t.Errorf("%s: parameter %s undocumented", info.Name, p.Name)
			}
		}
		if r, err := Parse(m.String()); err != nil || r.String() != m.String() {
			t.Errorf("%s: round trip %q: %v", info.Name, m.String(), err)
		}
	}
	for _, want := range []string{"random", "stride", "pool", "divprune", "fastervlm", "fopru", "visionzip", "dart-pre",
		"cdpruner", "tome", "todre", "adaptive", "fastv", "pdrop", "sparsevlm", "aim", "dart", "adaptive-fastv"} {
		if !seen[want] {
			t.Errorf("method %s not registered", want)
		}
	}
	if Methods()[1].Params[0].Name = "x"; Methods()[1].Params[0].Name == "x" {
		t.Error("Methods returns the registry's own slices")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range append(append([]string{}, preSpecs...), inSpecs...) {
		f.Add(s)
	}
	for _, s := range []string{"", ":", "fastv:k=", "pdrop:layers=,ratios=", "x:y=z,,", "adaptive:min=0.5,max=2",
		"aim:tau=1e309", "fastv:r=NaN", "sparsevlm:counts=1/2/3,layers=1/2/3", "dart:k=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		m, err := Parse(spec)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "pruning: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			if !errors.Is(err, ErrUnknownMethod) && !errors.Is(err, ErrUnknownParam) && !errors.Is(err, ErrBadValue) {
				t.Fatalf("error of unknown kind: %v", err)
			}
			return
		}
		if (m.Pre == nil) == (m.In == nil) {
			t.Fatalf("Parse(%q) gave %+v", spec, m)
		}
		r, err := Parse(m.String())
		if err != nil || r.String() != m.String() {
			t.Fatalf("round trip of %q via %q: %v", spec, m.String(), err)
		}
		// The parsed method must survive a call on small inputs.
		if m.Pre != nil {
			v := testVisual(1, 6, 2, "rand")
			_, _ = m.Pre.Apply(v, 3)
		} else if ls := m.In.Layers(); len(ls) > 0 {
			s := newSeq(1, 1, 4, 2, 3, false)
			b := s.boundary(ls[0], rng(1), false)
			_, _ = m.In.Select(b, 4)
		}
	})
}
