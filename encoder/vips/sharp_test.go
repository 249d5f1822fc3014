package vips_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vlmrun/vlmrun/encoder/vips"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/internal/tjsref"
)

// sharpCase is one resize for scripts/transformersjs-ref/resize.js: a
// RawImage.resize (Resample set), a sharp resize (Kernel) or a sharp
// affine (Interpolator).
type sharpCase struct {
	Name         string `json:"name"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	Channels     int    `json:"channels"`
	OutWidth     int    `json:"out_width"`
	OutHeight    int    `json:"out_height"`
	Resample     *int   `json:"resample,omitempty"`
	Kernel       string `json:"kernel,omitempty"`
	Interpolator string `json:"interpolator,omitempty"`

	img vips.Image
}

var kernelsByName = map[string]vips.Kernel{"linear": vips.Linear, "cubic": vips.Cubic, "mitchell": vips.Mitchell,
	"lanczos2": vips.Lanczos2, "lanczos3": vips.Lanczos3, "mks2013": vips.MKS2013, "mks2021": vips.MKS2021}

var interpsByName = map[string]vips.Interpolator{"nearest": vips.Nearest, "bilinear": vips.Bilinear, "bicubic": vips.Bicubic}

// resize runs the case through the package.
func (c sharpCase) resize() (vips.Image, error) {
	switch {
	case c.Resample != nil:
		return vips.Transformers(c.img, c.OutWidth, c.OutHeight, *c.Resample)
	case c.Kernel != "":
		return vips.SharpResize(c.img, c.OutWidth, c.OutHeight, kernelsByName[c.Kernel])
	}
	return vips.SharpAffine(c.img, c.OutWidth, c.OutHeight, interpsByName[c.Interpolator])
}

// randomImage is noise, or a smooth gradient with some noise.
func randomImage(rng *rand.Rand, w, h, bands int) vips.Image {
	img := vips.Image{Pix: make([]uint8, w*h*bands), Width: w, Height: h, Bands: bands}
	smooth := rng.IntN(3) == 0
	for i := range img.Pix {
		if smooth {
			x, y := (i/bands)%w, (i/bands)/w
			img.Pix[i] = uint8((x*255/max(w, 1) + y*97/max(h, 1) + 40*(i%bands) + rng.IntN(9)) % 256)
		} else {
			img.Pix[i] = uint8(rng.IntN(256))
		}
	}
	return img
}

// sizePair draws an input and an output size of one of several shapes.
func sizePair(rng *rand.Rand, kind int) (w, h, ow, oh int) {
	r := func(lo, hi int) int { return lo + rng.IntN(hi-lo+1) }
	switch kind % 8 {
	case 0: // tiny, either way
		return r(1, 8), r(1, 8), r(1, 12), r(1, 12)
	case 1: // upscale
		w, h = r(2, 60), r(2, 60)
		return w, h, w * r(2, 9) / r(1, 2), h * r(2, 9) / r(1, 2)
	case 2: // mild downscale
		w, h = r(40, 400), r(40, 400)
		return w, h, max(1, w*r(50, 99)/100), max(1, h*r(50, 99)/100)
	case 3: // large factors (box shrink first)
		w, h = r(200, 1200), r(200, 900)
		return w, h, r(1, w/5), r(1, h/5)
	case 4: // wide
		return r(200, 900), r(1, 12), r(20, 500), r(1, 30)
	case 5: // tall
		return r(1, 12), r(200, 900), r(1, 30), r(20, 500)
	case 6: // one axis up, the other down
		w, h = r(20, 300), r(20, 300)
		if rng.IntN(2) == 0 {
			return w, h, w * r(2, 4), max(1, h/r(2, 9))
		}
		return w, h, max(1, w/r(2, 9)), h * r(2, 4)
	}
	// square and near-identity
	w = r(1, 300)
	return w, w, max(1, w+r(-3, 3)), max(1, w+r(-3, 3))
}

// sharpCases draws the differential cases: transformers.js's four
// resample paths on RGB (48 rounds of the eight shapes), sharp's other
// kernels and grey images (16 rounds). $VLMRUN_VIPS_ROUNDS multiplies the
// rounds for a longer search.
func sharpCases(rng *rand.Rand) []sharpCase {
	scale := 1
	if v, err := strconv.Atoi(os.Getenv("VLMRUN_VIPS_ROUNDS")); err == nil && v > 1 {
		scale = v
	}
	var cases []sharpCase
	add := func(c sharpCase, kind int) {
		c.Width, c.Height, c.OutWidth, c.OutHeight = sizePair(rng, kind)
		if c.Width == c.OutWidth && c.Height == c.OutHeight {
			c.OutWidth++
		}
		c.Name = fmt.Sprintf("c%03d", len(cases))
		c.img = randomImage(rng, c.Width, c.Height, c.Channels)
		cases = append(cases, c)
	}
	for kind := 0; kind < 48*scale; kind++ {
		for _, rs := range []int{0, 1, 2, 3} {
			add(sharpCase{Channels: 3, Resample: &rs}, kind)
		}
	}
	for kind := 0; kind < 16*scale; kind++ {
		for _, k := range []string{"linear", "cubic", "mitchell", "lanczos2", "mks2013", "mks2021"} {
			add(sharpCase{Channels: 3, Kernel: k}, kind)
		}
		add(sharpCase{Channels: 1, Kernel: "lanczos3"}, kind)
		add(sharpCase{Channels: 1, Interpolator: "bicubic"}, kind)
	}
	return cases
}

// TestSharpDifferential resizes random images of many shapes with the
// package and with transformers.js / sharp in Node, and requires identical
// bytes.
func TestSharpDifferential(t *testing.T) {
	if !tjsref.Available(t, false) {
		t.Skip("transformers.js / sharp not installed: nothing to compare with")
	}
	cases := sharpCases(rand.New(rand.NewPCG(19, 5)))
	dir := t.TempDir()
	for _, c := range cases {
		if err := os.WriteFile(filepath.Join(dir, c.Name+".in"), c.img.Pix, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	casesPath := filepath.Join(dir, "cases.json")
	if err := os.WriteFile(casesPath, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "resize.js", casesPath, dir)
	cmd.Dir = filepath.Join(testenv.Repo(t), "scripts", "transformersjs-ref")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sharp reference failed: %v\n%s", err, out)
	}
	bad := 0
	for _, c := range cases {
		what := fmt.Sprintf("%s %d×%d×%d → %d×%d resample %v kernel %q interpolator %q", c.Name,
			c.Width, c.Height, c.Channels, c.OutWidth, c.OutHeight, deref(c.Resample), c.Kernel, c.Interpolator)
		var info struct{ Width, Height, Channels int }
		data, err := os.ReadFile(filepath.Join(dir, c.Name+".json"))
		if err == nil {
			err = json.Unmarshal(data, &info)
		}
		want, err2 := os.ReadFile(filepath.Join(dir, c.Name+".out"))
		if err != nil || err2 != nil {
			t.Fatalf("%s: reference output: %v %v", what, err, err2)
		}
		got, err := c.resize()
		if err != nil {
			t.Errorf("%s: %v", what, err)
			bad++
			continue
		}
		if info.Channels != c.Channels {
			// sharp gives a grey image back as sRGB: keep band 0.
			grey := make([]byte, len(want)/info.Channels)
			for i := range grey {
				grey[i] = want[i*info.Channels]
			}
			want = grey
		}
		if got.Width != info.Width || got.Height != info.Height || len(got.Pix) != len(want) {
			t.Errorf("%s: size %d×%d, reference %d×%d", what, got.Width, got.Height, info.Width, info.Height)
			bad++
			continue
		}
		diff, first, maxd := 0, -1, 0
		for i := range want {
			if got.Pix[i] != want[i] {
				if first < 0 {
					first = i
				}
				diff++
				maxd = max(maxd, abs(int(got.Pix[i])-int(want[i])))
			}
		}
		if diff > 0 {
			px := first / c.Channels
			t.Errorf("%s: %d of %d bytes differ (max %d), first at (%d, %d) band %d: %d, reference %d", what, diff,
				len(want), maxd, px%got.Width, px/got.Width, first%c.Channels, got.Pix[first], want[first])
			bad++
		}
	}
	t.Logf("%d cases, %d differ", len(cases), bad)
}

func deref(p *int) any {
	if p == nil {
		return "-"
	}
	return *p
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
