// Package tiles decides which tiles of a split image are worth encoding,
// in Go on the preprocessed pixels and before any ONNX Runtime call.
//
// Image-splitting families (SmolVLM/Idefics3) cut a large image into
// T×T tiles plus a global image and run the vision encoder on each; on a
// CPU the encoder dominates end-to-end time. A tile is skipped when it
// carries no information the rest of the image does not already give:
//
//   - near-uniform: all but a tiny fraction (MaxOutlierFrac) of its pixels
//     lie within Delta of the tile's per-channel mean, in every channel;
//   - a near duplicate: all but the same tiny fraction of its values lie
//     within Delta of an earlier kept tile's values at the same place.
//
// The statistic is an outlier count, not a standard deviation, so a small
// object on a plain background (a few hundred pixels) keeps its tile: the
// standard deviation of a 512×512 tile holding a 10×10 object is only about
// 2 % of the object's contrast, while its outlier count is 100 pixels. The
// global image (and any tile after the grid) is never skipped.
package tiles

import (
	"fmt"
	"math"
	"strings"
)

// Defaults, in the normalized units of the family's pixel tensor (SmolVLM
// normalizes to [-1, 1], so 0.06 is about 8 grey levels of 255).
const (
	DefaultDelta          = 0.06
	DefaultMaxOutlierFrac = 1e-4 // 26 pixels of a 512×512 tile (about 5×5)
)

// Options selects the skipping rules. The zero value skips nothing.
type Options struct {
	Uniform    bool // skip near-uniform tiles
	Duplicates bool // skip near duplicates of an earlier kept tile
	// Delta is the largest |difference| that counts as "the same"
	// (0: DefaultDelta).
	Delta float32
	// MaxOutlierFrac is the largest fraction of a tile's pixels (uniform)
	// or values (duplicates) allowed beyond Delta (0: DefaultMaxOutlierFrac;
	// negative: none).
	MaxOutlierFrac float64
}

// Default returns both rules with the default thresholds.
func Default() Options { return Options{Uniform: true, Duplicates: true} }

// Enabled reports whether any rule is on.
func (o Options) Enabled() bool { return o.Uniform || o.Duplicates }

func (o Options) delta() float32 {
	if o.Delta > 0 {
		return o.Delta
	}
	return DefaultDelta
}

// maxOutliers is the allowed outlier count among n items.
func (o Options) maxOutliers(n int) int {
	f := o.MaxOutlierFrac
	if f == 0 {
		f = DefaultMaxOutlierFrac
	}
	if f < 0 {
		return 0
	}
	return int(math.Floor(f * float64(n)))
}

// Reason says why a tile was skipped.
type Reason string

// The reasons.
const (
	Kept      Reason = ""
	Uniform   Reason = "uniform"
	Duplicate Reason = "duplicate"
)

// Decision is the outcome for one image.
type Decision struct {
	Keep   []bool   // per tile (grid tiles, then the rest), true = encode
	Reason []Reason // per tile
	// DupOf[i] is the kept tile that tile i duplicates (-1 otherwise).
	DupOf []int
}

// Skipped returns how many tiles are skipped.
func (d Decision) Skipped() int {
	n := 0
	for _, k := range d.Keep {
		if !k {
			n++
		}
	}
	return n
}

// Shape describes a batch of CHW tiles: Tiles of C×H×W float32 values, the
// first Grid of which may be skipped.
type Shape struct {
	Tiles, Grid, C, H, W int
}

func (s Shape) per() int { return s.C * s.H * s.W }

func (s Shape) check(n int) error {
	if s.Tiles <= 0 || s.C <= 0 || s.H <= 0 || s.W <= 0 || s.Grid < 0 || s.Grid > s.Tiles {
		return fmt.Errorf("tiles: bad shape %+v", s)
	}
	if n != s.Tiles*s.per() {
		return fmt.Errorf("tiles: %d values for %d tiles of %d×%d×%d", n, s.Tiles, s.C, s.H, s.W)
	}
	return nil
}

