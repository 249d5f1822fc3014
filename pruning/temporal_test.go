package pruning

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
)

// angles returns unit vectors (cos a, sin a) for angles in degrees.
func angles(deg ...float64) Matrix {
	m := Matrix{Rows: len(deg), Cols: 2}
	for _, a := range deg {
		r := a * math.Pi / 180
		m.Data = append(m.Data, float32(math.Cos(r)), float32(math.Sin(r)))
	}
	return m
}

// Reference vector (pruning-methods-2.md §1 f): 3 frames × 4 tokens, τ = 0.5.
func TestDTDVector(t *testing.T) {
	v := &Visual{Features: angles(0, 90, 45, 180, 10, 25, 45, 100, 20, 80, 120, 100), Frames: 3}
	r, err := DTD{Tau: 0.5}.Apply(v, 12)
	if err != nil || !slices.Equal(r.Source, []int{0, 1, 2, 3, 5, 7, 10}) {
		t.Fatalf("dtd = %v, %v; want [0 1 2 3 5 7 10]", r.Source, err)
	}
	// hand-checked: relative mode, τ = 0.5 drops int(4·0.5) = 2 most similar
	// of each later frame: f1 cos .98 .42 1 .17 → drop 6, 4; f2 .98 .57 .26 1 → drop 11, 8
	r, _ = DTD{Tau: 0.5, Mode: "relative"}.Apply(v, 12)
	if !slices.Equal(r.Source, []int{0, 1, 2, 3, 5, 7, 9, 10}) {
		t.Errorf("relative = %v", r.Source)
	}
	// global budget 5: first frame, then the least similar (7: cos .17; 10: .26 ...)
	r, _ = DTD{Tau: 0.5}.Apply(v, 5)
	if !slices.Equal(r.Source, []int{0, 1, 2, 3, 7}) {
		t.Errorf("budget 5 = %v", r.Source)
	}
	// frame budget 6 over 3 frames: 2 per frame
	r, _ = DTD{Tau: 0.5, Scope: "frame"}.Apply(v, 6)
	if !slices.Equal(r.Source, []int{0, 1, 5, 7, 10}) {
		t.Errorf("frame budget 6 = %v", r.Source)
	}
	if r, _ := (DTD{Tau: 1}).Apply(v, 12); !slices.Equal(r.Source, seq(12)) {
		t.Errorf("tau 1 = %v", r.Source)
	}
}

