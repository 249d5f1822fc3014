// Package scenes generates the synthetic scene world of the scenes-tiny
// captioning model in pure Go, renders scenes to images and scores captions.
//
// A scene is a square image with a light near-grey background and mild
// Gaussian pixel noise, divided into a 3×3 grid of equal cells. One to four
// distinct cells each hold one object: a circle, square, triangle or cross in
// one of six colours, small or large. The caption lists the objects in
// row-major cell order, e.g.
//
//	a small red circle at the top left , a large blue cross in the center and a small green triangle at the bottom right
//
// The grammar is the one of the Python training renderer
// (scripts/scenes/common.py and render_torch.py); this package is an
// independent implementation with its own random streams and its own
// rasteriser (4×4 supersampled, where training uses pixel-centre masks), so
// images generated here are held-out pixels for the model. Held-out
// evaluation uses seed 1000 (see cmd/gen-scenes); the Python trainer draws its
// data from numpy generators seeded with (1, step) and never sees these
// streams.
//
// Everything is deterministic: Generate(seed, index) always returns the same
// scene and Render the same bytes for a given Go toolchain (math/rand/v2 PCG
// streams; the golden tests pin the values).
package scenes

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strings"
)

// Grid is the number of cells along each side of a scene.
const Grid = 3

// MaxObjects is the largest number of objects in a scene.
const MaxObjects = 4

// Shapes are the shape names, in the order of the training code.
var Shapes = [...]string{"circle", "square", "triangle", "cross"}

// Colour is a named object colour with its base RGB value.
type Colour struct {
	Name string
	RGB  [3]uint8
}

// Colours are the object colours, in the order of the training code.
var Colours = [...]Colour{
	{"red", [3]uint8{215, 35, 35}},
	{"green", [3]uint8{40, 165, 55}},
	{"blue", [3]uint8{40, 75, 215}},
	{"yellow", [3]uint8{235, 205, 25}},
	{"purple", [3]uint8{140, 55, 185}},
	{"orange", [3]uint8{245, 130, 25}},
}

// SizeRange is a named object size: the half-extent of the object as a
// fraction of the cell side is uniform in [Min, Max).
type SizeRange struct {
	Name     string
	Min, Max float64
}

// Sizes are the object sizes, in the order of the training code.
var Sizes = [...]SizeRange{
	{"small", 0.23, 0.27},
	{"large", 0.37, 0.43},
}

// Positions are the caption phrases of the nine cells in row-major order.
var Positions = [...]string{
	"at the top left", "at the top", "at the top right",
	"on the left", "in the center", "on the right",
	"at the bottom left", "at the bottom", "at the bottom right",
}

// Limits of the scene parameters.
const (
	ColourJitter = 20  // each object channel is its colour's base ±ColourJitter
	BackMin      = 165 // smallest background base and channel value
	BackMax      = 250 // largest background base and channel value
	BackSpread   = 12  // background channels are within ±BackSpread of the base
	NoiseMin     = 1.0 // smallest pixel-noise standard deviation
	NoiseMax     = 6.0 // largest pixel-noise standard deviation
)

// Object is one object of a scene.
//
// FX and FY are the centre as fractions of the cell side inside the object's
// cell (0 is the cell's left or top edge), Half is the half-extent as a
// fraction of the cell side; FX-Half >= 0 and FX+Half <= 1, likewise for FY,
// so the object lies fully inside its cell. RGB is the jittered colour.
type Object struct {
	Cell   int      `json:"cell"`
	Shape  string   `json:"shape"`
	Colour string   `json:"colour"`
	Size   string   `json:"size"`
	FX     float64  `json:"fx"`
	FY     float64  `json:"fy"`
	Half   float64  `json:"half"`
	RGB    [3]uint8 `json:"rgb"`
}

// Scene is a generated scene: its objects in ascending cell order, the
// background colour, the pixel-noise standard deviation (0–255 scale) and the
// seed of its noise field.
type Scene struct {
	Objects    []Object `json:"objects"`
	Background [3]uint8 `json:"background"`
	Noise      float64  `json:"noise"`
	Seed       uint64   `json:"seed"`
}

// Generate returns scene number index of the stream seed. It is
// deterministic: the scene is drawn from a math/rand/v2 PCG generator seeded
// with (seed, index), in the order of the training code (object count, cells,
// then per object shape, colour, size, half-extent, centre and colour jitter,
// then the background and noise level). Scene.Seed, the seed of the noise
// field, is the last draw of that stream.
func Generate(seed uint64, index int) Scene {
	r := rand.New(rand.NewPCG(seed, uint64(index)))
	n := 1 + r.IntN(MaxObjects)
	cells := r.Perm(Grid * Grid)[:n]
	slices.Sort(cells)
	objs := make([]Object, n)
	for i, cell := range cells {
		shape := Shapes[r.IntN(len(Shapes))]
		colour := Colours[r.IntN(len(Colours))]
		size := Sizes[r.IntN(len(Sizes))]
		half := size.Min + (size.Max-size.Min)*r.Float64()
		fx := half + (1-2*half)*r.Float64()
		fy := half + (1-2*half)*r.Float64()
		var rgb [3]uint8
		for c := range rgb {
			rgb[c] = clampByte(int(colour.RGB[c]) + r.IntN(2*ColourJitter+1) - ColourJitter)
		}
		objs[i] = Object{Cell: cell, Shape: shape, Colour: colour.Name, Size: size.Name,
			FX: fx, FY: fy, Half: half, RGB: rgb}
	}
	var bg [3]uint8
	base := BackMin + r.IntN(BackMax-BackMin+1)
	for c := range bg {
		v := base + r.IntN(2*BackSpread+1) - BackSpread
		bg[c] = uint8(min(max(v, BackMin), BackMax))
	}
	noise := NoiseMin + (NoiseMax-NoiseMin)*r.Float64()
	return Scene{Objects: objs, Background: bg, Noise: noise, Seed: r.Uint64()}
}

// Phrase returns the caption phrase of the object, e.g.
// "a small red circle at the top left". A cell outside 0–8 gets the position
// "somewhere".
func (o Object) Phrase() string {
	pos := "somewhere"
	if o.Cell >= 0 && o.Cell < len(Positions) {
		pos = Positions[o.Cell]
	}
	return "a " + o.Size + " " + o.Colour + " " + o.Shape + " " + pos
}

// Caption returns the scene's caption: the object phrases in row-major cell
// order joined by " , ", the last one by " and ". A scene without objects has
// the empty caption.
func (s Scene) Caption() string {
	objs := slices.Clone(s.Objects)
	slices.SortStableFunc(objs, func(a, b Object) int { return cmp.Compare(a.Cell, b.Cell) })
	phrases := make([]string, len(objs))
	for i, o := range objs {
		phrases[i] = o.Phrase()
	}
	return joinPhrases(phrases)
}

// joinPhrases joins phrases with " , " and the last one with " and ".
func joinPhrases(phrases []string) string {
	switch len(phrases) {
	case 0:
		return ""
	case 1:
		return phrases[0]
	}
	last := len(phrases) - 1
	return strings.Join(phrases[:last], " , ") + " and " + phrases[last]
}

// Area returns the object's area in units of the cell area.
func (o Object) Area() float64 {
	return shapeArea(o.Shape, o.Half)
}

// Center returns the object's centre in units of the cell side, measured
// from the image's top-left corner (so both coordinates are in [0, 3]).
func (o Object) Center() (x, y float64) {
	return float64(o.Cell%Grid) + o.FX, float64(o.Cell/Grid) + o.FY
}

func clampByte(v int) uint8 {
	return uint8(min(max(v, 0), 255))
}
