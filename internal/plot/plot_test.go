package plot

import (
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFrontier(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in, want []Point
	}{
		{"empty", nil, nil},
		{"dominated", []Point{{X: 1, Y: 0.5}, {X: 2, Y: 0.4}, {X: 3, Y: 0.9}},
			[]Point{{X: 1, Y: 0.5}, {X: 3, Y: 0.9}}},
		{"ties keep the better y", []Point{{X: 2, Y: 0.6}, {X: 2, Y: 0.8}, {X: 1, Y: 0.8}},
			[]Point{{X: 1, Y: 0.8}}},
		{"all optimal", []Point{{X: 3, Y: 3}, {X: 1, Y: 1}, {X: 2, Y: 2}},
			[]Point{{X: 1, Y: 1}, {X: 2, Y: 2}, {X: 3, Y: 3}}},
	} {
		if got := Frontier(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Frontier = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	series := []Series{
		{Name: "none", Index: -1, Style: Markers, Points: []Point{{X: 1, Y: 10}}},
		{Name: "a", Index: 0, Points: []Point{{X: 0.5, Y: 6, Low: 5, High: 7}, {X: 0.25, Y: 4}, {X: 1, Y: 10}}},
		{Name: "frontier", Index: -1, Style: Dashed, Points: []Point{{X: 0.25, Y: 4}, {X: 1, Y: 10}}},
		{Name: "empty", Index: 1},
	}
	one := filepath.Join(dir, "one.png")
	if err := Write(one, Panel{Title: "t", XLabel: "x", YLabel: "y", Series: series, Legend: true}, 16, 10); err != nil {
		t.Fatal(err)
	}
	grid := filepath.Join(dir, "grid.png")
	panels := []Panel{{Title: "p1", Series: series, Legend: true, LegendAt: "top left"}, {Title: "p2", Series: series}, {Title: "p3", Series: series}}
	if err := WriteGrid(grid, "overall", panels, 2, 24, 18); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		w, h int
	}{{one, 16, 10}, {grid, 24, 18}} {
		f, err := os.Open(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		// vgimg draws at 96 dpi by default.
		w, h := int(float64(tc.w)/2.54*96+0.5), int(float64(tc.h)/2.54*96+0.5)
		if err != nil || abs(cfg.Width-w) > 1 || abs(cfg.Height-h) > 1 {
			t.Errorf("%s: %v, %dx%d, want about %dx%d", tc.path, err, cfg.Width, cfg.Height, w, h)
		}
	}
	if err := WriteGrid(filepath.Join(dir, "x.png"), "", nil, 1, 10, 10); err == nil {
		t.Error("no panels: no error")
	}
	if err := Write(filepath.Join(dir, "no", "such", "dir.png"), Panel{Series: series}, 10, 10); err == nil {
		t.Error("unwritable path: no error")
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