// Hand-checked pixel mode: 3 frames of 2×2 one-pixel tokens (one channel).
func TestDTDPixels(t *testing.T) {
	fp := &FramePixels{Data: [][]float32{{0, 0, 0, 0}, {.05, .5, 0, .2}, {.05, .5, .3, .2}}, C: 1, H: 2, W: 2,
		Scale: []float32{1}, GridH: 2, GridW: 2}
	v := &Visual{Features: testVisual(1, 12, 3, "rand").Features, Frames: 3, FramePixels: fp}
	m := DTD{Tau: math.NaN(), Input: "pixel"} // τ = 0.1: drop iff diff < 0.1
	r, err := m.Apply(v, 12)
	if err != nil || !slices.Equal(r.Source, []int{0, 1, 2, 3, 5, 7, 10}) {
		t.Fatalf("pixel dtd = %v, %v", r.Source, err)
	}
	fp.Scale = []float32{2} // a std of 2: the [0, 1] differences double, 0.05 → 0.1 is kept
	if r, _ := m.Apply(v, 12); !slices.Equal(r.Source, []int{0, 1, 2, 3, 4, 5, 7, 10}) {
		t.Errorf("scaled = %v", r.Source)
	}
	// relative τ = 0.5: each later frame drops its 2 smallest diffs (ties: lowest index)
	fp.Scale = []float32{1}
	if r, _ := (DTD{Tau: 0.5, Mode: "relative", Input: "pixel"}).Apply(v, 12); !slices.Equal(r.Source, []int{0, 1, 2, 3, 5, 7, 10, 11}) {
		t.Errorf("relative = %v", r.Source)
	}
	// a token's difference is the mean over its pixels and channels
	big := &FramePixels{Data: [][]float32{make([]float32, 2*4*4), make([]float32, 2*4*4)}, C: 2, H: 4, W: 4,
		Scale: []float32{1, 1}, GridH: 2, GridW: 2}
	big.Data[1][0], big.Data[1][16+5] = 0.8, 0.4 // token 0: channel 0 pixel (0,0), channel 1 pixel (1,1)
	d, err := pixelDiffs("dtd", big, 2, 4)
	if err != nil || !near(d[0], 1.2/8, 1e-7) || d[1] != 0 || d[3] != 0 {
		t.Errorf("diffs %v %v", d, err)
	}
	// grouped frames (Qwen2-VL temporal patches of 2 raw frames): group f's
	// last raw frame against group f−1's first. Groups 0, 1, 2 have first
	// frames 0, A, A and last frames B, 0, A with A = [.05 .5 0 .2] and
	// B = [.9 .9 .9 .9]: group 1 compares 0 with group 0's first 0 (all
	// dropped, though its first frame A differs), group 2 compares A with
	// group 1's first A (all dropped); consecutive raw frames would differ.
	A, Z, B := []float32{.05, .5, 0, .2}, []float32{0, 0, 0, 0}, []float32{.9, .9, .9, .9}
	v.FramePixels = &FramePixels{Data: [][]float32{Z, A, A}, Last: [][]float32{B, Z, A}, C: 1, H: 2, W: 2, Scale: []float32{1}, GridH: 2, GridW: 2}
	if r, err := m.Apply(v, 12); err != nil || !slices.Equal(r.Source, []int{0, 1, 2, 3}) {
		t.Errorf("grouped = %v, %v", r.Source, err)
	}
	// group 1's last raw frame differs from group 0's first at token 1
	// (0.5 ≥ 0.1: kept, sequence index 4+1); group 2 still compares A with A
	v.FramePixels.Last[1] = []float32{0, .5, 0, 0}
	if r, err := m.Apply(v, 12); err != nil || !slices.Equal(r.Source, []int{0, 1, 2, 3, 5}) {
		t.Errorf("grouped, token 5 changed = %v, %v", r.Source, err)
	}
	v.FramePixels.Last = v.FramePixels.Last[:2]
	if _, err := m.Apply(v, 12); !errors.Is(err, ErrBadInput) {
		t.Errorf("2 last frames for 3: %v", err)
	}
	v.FramePixels = nil
	if _, err := m.Apply(v, 12); !errors.Is(err, ErrMissingInput) {
		t.Errorf("no pixels: %v", err)
	}
	v.FramePixels = &FramePixels{Data: fp.Data[:2], C: 1, H: 2, W: 2, Scale: []float32{1}, GridH: 2, GridW: 2}
	if _, err := m.Apply(v, 12); !errors.Is(err, ErrBadInput) {
		t.Errorf("2 frames of pixels for 3: %v", err)
	}
}

