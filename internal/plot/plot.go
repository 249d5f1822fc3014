// Package plot draws vlmrun's charts as PNG files with gonum.org/v1/plot.
// It is the one package that imports gonum/plot. Its drawing functions
// (this file) know nothing of benchmarks or evaluations: callers give them
// named series of points; charts.go builds vlmrun's own charts (latency,
// accuracy, Pareto) from bench and eval reports, for the CLI, the server,
// tests and other programs alike.
package plot

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Point is one data point. When Low < High, an error bar spans Low..High
// (absolute values, e.g. min..p90).
type Point struct {
	X, Y      float64
	Low, High float64
}

// Style is how a series is drawn.
type Style int

// Series styles.
const (
	Lines   Style = iota // line through the points, with markers
	Markers              // markers only
	Dashed               // dashed line, no markers (a reference or a frontier)
)

// Series is a named set of points. Index picks its colour and marker
// (plotutil's palettes), so that one method keeps its look across charts;
// a negative Index draws it in black.
type Series struct {
	Name   string
	Index  int
	Style  Style
	Points []Point
}

// Panel is one chart.
type Panel struct {
	Title, XLabel, YLabel string
	Series                []Series
	// Legend draws the series names on this panel, in the corner
	// LegendAt names: "top left", "top right", "bottom left" or
	// "bottom right" (the default).
	Legend   bool
	LegendAt string
}

// Write draws one panel into a PNG file of width×height centimetres.
func Write(path string, p Panel, width, height float64) error {
	return WriteGrid(path, "", []Panel{p}, 1, width, height)
}

// WriteGrid draws panels in a grid of cols columns (as many rows as
// needed) under an overall title ("" for none) into one PNG file of
// width×height centimetres.
func WriteGrid(path, title string, panels []Panel, cols int, width, height float64) error {
	if len(panels) == 0 || cols < 1 {
		return fmt.Errorf("plot: nothing to draw")
	}
	rows := (len(panels) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*plot.Plot, cols)
	}
	for i, pn := range panels {
		pl, err := build(pn)
		if err != nil {
			return fmt.Errorf("plot: %s: %w", pn.Title, err)
		}
		grid[i/cols][i%cols] = pl
	}
	img := vgimg.New(vg.Length(width)*vg.Centimeter, vg.Length(height)*vg.Centimeter)
	dc := draw.New(img)
	if title != "" {
		sty := plot.New().Title.TextStyle
		sty.Font.Size = vg.Points(14)
		h := sty.Rectangle(title).Size().Y + vg.Millimeter*4
		dc.FillText(sty, vg.Point{X: dc.Center().X, Y: dc.Max.Y - h/2 - sty.FontExtents().Descent}, title)
		dc = draw.Crop(dc, 0, 0, 0, -h)
	}
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(grid, tiles, dc)
	for r := range grid {
		for c, pl := range grid[r] {
			if pl != nil {
				pl.Draw(canvases[r][c])
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plot: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

func build(pn Panel) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = pn.Title
	p.X.Label.Text = pn.XLabel
	p.Y.Label.Text = pn.YLabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = strings.HasPrefix(pn.LegendAt, "top")
	p.Legend.Left = strings.HasSuffix(pn.LegendAt, "left")
	for _, s := range pn.Series {
		if len(s.Points) == 0 {
			continue
		}
		pts := slices.Clone(s.Points)
		if s.Style != Markers {
			slices.SortStableFunc(pts, func(a, b Point) int { return cmpFloat(a.X, b.X) })
		}
		xys := make(plotter.XYs, len(pts))
		var errs plotter.YErrors
		for i, q := range pts {
			xys[i] = plotter.XY{X: q.X, Y: q.Y}
			if q.Low < q.High {
				errs = append(errs, struct{ Low, High float64 }{q.Y - q.Low, q.High - q.Y})
			} else {
				errs = append(errs, struct{ Low, High float64 }{0, 0})
			}
		}
		col, shape := color.Color(color.Black), draw.GlyphDrawer(draw.CircleGlyph{})
		if s.Index >= 0 {
			col, shape = plotutil.Color(s.Index), plotutil.Shape(s.Index)
		}
		var thumbs []plot.Thumbnailer
		if s.Style == Lines || s.Style == Dashed {
			l, err := plotter.NewLine(xys)
			if err != nil {
				return nil, err
			}
			l.Color = col
			l.Width = vg.Points(1.5)
			if s.Style == Dashed {
				l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
			}
			p.Add(l)
			thumbs = append(thumbs, l)
		}
		if s.Style != Dashed {
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle.Color = col
			sc.GlyphStyle.Shape = shape
			sc.GlyphStyle.Radius = vg.Points(3)
			p.Add(sc)
			thumbs = append(thumbs, sc)
			if hasBars(errs) {
				eb, err := plotter.NewYErrorBars(struct {
					plotter.XYs
					plotter.YErrors
				}{xys, errs})
				if err != nil {
					return nil, err
				}
				eb.Color = col
				p.Add(eb)
			}
		}
		if pn.Legend && s.Name != "" {
			p.Legend.Add(s.Name, thumbs...)
		}
	}
	return p, nil
}

func hasBars(e plotter.YErrors) bool {
	for _, x := range e {
		if x.Low != 0 || x.High != 0 {
			return true
		}
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Frontier returns the Pareto-optimal points for "lower X, higher Y":
// those no other point beats on both (lower or equal X and higher or equal
// Y, one strictly), sorted by X.
func Frontier(pts []Point) []Point {
	s := slices.Clone(pts)
	slices.SortStableFunc(s, func(a, b Point) int {
		if c := cmpFloat(a.X, b.X); c != 0 {
			return c
		}
		return cmpFloat(b.Y, a.Y)
	})
	var out []Point
	best := math.Inf(-1)
	for _, p := range s {
		if p.Y > best {
			out = append(out, p)
			best = p.Y
		}
	}
	return out
}
