// Command gen-scenes writes scenes of the synthetic scene world as images
// with their captions, for held-out evaluation of the scenes-tiny model.
//
// Usage:
//
//	gen-scenes --seed 1000 --count 500 --size 300 --out DIR [--format png|jpeg] [--start 0]
//
// It writes DIR/scene-%05d.png (or .jpg), numbered by scene index, and
// DIR/labels.jsonl with one JSON object per image, in index order:
//
//	{"file": "scene-00000.png", "seed": 1000, "index": 0, "caption": "a small red circle at the top left",
//	 "objects": [{"cell": 0, "position": "at the top left", "shape": "circle", "colour": "red",
//	              "size": "small", "fx": 0.41, "fy": 0.52, "half": 0.25, "rgb": [221, 30, 41]}],
//	 "background": [201, 196, 207], "noise": 3.2, "noise_seed": 123}
//
// Scene i is scenes.Generate(seed, i), so any range can be regenerated
// exactly; --start picks the first index, and labels.jsonl covers only the
// range written (it is replaced).
//
// Seeds: held-out evaluation uses --seed 1000 (the default). The Python
// trainer (scripts/scenes/train.py) draws its data from numpy generators
// seeded with (1, step) and renders with a different rasteriser, so these
// images are pixels and scenes the model was not trained on; do not train on
// seed 1000.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/scenes"
)

// DefaultSeed is the seed of the held-out evaluation set.
const DefaultSeed = 1000

// object is an object as written to labels.jsonl.
type object struct {
	scenes.Object
	Position string `json:"position"`
}

// record is one line of labels.jsonl.
type record struct {
	File       string   `json:"file"`
	Seed       uint64   `json:"seed"`
	Index      int      `json:"index"`
	Caption    string   `json:"caption"`
	Objects    []object `json:"objects"`
	Background [3]uint8 `json:"background"`
	Noise      float64  `json:"noise"`
	NoiseSeed  uint64   `json:"noise_seed"`
}

// options are the command-line settings.
type options struct {
	seed          uint64
	count, start  int
	size, quality int
	out, format   string
	quiet         bool
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// parseFlags reads and checks the command line.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := pflag.NewFlagSet("gen-scenes", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&o.seed, "seed", DefaultSeed, "scene stream seed (1000 is the held-out evaluation set; training never uses it)")
	fs.IntVar(&o.count, "count", 100, "number of scenes to write")
	fs.IntVar(&o.start, "start", 0, "index of the first scene")
	fs.IntVar(&o.size, "size", 300, "image side in pixels")
	fs.StringVar(&o.out, "out", "", "output directory (created if missing)")
	fs.StringVar(&o.format, "format", "png", "image format: png or jpeg")
	fs.IntVar(&o.quality, "quality", 95, "JPEG quality (1-100)")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "do not print a summary")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gen-scenes --seed S --count N --size 300 --out DIR [--format png|jpeg] [--start I]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("gen-scenes: %w", err)
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("gen-scenes: unexpected arguments %q", fs.Args())
	case o.out == "":
		return o, errors.New("gen-scenes: --out is required")
	case o.count < 0:
		return o, fmt.Errorf("gen-scenes: --count %d is negative", o.count)
	case o.start < 0:
		return o, fmt.Errorf("gen-scenes: --start %d is negative", o.start)
	case o.size < 1 || o.size > 8192:
		return o, fmt.Errorf("gen-scenes: --size %d is outside 1-8192", o.size)
	case o.format != "png" && o.format != "jpeg" && o.format != "jpg":
		return o, fmt.Errorf("gen-scenes: --format %q is neither png nor jpeg", o.format)
	case o.quality < 1 || o.quality > 100:
		return o, fmt.Errorf("gen-scenes: --quality %d is outside 1-100", o.quality)
	}
	return o, nil
}

// run is the command with its arguments and output streams.
func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("gen-scenes: %w", err)
	}
	ext := ".png"
	if o.format != "png" {
		ext = ".jpg"
	}
	labelsPath := filepath.Join(o.out, "labels.jsonl")
	f, err := os.Create(labelsPath)
	if err != nil {
		return fmt.Errorf("gen-scenes: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	counts := make(map[int]int)
	for i := o.start; i < o.start+o.count; i++ {
		s := scenes.Generate(o.seed, i)
		name := fmt.Sprintf("scene-%05d%s", i, ext)
		if err := writeImage(filepath.Join(o.out, name), s.Render(o.size), o.format, o.quality); err != nil {
			f.Close()
			return err
		}
		rec := record{File: name, Seed: o.seed, Index: i, Caption: s.Caption(),
			Background: s.Background, Noise: s.Noise, NoiseSeed: s.Seed}
		for _, ob := range s.Objects {
			rec.Objects = append(rec.Objects, object{Object: ob, Position: scenes.Positions[ob.Cell]})
		}
		if err := enc.Encode(rec); err != nil {
			f.Close()
			return fmt.Errorf("gen-scenes: writing %s: %w", labelsPath, err)
		}
		counts[len(s.Objects)]++
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("gen-scenes: writing %s: %w", labelsPath, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("gen-scenes: writing %s: %w", labelsPath, err)
	}
	if !o.quiet {
		fmt.Fprintf(stdout, "wrote %d scenes (seed %d, indices %d-%d, %dx%d %s) to %s; objects per scene:",
			o.count, o.seed, o.start, o.start+o.count-1, o.size, o.size, o.format, o.out)
		for n := 1; n <= scenes.MaxObjects; n++ {
			fmt.Fprintf(stdout, " %d:%d", n, counts[n])
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

// writeImage encodes img to path as PNG or JPEG.
func writeImage(path string, img image.Image, format string, quality int) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("gen-scenes: %w", err)
	}
	w := bufio.NewWriter(f)
	if format == "png" {
		err = png.Encode(w, img)
	} else {
		err = jpeg.Encode(w, img, &jpeg.Options{Quality: quality})
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("gen-scenes: writing %s: %w", path, err)
	}
	return nil
}