// Reference vector (§2 f): 5 frames × 4 tokens, k = 0.5 (keep 2).
func TestDyCokeVector(t *testing.T) {
	v := &Visual{Features: angles(0, 40, 80, 120, 5, 90, 80, 150, 30, 40, 100, 120, 30, 60, 100, 170, 7, 7, 7, 7), Frames: 5}
	r, err := DyCoke{K: 0.5, Odd: "drop"}.Apply(v, 20)
	// f0[0,1,2,3] f1[1,3] f2[0,2] f3[3,1]; f4 dropped (the reference's odd-F quirk)
	want := []int{0, 1, 2, 3, 5, 7, 8, 10, 15, 13}
	if err != nil || !slices.Equal(r.Source, want) {
		t.Fatalf("dycoke = %v, %v; want %v", r.Source, err, want)
	}
	r, _ = DyCoke{K: 0.5}.Apply(v, 20) // vlmrun's default keeps the odd last frame
	if !slices.Equal(r.Source, append(slices.Clone(want), 16, 17, 18, 19)) {
		t.Errorf("odd=keep = %v", r.Source)
	}
	r, _ = DyCoke{K: 0.5, Order: "spatial", Odd: "drop"}.Apply(v, 20)
	if !slices.Equal(r.Source, []int{0, 1, 2, 3, 5, 7, 8, 10, 13, 15}) {
		t.Errorf("spatial = %v", r.Source)
	}
	// F = 32, n = 196, k = 0.7: 9 whole frames + 23 × 58 = 3,098
	big := testVisual(5, 32*196, 3, "rand")
	big.Frames = 32
	r, _ = DyCoke{K: 0.7}.Apply(big, 32*196)
	if len(r.Source) != 3098 {
		t.Errorf("F=32: %d tokens, want 3098", len(r.Source))
	}
	plan := DyCokePlan(big.Features, 32, 196, 0.7, false)
	for f, p := range plan {
		whole := f%4 == 0 || f == 30
		if (p.Sim == nil) != whole {
			t.Errorf("frame %d whole=%v", f, p.Sim == nil)
		}
	}
}

// Reference vector (§2 f, decode selection): 6 image tokens, p = 0.5.
func TestDyCokeKVVector(t *testing.T) {
	d := &DyCokeKVState{P: 0.5, Threshold: 0.9}
	if s := d.Next([]float64{.30, .05, .20, .10, .25, .10}); !slices.Equal(s, []int{0, 2, 4}) {
		t.Errorf("step 1 = %v", s)
	}
	if s := d.Next([]float64{.28, .06, .22, .09, .24, .11}); s != nil {
		t.Errorf("step 2 = %v, want full cache", s)
	}
	if s := d.Next([]float64{.05, .30, .05, .30, .05, .25}); !slices.Equal(s, []int{1, 3, 5}) {
		t.Errorf("step 3 = %v", s)
	}
}

// Reference vectors (§3 f): segmentation and the inner merge.
func TestHoliTomVectors(t *testing.T) {
	sim := [][]float64{{.95, .90, .50}, {.92, .85, .95}, {.30, .95, .90}}
	w, r := HoliTomSegments(sim, 3, 0.8, 1024)
	if !slices.Equal(w, [][2]int{{0, 2}, {3, 3}}) || r != 4 {
		t.Fatalf("windows %v R %d", w, r)
	}
	// the same similarities as unit vectors: position i's angle accumulates acos(sim)
	deg := func(s float64) float64 { return math.Acos(s) * 180 / math.Pi }
	var a [4][3]float64
	for i := range 3 {
		for f := 1; f < 4; f++ {
			a[f][i] = a[f-1][i] + deg(sim[f-1][i])
		}
	}
	var flat []float64
	for f := range 4 {
		flat = append(flat, a[f][:]...)
	}
	v := &Visual{Features: angles(flat...), Frames: 4,
		CLSAttn: []float32{.3, .3, .4, .3, .3, .4, .3, .3, .4, .2, .5, .3}}
	outs := HoliTom{Tau: 0.8, Beta: 0.6, KNN: 7, MaxWindow: 1024}.plan(v, 0.25, 4, 3)
	var src []int
	for _, o := range outs {
		src = append(src, o.src)
	}
	// window (0,2): one static cluster (positions 0,1, centre 0) + position 2 of f0,f1,f2;
	// window (3,3): ceil(3·0.375) = 2 by attention → positions 1, 2
	if !slices.Equal(src, []int{0, 2, 5, 8, 10, 11}) || outs[0].size != 6 {
		t.Errorf("holitom plan %v (static size %d)", src, outs[0].size)
	}
	// inner merge, r = 0.5 of 5: keep round(2.5) = 2 (half to even)
	h := mat([]float32{1, 0}, []float32{.8, .6}, []float32{0, 1}, []float32{-.6, .8}, []float32{.6, .8})
	kept, rows := HoliTomInnerMerge(h, []float64{.10, .35, .15, .30, .10}, 0.5)
	if !slices.Equal(kept, []int{1, 3}) || !near(float64(rows.Data[0]), 0.75, 1e-6) || !near(float64(rows.Data[1]), 0.55, 1e-6) ||
		!near(float64(rows.Data[2]), -0.3, 1e-6) || !near(float64(rows.Data[3]), 0.9, 1e-6) {
		t.Errorf("inner merge kept %v rows %v", kept, rows.Data)
	}
}

