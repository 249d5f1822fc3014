package main

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pruning"
)

// cmdExplain writes a PNG of an image with the visual tokens a pre-decoder
// pruning method keeps drawn over it: kept tokens bright with a coloured
// frame, dropped tokens darkened; for merging methods (a kept token that
// stands for several) every dropped token is tinted with the colour of the
// merged token (size > 1) whose features are nearest (cosine) — the groups are
// not part of pruning.Result, so this is how the groups are drawn.
//
// Token cells: a single-image model's GridH×GridW grid covers the whole
// image; a split image (SmolVLM) draws its tiles' tokens on their tiles and
// the global image's tokens on the whole image in a second panel.
// In-decoder methods select inside the decoder from its attention and are
// refused here.
func cmdExplain(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("explain", stderr, func(fs *pflag.FlagSet) {
		fmt.Fprintln(stderr, "usage: vlmrun explain --prune METHOD [--keep K] [--out FILE.png] [flags] IMAGE")
		fs.PrintDefaults()
	})
	var mf modelFlags
	mf.register(fs)
	method := fs.String("prune", "divprune", "pre-decoder pruning method (vlmrun prune list)")
	keepS := fs.String("keep", "", "budget: a ratio such as 0.25 or a count such as 16 (default: the method's)")
	out := fs.String("out", "explain.png", "PNG to write")
	scale := new(int)
	intFlag(fs, scale, "scale", 4, 1, 16, "", "output pixels per pixel of the model's input image")
	if code, done := parseCommand(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		return exitCode(stderr, "explain", usagef("want one IMAGE, got %d arguments", fs.NArg()))
	}
	m, err := pruning.Parse(*method)
	if err != nil {
		return exitCode(stderr, "explain", usagef("--prune: %v", err))
	}
	if m.Pre == nil {
		return exitCode(stderr, "explain", usagef("--prune %s prunes inside the decoder; explain draws pre-decoder methods", m.Info.Name))
	}
	ks := *keepS
	if ks == "" {
		ks = m.Info.DefaultKeep
	}
	budget, err := pruning.ParseBudget(ks)
	if err != nil {
		return exitCode(stderr, "explain", usagef("--keep: %v", err))
	}
	err = explain(&mf, m.Pre, budget, fs.Arg(0), *out, *scale, stdout)
	return exitCode(stderr, "explain", err)
}

func explain(mf *modelFlags, pre pruning.PreDecoder, budget pruning.Budget, path, out string, scale int, stdout io.Writer) error {
	dt, err := models.ParseDTypes(mf.dtype)
	if err != nil {
		return usagef("--dtype: %v", err)
	}
	dir, err := mf.resolveModel()
	if err != nil {
		return err
	}
	if _, err := ortx.Setup(mf.ortLib); err != nil {
		return err
	}
	spec, err := models.LoadWith(dir, models.LoadOptions{DTypes: dt})
	if err != nil {
		return err
	}
	if mf.resizer != "" {
		spec.Preprocess.Resizer = mf.resizer
	}
	vis, err := encoder.OpenVision(encoder.VisionGraph{
		Path: spec.Files.Vision, Width: spec.Preprocess.Width, Height: spec.Preprocess.Height,
		Features: spec.Outputs.Features, PreProj: spec.Outputs.PreProj,
		CLSAttn: spec.Outputs.CLSAttn, Keys: spec.Outputs.Keys,
		GridH: spec.GridH, GridW: spec.GridW,
	}, ortx.Options{Threads: mf.threads})
	if err != nil {
		return err
	}
	defer vis.Destroy()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	lim := encoder.DefaultLimits
	if mf.maxPixels > 0 {
		lim.MaxPixels = mf.maxPixels
	}
	img, _, err := encoder.DecodeImage(path, f, lim)
	if err != nil {
		return err
	}
	px := models.Pixels{Images: 1}
	if spec.PreprocessImage != nil {
		px, err = spec.PreprocessImage(img)
	} else {
		px.Data, err = spec.Preprocess.Tensor(img)
	}
	if err != nil {
		return err
	}
	var v *pruning.Visual
	if px.Grids != nil { // flattened patches with their grid (Qwen2-VL)
		v, err = vis.EncodePatches(px.Data, px.PatchDim, px.Grids)
	} else {
		v, err = vis.EncodeChunks(px.Data, px.Images, 0)
	}
	if err != nil {
		return err
	}
	gh, gw := spec.GridH, spec.GridW
	if gh*gw != v.Features.Rows && v.GridH > 0 && v.GridH*v.GridW == v.Features.Rows {
		gh, gw = v.GridH, v.GridW // a grid that follows the image's size
	}
	if px.Rows > 0 && px.Cols > 0 {
		v.TileRows, v.TileCols = px.Rows, px.Cols
	}
	if err := pruning.Check(pre, v.Has()); err != nil {
		return err
	}
	n := v.Features.Rows
	keep, err := budget.Count(n)
	if err != nil {
		return err
	}
	res, err := pre.Apply(v, keep)
	if err != nil {
		return err
	}
	canvas, err := drawKept(img, v, res, px, gh, gw, scale, spec.Preprocess.Width)
	if err != nil {
		return err
	}
	w, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := png.Encode(w, canvas); err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s kept %d of %d visual tokens (keep %d); wrote %s\n", path, pre.Name(), len(res.Source), n, keep, out)
	return nil
}