// Select applies o to data (s.Tiles CHW tiles back to back).
func Select(data []float32, s Shape, o Options) (Decision, error) {
	if err := s.check(len(data)); err != nil {
		return Decision{}, err
	}
	d := Decision{Keep: make([]bool, s.Tiles), Reason: make([]Reason, s.Tiles), DupOf: make([]int, s.Tiles)}
	for i := range d.Keep {
		d.Keep[i], d.DupOf[i] = true, -1
	}
	per := s.per()
	tile := func(i int) []float32 { return data[i*per : (i+1)*per] }
	delta := o.delta()
	var kept []int
	for i := 0; i < s.Grid; i++ {
		t := tile(i)
		if o.Uniform && NearUniform(t, s.C, delta, o.maxOutliers(s.H*s.W)) {
			d.Keep[i], d.Reason[i] = false, Uniform
			continue
		}
		if o.Duplicates {
			for _, j := range kept {
				if NearSame(t, tile(j), delta, o.maxOutliers(per)) {
					d.Keep[i], d.Reason[i], d.DupOf[i] = false, Duplicate, j
					break
				}
			}
			if !d.Keep[i] {
				continue
			}
		}
		kept = append(kept, i)
	}
	return d, nil
}

// NearUniform reports whether at most maxOut pixels of the CHW tile t (c
// channels) differ from the channel's mean by more than delta in some
// channel.
func NearUniform(t []float32, c int, delta float32, maxOut int) bool {
	hw := len(t) / c
	if hw == 0 {
		return true
	}
	// The channel means, then one pass marking outlier pixels; a pixel
	// counts once whichever channels are off.
	means := make([]float32, c)
	for ch := 0; ch < c; ch++ {
		var sum float64
		for _, v := range t[ch*hw : (ch+1)*hw] {
			sum += float64(v)
		}
		means[ch] = float32(sum / float64(hw))
	}
	if c == 1 {
		return countOff(t, means[0], delta, maxOut) <= maxOut
	}
	var off []bool
	n := 0
	for ch := 0; ch < c; ch++ {
		m := means[ch]
		for p, v := range t[ch*hw : (ch+1)*hw] {
			if v-m > delta || m-v > delta {
				if off == nil {
					off = make([]bool, hw)
				}
				if !off[p] {
					off[p] = true
					n++
					if n > maxOut {
						return false
					}
				}
			}
		}
	}
	return true
}

// countOff counts values farther than delta from m, stopping past maxOut.
func countOff(t []float32, m, delta float32, maxOut int) int {
	n := 0
	for _, v := range t {
		if v-m > delta || m-v > delta {
			n++
			if n > maxOut {
				return n
			}
		}
	}
	return n
}

// NearSame reports whether at most maxOut values of a and b (same length)
// differ by more than delta.
func NearSame(a, b []float32, delta float32, maxOut int) bool {
	if len(a) != len(b) {
		return false
	}
	n := 0
	for i, v := range a {
		if d := v - b[i]; d > delta || -d > delta {
			n++
			if n > maxOut {
				return false
			}
		}
	}
	return true
}

// Compact returns the kept tiles of data, back to back (data itself when
// every tile is kept).
func Compact(data []float32, s Shape, keep []bool) ([]float32, error) {
	if err := s.check(len(data)); err != nil {
		return nil, err
	}
	if len(keep) != s.Tiles {
		return nil, fmt.Errorf("tiles: %d keep flags for %d tiles", len(keep), s.Tiles)
	}
	per := s.per()
	n := 0
	for _, k := range keep {
		if k {
			n++
		}
	}
	if n == s.Tiles {
		return data, nil
	}
	out := make([]float32, 0, n*per)
	for i, k := range keep {
		if k {
			out = append(out, data[i*per:(i+1)*per]...)
		}
	}
	return out, nil
}

// Parse reads a rule list: "off" (or "none", ""), "on" (or "all": both
// rules), or a comma-separated list of "uniform" and "duplicates".
func Parse(s string) (Options, error) {
	var o Options
	switch strings.TrimSpace(s) {
	case "", "off", "none":
		return o, nil
	case "on", "all":
		return Default(), nil
	}
	for _, f := range strings.Split(s, ",") {
		switch strings.TrimSpace(f) {
		case "uniform":
			o.Uniform = true
		case "duplicates", "duplicate", "dup":
			o.Duplicates = true
		default:
			return Options{}, fmt.Errorf("tiles: unknown rule %q (want off, on, uniform, duplicates)", f)
		}
	}
	return o, nil
}

// String is the rule list Parse reads.
func (o Options) String() string {
	switch {
	case o.Uniform && o.Duplicates:
		return "on"
	case o.Uniform:
		return "uniform"
	case o.Duplicates:
		return "duplicates"
	}
	return "off"
}