// Reference vector (§4.1): segmentation and anchor budget; hand-checked merge.
func TestFastVIDVectors(t *testing.T) {
	segs := FastVIDCuts([]float64{.95, .97, .85, .96, .93, .99, .94}, 3, 0.9)
	if !slices.Equal(segs, []int{3, 2, 3}) {
		t.Fatalf("segments %v", segs)
	}
	var per []int
	for _, s := range segs {
		per = append(per, FastVIDAnchors(s, 7, 4)...)
	}
	if !slices.Equal(per, []int{0, 0, 21, 0, 14, 0, 0, 21}) {
		t.Errorf("anchors %v", per)
	}
	if a := FastVIDAnchors(5, 7, 4); !slices.Equal(a, []int{17, 0, 0, 0, 17}) {
		t.Errorf("s=5 anchors %v (34 of 35)", a)
	}
	// one frame of 2 tokens, budget 1, d = 1: no salient token, one anchor
	// assigned {itself, the other}: 0.6·a + 0.4·mean. DPC with k = 4 → 2:
	// equal densities, token 0 is the centre.
	v := &Visual{Features: mat([]float32{1, 0}, []float32{0, 1}), Frames: 1}
	r, err := FastVID{C: 8, Tau: 0.9, D: 1, P: 4, Beta: 0.6, KNN: 4}.Apply(v, 1)
	if err != nil || !slices.Equal(r.Source, []int{0}) || !near(float64(r.Features.Data[0]), 0.8, 1e-6) ||
		!near(float64(r.Features.Data[1]), 0.2, 1e-6) || r.Sizes[0] != 2 {
		t.Errorf("fastvid merge %v %v %v %v", r.Source, r.Features.Data, r.Sizes, err)
	}
}

// Reference vectors (§4.2): refine_clusters and the static test.
func TestPruneVidVectors(t *testing.T) {
	if got := RefineClusters([]int{0, 0, 1, 0, 0, 2, 2, 2, 1, 1}); !slices.Equal(got, []int{0, 0, 0, 0, 0, 2, 2, 2, 1, 1}) {
		t.Errorf("refine 1: %v", got)
	}
	if got := runs(RefineClusters([]int{0, 0, 1, 0, 0, 2, 2, 2, 1, 1})); !slices.Equal(got, []int{5, 3, 2}) {
		t.Errorf("windows %v", got)
	}
	if got := RefineClusters([]int{0, 1, 0, 1, 2, 2, 2, 3, 2, 2}); !slices.Equal(got, []int{2, 2, 2, 2, 2, 2, 2, 2, 2, 2}) {
		t.Errorf("refine 2: %v", got)
	}
	m := PruneVid{Tau: 0.8, Ratio: 0.5, Segment: 0.25, KNN: 7}
	// W = 3, one position: (0°,10°,20°) has mean pairwise cosine 0.9698 → static, one token
	r, _ := m.Apply(&Visual{Features: angles(0, 10, 20), Frames: 3}, 3)
	if !slices.Equal(r.Source, []int{0}) || r.Sizes[0] != 3 || !near(float64(r.Features.Data[0]), (1+math.Cos(math.Pi/18)+math.Cos(math.Pi/9))/3, 1e-6) {
		t.Errorf("static window: %v %v %v", r.Source, r.Sizes, r.Features.Data)
	}
	// (0°,60°,0°): 0.6667 → dynamic, three tokens
	if r, _ := m.Apply(&Visual{Features: angles(0, 60, 0), Frames: 3}, 3); !slices.Equal(r.Source, []int{0, 1, 2}) {
		t.Errorf("dynamic window: %v", r.Source)
	}
}

