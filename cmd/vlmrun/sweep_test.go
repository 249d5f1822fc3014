package main

import (
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/bench"
)

func TestSplitMethods(t *testing.T) {
	for _, tc := range []struct {
		in    []string
		extra []string
		want  []string
	}{
		{[]string{"none,divprune,visionzip"}, nil, []string{"none", "divprune", "visionzip"}},
		{[]string{"fastv:k=2,r=0.5,divprune"}, nil, []string{"fastv:k=2,r=0.5", "divprune"}},
		{[]string{"pdrop:layers=1,2,3,tome"}, nil, []string{"pdrop:layers=1,2,3", "tome"}},
		{[]string{"cdpruner:relevance=none", "stride"}, nil, []string{"cdpruner:relevance=none", "stride"}},
		{[]string{"oracle,random:seed=3"}, []string{"oracle"}, []string{"oracle", "random:seed=3"}},
		{[]string{"nosuch,divprune"}, nil, []string{"nosuch", "divprune"}},
		{[]string{"dtd,dycoke+dycoke-kv:p=0.5,l=2,holitom:tau=0.7+holitom-inner:k=2"}, nil,
			[]string{"dtd", "dycoke+dycoke-kv:p=0.5,l=2", "holitom:tau=0.7+holitom-inner:k=2"}},
		{nil, nil, nil},
	} {
		if got := splitMethods(tc.in, tc.extra...); !slices.Equal(got, tc.want) {
			t.Errorf("splitMethods(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSweepGrid(t *testing.T) {
	v := func(m, k string) bench.Variant { return bench.Variant{Method: m, Keep: k} }
	for _, tc := range []struct {
		name     string
		methods  []string
		keeps    []string
		baseline bool
		want     []bench.Variant
		err      bool
	}{
		{"baseline first", []string{"divprune"}, []string{"0.5", "0.25"}, true,
			[]bench.Variant{v("none", ""), v("divprune", "0.5"), v("divprune", "0.25")}, false},
		{"no baseline, default keep", []string{"divprune"}, nil, false, []bench.Variant{v("divprune", "")}, false},
		{"none once", []string{"none", "stride"}, []string{"0.5"}, true,
			[]bench.Variant{v("none", ""), v("stride", "0.5")}, false},
		{"budgeted in-decoder", []string{"fastv"}, []string{"0.5"}, false, []bench.Variant{v("fastv", "0.5")}, false},
		{"own parameters", []string{"adaptive-fastv:mass=0.8"}, []string{"0.5"}, false,
			[]bench.Variant{v("adaptive-fastv:mass=0.8", "")}, false},
		{"extra", []string{"oracle"}, []string{"0.5"}, false, []bench.Variant{v("oracle", "0.5")}, false},
		{"combination takes the budgets", []string{"dycoke+dycoke-kv"}, []string{"0.5", "0.25"}, false,
			[]bench.Variant{v("dycoke+dycoke-kv", "0.5"), v("dycoke+dycoke-kv", "0.25")}, false},
		{"unknown", []string{"nosuch"}, nil, false, nil, true},
		{"bad keep", []string{"divprune"}, []string{"2.5"}, false, nil, true},
		{"empty", nil, nil, false, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sweepGrid(tc.methods, tc.keeps, tc.baseline, "oracle")
			if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
				t.Errorf("got %v, %v; want %v (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestWithLayersBaseline(t *testing.T) {
	v := func(m, k, f string) bench.Variant { return bench.Variant{Method: m, Keep: k, Form: f} }
	for _, tc := range []struct {
		in, want []bench.Variant
	}{
		{[]bench.Variant{v("none", "", ""), v("divprune", "0.5", "")}, []bench.Variant{v("none", "", ""), v("divprune", "0.5", "")}},
		{[]bench.Variant{v("none", "", ""), v("divprune", "0.5", ""), v("fastv", "0.5", "")},
			[]bench.Variant{v("none", "", ""), v("none", "", "layers"), v("divprune", "0.5", ""), v("fastv", "0.5", "")}},
		{[]bench.Variant{v("fastv", "0.5", "")}, []bench.Variant{v("none", "", "layers"), v("fastv", "0.5", "")}},
	} {
		if got := withLayersBaseline(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("withLayersBaseline(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