// drawKept renders the overlay: one panel per view layout (the whole image
// for a single view; tiles, then the global image, for a split image).
func drawKept(img *image.NRGBA, v *pruning.Visual, res pruning.Result, px models.Pixels, gh, gw, scale, side int) (*image.NRGBA, error) {
	n := v.Features.Rows
	views := max(1, px.Images)
	if n%views != 0 {
		return nil, fmt.Errorf("explain: %d tokens are not %d equal views", n, views)
	}
	t := n / views
	if gh*gw != t {
		s := int(math.Round(math.Sqrt(float64(t))))
		if s*s != t {
			return nil, fmt.Errorf("explain: %d tokens per view have no known grid", t)
		}
		gh, gw = s, s
	}
	// colour of each output token; group of each input token (-1: dropped alone)
	group := make([]int, n)
	for j := range group {
		group[j] = -1
	}
	merging := false
	for i, s := range res.Source {
		if s >= 0 {
			group[s] = i
		}
		if res.Sizes != nil && res.Sizes[i] > 1 {
			merging = true
		}
	}
	if merging {
		assignNearest(v.Features, res, group)
	}
	kept := make([]bool, n)
	for _, s := range res.Source {
		if s >= 0 {
			kept[s] = true
		}
	}
	W := side * scale
	if W <= 0 {
		W = 96 * scale
	}
	panels := 1
	if views > 1 {
		panels = 2
	}
	out := image.NewNRGBA(image.Rect(0, 0, W*panels+(panels-1)*8, W))
	// base panels: the image stretched to a square, as the models resize it
	base := resizeNearest(img, W, W)
	for p := range panels {
		for y := range W {
			for x := range W {
				out.SetNRGBA(p*(W+8)+x, y, base.NRGBAAt(x, y))
			}
		}
	}
	cell := func(view, j int) (x0, y0, x1, y1, panel int) {
		r, c := j/gw, j%gw
		if views == 1 || view == views-1 { // the whole image
			panel = 0
			if views > 1 {
				panel = 1
			}
			return c * W / gw, r * W / gh, (c + 1) * W / gw, (r + 1) * W / gh, panel
		}
		R, C := px.Rows, px.Cols
		if R*C != views-1 {
			R = int(math.Round(math.Sqrt(float64(views - 1))))
			C = max(1, (views-1)/max(R, 1))
		}
		tr, tc := view/C, view%C
		tw, th := W/C, W/R
		return tc*tw + c*tw/gw, tr*th + r*th/gh, tc*tw + (c+1)*tw/gw, tr*th + (r+1)*th/gh, 0
	}
	for j := range n {
		x0, y0, x1, y1, panel := cell(j/t, j%t)
		ox := panel * (W + 8)
		col := palette(group[j])
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				c := out.NRGBAAt(ox+x, y)
				switch {
				case kept[j]:
					// unchanged pixels, coloured frame below
				case group[j] >= 0: // merged into a kept token: tint
					c = blend(c, col, 0.45)
					c = scaleRGB(c, 0.7)
				default:
					c = scaleRGB(c, 0.25)
				}
				out.SetNRGBA(ox+x, y, c)
			}
		}
		if kept[j] {
			for x := x0; x < x1; x++ {
				out.SetNRGBA(ox+x, y0, col)
				out.SetNRGBA(ox+x, y1-1, col)
			}
			for y := y0; y < y1; y++ {
				out.SetNRGBA(ox+x0, y, col)
				out.SetNRGBA(ox+x1-1, y, col)
			}
		}
	}
	return out, nil
}

// assignNearest gives every dropped token the group of the merged output
// token (size > 1) whose features are nearest by cosine.
func assignNearest(x pruning.Matrix, res pruning.Result, group []int) {
	for j := range group {
		if group[j] >= 0 {
			continue
		}
		best, bs := -1, math.Inf(-1)
		for i := range res.Features.Rows {
			if res.Sizes[i] < 2 {
				continue // a token kept alone absorbed nothing
			}
			if s := cos32(x.Row(j), res.Features.Row(i)); s > bs {
				best, bs = i, s
			}
		}
		group[j] = best
	}
}

func cos32(a, b []float32) float64 {
	var ab, aa, bb float64
	for k := range a {
		ab += float64(a[k]) * float64(b[k])
		aa += float64(a[k]) * float64(a[k])
		bb += float64(b[k]) * float64(b[k])
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

func palette(i int) color.NRGBA {
	if i < 0 {
		return color.NRGBA{255, 255, 255, 255}
	}
	h := math.Mod(float64(i)*0.618033988749895, 1)
	r, g, b := hsv(h, 0.85, 1)
	return color.NRGBA{r, g, b, 255}
}

func hsv(h, s, v float64) (uint8, uint8, uint8) {
	i := math.Floor(h * 6)
	f := h*6 - i
	p, q, t := v*(1-s), v*(1-f*s), v*(1-(1-f)*s)
	var r, g, b float64
	switch int(i) % 6 {
	case 0:
		r, g, b = v, t, p
	case 1:
		r, g, b = q, v, p
	case 2:
		r, g, b = p, v, t
	case 3:
		r, g, b = p, q, v
	case 4:
		r, g, b = t, p, v
	default:
		r, g, b = v, p, q
	}
	return uint8(r * 255), uint8(g * 255), uint8(b * 255)
}

func blend(a, b color.NRGBA, t float64) color.NRGBA {
	mix := func(x, y uint8) uint8 { return uint8(float64(x)*(1-t) + float64(y)*t) }
	return color.NRGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 255}
}

func scaleRGB(c color.NRGBA, f float64) color.NRGBA {
	return color.NRGBA{uint8(float64(c.R) * f), uint8(float64(c.G) * f), uint8(float64(c.B) * f), 255}
}

func resizeNearest(img *image.NRGBA, w, h int) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		sy := b.Min.Y + y*b.Dy()/h
		for x := range w {
			out.SetNRGBA(x, y, img.NRGBAAt(b.Min.X+x*b.Dx()/w, sy))
		}
	}
	return out
}