var temporalSpecs = []string{"dtd", "dtd:mode=relative,tau=0.3", "dtd:scope=frame", "dtd:tau=0.9", "dycoke", "dycoke:odd=drop,order=spatial",
	"dycoke:scope=frame", "fastvid", "fastvid:seed=3,scope=frame", "prunevid", "prunevid:order=spatial,seed=1",
	"prunevid:scope=frame", "holitom", "holitom:d=0.5,seed=2", "holitom:scope=frame,tau=0.65"}

// keepAll: the settings under which a temporal method keeps every token in
// order at keep = N (fastvid and holitom: keep = N alone).
var temporalKeepAll = map[string]string{"dtd": "dtd:tau=1", "dycoke": "dycoke:k=0,order=spatial",
	"prunevid": "prunevid:tau=1,ratio=1,order=spatial", "fastvid": "fastvid", "holitom": "holitom"}

func TestTemporalProperties(t *testing.T) {
	cases := 0
	for _, spec := range temporalSpecs {
		m, err := Parse(spec)
		if err != nil || m.Pre == nil {
			t.Fatalf("Parse(%q): %v", spec, err)
		}
		frameScope := slices.Contains([]string{"dtd:scope=frame", "dycoke:scope=frame", "fastvid:seed=3,scope=frame",
			"prunevid:scope=frame", "holitom:scope=frame,tau=0.65"}, spec)
		for _, F := range []int{1, 2, 3, 5, 8} {
			for _, n := range []int{1, 4, 9, 20} {
				for _, kind := range []string{"rand", "dup", "zero", "still"} {
					N := F * n
					gen := kind
					if kind == "still" {
						gen = "rand"
					}
					v := testVisual(uint64(F*1000+n), N, 3, gen)
					if kind == "still" { // every frame the same image: maximal redundancy
						for f := 1; f < F; f++ {
							copy(v.Features.Data[f*n*3:(f+1)*n*3], v.Features.Data[:n*3])
						}
					}
					v.Frames = F
					for _, keep := range slices.Compact(slices.Sorted(slices.Values([]int{1, 2, F, N / 2, N - 1, N}))) {
						if keep < 1 || keep > N {
							continue
						}
						cases++
						where := fmt.Sprintf("%s F=%d n=%d %s keep=%d", spec, F, n, kind, keep)
						res, err := m.Pre.Apply(v, keep)
						if err != nil {
							t.Fatalf("%s: %v", where, err)
						}
						k := len(res.Source)
						if k < 1 || k > keep {
							t.Fatalf("%s: %d tokens, want 1..%d", where, k, keep)
						}
						seen := map[int]bool{}
						per := make([]int, F)
						for _, s := range res.Source {
							if s < 0 || s >= N || seen[s] {
								t.Fatalf("%s: bad source %d in %v", where, s, res.Source)
							}
							seen[s] = true
							per[s/n]++
						}
						if frameScope {
							for f := range F {
								if per[f] > quota(keep, F, f) {
									t.Fatalf("%s: frame %d has %d tokens, quota %d", where, f, per[f], quota(keep, F, f))
								}
							}
						}
						if res.Features.Rows != k || res.Features.Cols != 3 || !allFinite(res.Features.Data) ||
							(res.Sizes != nil && len(res.Sizes) != k) {
							t.Fatalf("%s: malformed result", where)
						}
						again, _ := m.Pre.Apply(v, keep)
						if !slices.Equal(res.Source, again.Source) || !slices.Equal(res.Features.Data, again.Features.Data) {
							t.Fatalf("%s: not deterministic", where)
						}
					}
					all, _ := Parse(temporalKeepAll[m.Info.Name])
					res, err := all.Pre.Apply(v, N)
					if err != nil || !slices.Equal(res.Source, seq(N)) || !slices.Equal(res.Features.Data, v.Features.Data[:N*3]) {
						t.Fatalf("%s F=%d n=%d %s: keep-all setting is not the identity: %v %v", temporalKeepAll[m.Info.Name], F, n, kind, res.Source, err)
					}
				}
			}
		}
	}
	t.Logf("%d temporal cases", cases)
}

