package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"slices"
	"sync"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"
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
	prompt := fs.String("prompt", "", "prompt for in-decoder methods (default: the model's task)")
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
	if m.In != nil {
		req := pipeline.Request{}
		if err := (pipeline.PruneSpec{Method: *method, Keep: *keepS, MethodName: "--prune", KeepName: "--keep"}).Apply(&req); err != nil {
			return exitCode(stderr, "explain", usagef("%v", err))
		}
		return exitCode(stderr, "explain", explainInDecoder(&mf, req.In, fs.Arg(0), *prompt, *out, *scale, stdout))
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
	oo, err := ortOptions(*mf)
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
	}, oo)
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
	if err := writePNG(out, canvas); err != nil {
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
	return drawPanels(img, n, kept, group, px, gh, gw, scale, side)
}

// drawPanels draws the n tokens' cells: kept ones framed (in their group's
// colour), the tokens of a merge group tinted, the others darkened. group
// may be nil (no merging).
func drawPanels(img *image.NRGBA, n int, kept []bool, group []int, px models.Pixels, gh, gw, scale, side int) (*image.NRGBA, error) {
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
	if group == nil {
		group = make([]int, n)
		for j := range group {
			group[j] = -1
			if kept[j] {
				group[j] = j
			}
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

// recorder wraps an in-decoder method and records, at every boundary, which
// of the visual tokens present it kept and how many recycled rows it added.
// It forwards the optional interfaces the decoder asks for (Recycler,
// Merger, RowRequester); without them it behaves as the method does.
type recorder struct {
	pruning.InDecoder
	mu    sync.Mutex
	steps []recStep
}

type recStep struct {
	layer  int
	keep   []int
	merged int
}

func (r *recorder) add(layer int, keep []int, merged int) {
	r.mu.Lock()
	r.steps = append(r.steps, recStep{layer, slices.Clone(keep), merged})
	r.mu.Unlock()
}

// Select implements pruning.InDecoder.
func (r *recorder) Select(b *pruning.Boundary, total int) ([]int, error) {
	keep, err := r.InDecoder.Select(b, total)
	if err == nil {
		r.add(b.Layer, keep, 0)
	}
	return keep, err
}

// SelectRecycle implements pruning.Recycler.
func (r *recorder) SelectRecycle(b *pruning.Boundary, total int) ([]int, pruning.Matrix, error) {
	rc, ok := r.InDecoder.(pruning.Recycler)
	if !ok {
		keep, err := r.Select(b, total)
		return keep, pruning.Matrix{}, err
	}
	keep, merged, err := rc.SelectRecycle(b, total)
	if err == nil {
		r.add(b.Layer, keep, merged.Rows)
	}
	return keep, merged, err
}

// SelectMerge implements pruning.Merger (no rows rewritten for a method
// that does not merge).
func (r *recorder) SelectMerge(b *pruning.Boundary, total int) ([]int, pruning.Matrix, error) {
	mg, ok := r.InDecoder.(pruning.Merger)
	if !ok {
		keep, err := r.Select(b, total)
		return keep, pruning.Matrix{}, err
	}
	keep, rows, err := mg.SelectMerge(b, total)
	if err == nil {
		r.add(b.Layer, keep, 0)
	}
	return keep, rows, err
}

// QueryRows implements pruning.RowRequester (no rows for a method that asks
// for none).
func (r *recorder) QueryRows(b *pruning.Boundary) ([]int, error) {
	if rr, ok := r.InDecoder.(pruning.RowRequester); ok {
		return rr.QueryRows(b)
	}
	return nil, nil
}

// explainInDecoder runs the prefill with the method and draws, one row of
// panels per boundary, the original visual tokens still present after it
// (recycled rows have no place on the image and are counted on stdout).
func explainInDecoder(mf *modelFlags, in pruning.InDecoder, path, prompt, out string, scale int, stdout io.Writer) error {
	p, err := mf.open()
	if err != nil {
		return err
	}
	defer p.Close()
	if in, err = pruning.FitDepth(in, p.Spec.Text.Layers); err != nil {
		return usagef("--prune: %v", err)
	}
	rec := &recorder{InDecoder: in}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	res, err := p.Caption(context.Background(), path, bytes.NewReader(data),
		pipeline.Request{In: rec, Prompt: prompt, MaxNewTokens: 1}, nil)
	if err != nil {
		return err
	}
	lim := encoder.DefaultLimits
	if mf.maxPixels > 0 {
		lim.MaxPixels = mf.maxPixels
	}
	img, _, err := encoder.DecodeImage(path, bytes.NewReader(data), lim)
	if err != nil {
		return err
	}
	spec := p.Spec
	px := models.Pixels{Images: 1}
	if spec.PreprocessImage != nil {
		if px, err = spec.PreprocessImage(img); err != nil {
			return err
		}
	}
	n := res.Visual.Before
	orig := make([]int, n)
	for i := range orig {
		orig[i] = i
	}
	var rows []*image.NRGBA
	for _, st := range rec.steps {
		next := make([]int, 0, len(st.keep)+st.merged)
		for _, k := range st.keep {
			if k < 0 || k >= len(orig) {
				return fmt.Errorf("explain: %s kept index %d of %d", in.Name(), k, len(orig))
			}
			next = append(next, orig[k])
		}
		for range st.merged {
			next = append(next, -1)
		}
		orig = next
		kept := make([]bool, n)
		present, recycled := 0, 0
		for _, j := range orig {
			if j >= 0 {
				kept[j] = true
				present++
			} else {
				recycled++
			}
		}
		panel, err := drawPanels(img, n, kept, nil, px, spec.GridH, spec.GridW, scale, spec.Preprocess.Width)
		if err != nil {
			return err
		}
		rows = append(rows, panel)
		fmt.Fprintf(stdout, "row %d: after layer %d, %d of %d visual tokens present", len(rows), st.layer, present, n)
		if recycled > 0 {
			fmt.Fprintf(stdout, " (+%d recycled)", recycled)
		}
		fmt.Fprintln(stdout)
	}
	if len(rows) == 0 {
		return fmt.Errorf("explain: %s made no selection during the prefill", in.Name())
	}
	W, H := rows[0].Bounds().Dx(), rows[0].Bounds().Dy()
	canvas := image.NewNRGBA(image.Rect(0, 0, W, len(rows)*H+(len(rows)-1)*8))
	for i, r := range rows {
		draw.Draw(canvas, image.Rect(0, i*(H+8), W, i*(H+8)+H), r, image.Point{}, draw.Src)
	}
	if err := writePNG(out, canvas); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s, %d boundaries; wrote %s\n", path, in.Name(), len(rows), out)
	return nil
}

func writePNG(path string, img image.Image) error {
	w, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(w, img); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