// Still frames: the redundancy methods keep about one frame's worth.
func TestTemporalStillVideo(t *testing.T) {
	v := testVisual(9, 36, 4, "rand")
	base := Gather(v.Features, seq(36))
	v.Features = Matrix{Rows: 8 * 36, Cols: 4}
	for range 8 {
		v.Features.Data = append(v.Features.Data, base.Data...)
	}
	v.Frames, v.CLSAttn = 8, nil
	for spec, want := range map[string]int{"dtd": 36, "prunevid:ratio=1": 36, "holitom": 29} {
		m, _ := Parse(spec)
		r, err := m.Pre.Apply(v, 8*36)
		if spec == "holitom" {
			r, err = m.Pre.Apply(v, 29) // ρ = 0.1: all static, round(36·ρ') clusters
		}
		if err != nil || len(r.Source) > want {
			t.Errorf("%s on a still video: %d tokens (%v), want ≤ %d", spec, len(r.Source), err, want)
		}
	}
}

func TestTemporalErrors(t *testing.T) {
	v := testVisual(1, 10, 3, "rand")
	v.Frames = 3 // 10 tokens do not split into 3 frames
	for _, spec := range []string{"dtd", "dycoke", "fastvid", "prunevid", "holitom"} {
		m, _ := Parse(spec)
		if _, err := m.Pre.Apply(v, 5); !errors.Is(err, ErrBadInput) {
			t.Errorf("%s: %v", spec, err)
		}
	}
	for _, spec := range []string{"dycoke:k=1", "dtd:scope=x", "fastvid:seed=-1", "holitom:max_window=1", "prunevid:ratio=0"} {
		if _, err := Parse(spec); !errors.Is(err, ErrBadValue) {
			t.Errorf("Parse(%q): %v", spec, err)
		}
	}
}

// A seed makes the DPC noise reproducible and only changes tie-breaking.
func TestTemporalSeed(t *testing.T) {
	v := testVisual(3, 8*16, 3, "rand")
	v.Frames = 8
	a, _ := FastVID{C: 8, Tau: 0.9, D: 0.4, P: 4, Beta: 0.6, KNN: 4, Seed: "7"}.Apply(v, 40)
	b, _ := FastVID{C: 8, Tau: 0.9, D: 0.4, P: 4, Beta: 0.6, KNN: 4, Seed: "7"}.Apply(v, 40)
	c, _ := FastVID{C: 8, Tau: 0.9, D: 0.4, P: 4, Beta: 0.6, KNN: 4}.Apply(v, 40)
	if !slices.Equal(a.Source, b.Source) || !slices.Equal(a.Features.Data, b.Features.Data) {
		t.Error("same seed, different result")
	}
	if !slices.Equal(a.Source, c.Source) { // random features: no ties, 1e-6 noise changes nothing
		t.Errorf("noise changed a tie-free selection: %v vs %v", a.Source, c.Source)
	}
}

// 16 frames × 196 tokens × 896 (LLaVA-OneVision's pooled frames, Qwen2-0.5B
// width): go test ./pruning -run '^$' -bench Temporal -benchtime 3x
func BenchmarkTemporal(b *testing.B) {
	v := testVisual(11, 16*196, 896, "rand")
	v.Frames, v.CLSAttn = 16, nil
	for _, spec := range []string{"dtd", "dycoke", "fastvid", "prunevid", "holitom"} {
		m, _ := Parse(spec)
		keep := 16 * 196 / 10
		b.Run(spec, func(b *testing.B) {
			for range b.N {
				if _, err := m.Pre.Apply(v, keep); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
