package scenes

// The scenes-vqa world (models/scenes-vqa/README.md): a finer 4×4 grid of
// cells, up to six smaller objects with distinct (colour, shape) pairs, and
// short questions about one image or about a sequence of 2–4 frames with one
// change. The grammar is the one of the Python trainer
// (scripts/scenesvqa/common.py); this file is an independent implementation
// with its own math/rand/v2 streams, and vqa_render.go its own rasteriser
// (4×4 supersampled), so the generated questions and images are held out.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// VQA world constants.
const (
	VQAGrid       = 4 // cells per side
	VQAMaxObjects = 6
	VQAMaxFrames  = 4
)

// VQASizes are the object sizes of the VQA world (half-extent as a fraction
// of the cell side): smaller than scenes-tiny's relative to the image.
var VQASizes = [...]SizeRange{
	{"small", 0.22, 0.28},
	{"large", 0.36, 0.44},
}

// VQAPlural is the plural of each shape name, as questions use it.
var VQAPlural = map[string]string{"circle": "circles", "square": "squares", "triangle": "triangles", "cross": "crosses"}

// VQACellName returns a cell's name: column letter a–d (left to right) and
// row digit 1–4 (top to bottom), e.g. "b3".
func VQACellName(cell int) string {
	return fmt.Sprintf("%c%d", 'a'+cell%VQAGrid, cell/VQAGrid+1)
}

// Question types of single images and of frame sequences.
var (
	VQASingleTypes   = []string{"colour_at", "shape_at", "size_at", "where", "count", "exists", "left_of", "colour_next"}
	VQASequenceTypes = []string{"moved", "appeared", "disappeared", "count_last"}
)

// VQAFrame is one image: objects (cells 0–15), background, noise level and
// the seed of its noise field.
type VQAFrame struct {
	Objects    []Object `json:"objects"`
	Background [3]uint8 `json:"background"`
	Noise      float64  `json:"noise"`
	Seed       uint64   `json:"seed"`
}

// VQAItem is one held-out question with its frames (one for a single-image
// question) and its answer. Relevant lists, per frame, the indices of the
// objects the question is about (the oracle's evidence); an answer of
// "nothing" or a count of 0 may have none.
type VQAItem struct {
	Sequence bool       `json:"sequence"`
	Type     string     `json:"type"`
	Question string     `json:"question"`
	Answer   string     `json:"answer"`
	Frames   []VQAFrame `json:"frames"`
	Relevant [][]int    `json:"relevant"`
}

// VQAAnswers returns every answer the grammar can produce.
func VQAAnswers() map[string]bool {
	a := map[string]bool{"yes": true, "no": true, "nothing": true}
	for _, c := range Colours {
		a[c.Name] = true
		for _, s := range Shapes {
			a[c.Name+" "+s] = true
		}
	}
	for _, s := range Shapes {
		a[s] = true
	}
	for _, s := range VQASizes {
		a[s.Name] = true
	}
	for c := 0; c < VQAGrid*VQAGrid; c++ {
		a[VQACellName(c)] = true
	}
	for i := 0; i <= VQAMaxObjects; i++ {
		a[fmt.Sprint(i)] = true
	}
	return a
}

func objName(o Object) string { return o.Colour + " " + o.Shape }

type pair struct{ colour, shape string }

// newVQAObject draws an object in cell whose (colour, shape) is not in used.
func newVQAObject(r *rand.Rand, cell int, used map[pair]bool) Object {
	var free []pair
	for _, c := range Colours {
		for _, s := range Shapes {
			if !used[pair{c.Name, s}] {
				free = append(free, pair{c.Name, s})
			}
		}
	}
	p := free[r.IntN(len(free))]
	size := VQASizes[r.IntN(len(VQASizes))]
	half := size.Min + (size.Max-size.Min)*r.Float64()
	fx := half + (1-2*half)*r.Float64()
	fy := half + (1-2*half)*r.Float64()
	var base [3]uint8
	for _, c := range Colours {
		if c.Name == p.colour {
			base = c.RGB
		}
	}
	var rgb [3]uint8
	for c := range rgb {
		rgb[c] = clampByte(int(base[c]) + r.IntN(2*ColourJitter+1) - ColourJitter)
	}
	return Object{Cell: cell, Shape: p.shape, Colour: p.colour, Size: size.Name, FX: fx, FY: fy, Half: half, RGB: rgb}
}

// vqaScene draws nmin..nmax objects in distinct cells with distinct
// (colour, shape) pairs.
func vqaScene(r *rand.Rand, nmin, nmax int) []Object {
	n := nmin + r.IntN(nmax-nmin+1)
	cells := r.Perm(VQAGrid * VQAGrid)[:n]
	used := map[pair]bool{}
	objs := make([]Object, n)
	for i, cell := range cells {
		objs[i] = newVQAObject(r, cell, used)
		used[pair{objs[i].Colour, objs[i].Shape}] = true
	}
	return objs
}

func vqaBackground(r *rand.Rand) [3]uint8 {
	var bg [3]uint8
	base := BackMin + r.IntN(BackMax-BackMin+1)
	for c := range bg {
		v := base + r.IntN(2*BackSpread+1) - BackSpread
		bg[c] = uint8(min(max(v, BackMin), BackMax))
	}
	return bg
}

func atCell(objs []Object, cell int) int {
	for i, o := range objs {
		if o.Cell == cell {
			return i
		}
	}
	return -1
}

// countQuestion asks how many objects of a colour or a shape there are
// (suffix "are there" or "are in the last frame").
func countQuestion(r *rand.Rand, objs []Object, suffix string) (q, a string, rel []int) {
	if r.Float64() < 0.5 {
		c := Colours[r.IntN(len(Colours))].Name
		if len(objs) > 0 && r.Float64() < 0.7 {
			c = objs[r.IntN(len(objs))].Colour
		}
		for i, o := range objs {
			if o.Colour == c {
				rel = append(rel, i)
			}
		}
		q = "how many " + c + " objects " + suffix + " ?"
	} else {
		s := Shapes[r.IntN(len(Shapes))]
		if len(objs) > 0 && r.Float64() < 0.7 {
			s = objs[r.IntN(len(objs))].Shape
		}
		for i, o := range objs {
			if o.Shape == s {
				rel = append(rel, i)
			}
		}
		q = "how many " + VQAPlural[s] + " " + suffix + " ?"
	}
	return q, fmt.Sprint(len(rel)), rel
}

// singleQuestion asks a question of type t about objs.
func singleQuestion(r *rand.Rand, objs []Object, t string) (q, a string, rel []int) {
	k := r.IntN(len(objs))
	o := objs[k]
	switch t {
	case "colour_at":
		return "what colour is the object at " + VQACellName(o.Cell) + " ?", o.Colour, []int{k}
	case "shape_at":
		return "what shape is the object at " + VQACellName(o.Cell) + " ?", o.Shape, []int{k}
	case "size_at":
		return "what size is the object at " + VQACellName(o.Cell) + " ?", o.Size, []int{k}
	case "where":
		return "where is the " + objName(o) + " ?", VQACellName(o.Cell), []int{k}
	case "count":
		return countQuestion(r, objs, "are there")
	case "exists":
		if r.Float64() < 0.5 {
			return "is there a " + objName(o) + " ?", "yes", []int{k}
		}
		used := map[pair]bool{}
		for _, p := range objs {
			used[pair{p.Colour, p.Shape}] = true
		}
		near := r.Float64() < 0.5 // share colour or shape with a present object
		var cand []pair
		for _, c := range Colours {
			for _, s := range Shapes {
				if !used[pair{c.Name, s}] && (!near || c.Name == o.Colour || s == o.Shape) {
					cand = append(cand, pair{c.Name, s})
				}
			}
		}
		p := cand[r.IntN(len(cand))]
		for i, x := range objs {
			if x.Colour == p.colour || x.Shape == p.shape {
				rel = append(rel, i)
			}
		}
		return "is there a " + p.colour + " " + p.shape + " ?", "no", rel
	case "left_of":
		left := func(i int) int {
			if objs[i].Cell%VQAGrid == 0 {
				return -1
			}
			return atCell(objs, objs[i].Cell-1)
		}
		var with []int
		for i := range objs {
			if left(i) >= 0 {
				with = append(with, i)
			}
		}
		if len(with) > 0 && r.Float64() < 0.6 {
			k = with[r.IntN(len(with))]
		}
		q = "what is left of the " + objName(objs[k]) + " ?"
		if n := left(k); n >= 0 {
			return q, objName(objs[n]), []int{k, n}
		}
		return q, "nothing", []int{k}
	case "colour_next":
		dir, off := "above", -VQAGrid
		if r.Float64() >= 0.5 {
			dir, off = "below", VQAGrid
		}
		nb := func(i int) int {
			c := objs[i].Cell + off
			if c < 0 || c >= VQAGrid*VQAGrid {
				return -1
			}
			return atCell(objs, c)
		}
		var with []int
		for i := range objs {
			if nb(i) >= 0 {
				with = append(with, i)
			}
		}
		if len(with) > 0 && r.Float64() < 0.6 {
			k = with[r.IntN(len(with))]
		}
		q = "what colour is the object " + dir + " the " + objName(objs[k]) + " ?"
		if n := nb(k); n >= 0 {
			return q, objs[n].Colour, []int{k, n}
		}
		return q, "nothing", []int{k}
	}
	panic("scenes: unknown question type " + t)
}

// GenerateVQA returns held-out question number index of the stream seed:
// a single-image question, or a frame-sequence question when sequence is
// set. The question type cycles through the kind's types by index (so any
// run of consecutive indices is balanced across types); everything else is
// drawn from a PCG generator seeded with (seed, index) (sequence questions
// use a different stream).
func GenerateVQA(seed uint64, index int, sequence bool) VQAItem {
	stream := uint64(index) << 1
	if sequence {
		stream |= 1
	}
	r := rand.New(rand.NewPCG(seed^0x7671615f7667, stream))
	if !sequence {
		t := VQASingleTypes[index%len(VQASingleTypes)]
		objs := vqaScene(r, 1, VQAMaxObjects)
		q, a, rel := singleQuestion(r, objs, t)
		f := VQAFrame{Objects: objs, Background: vqaBackground(r)}
		f.Noise = NoiseMin + (NoiseMax-NoiseMin)*r.Float64()
		f.Seed = r.Uint64()
		return VQAItem{Type: t, Question: q, Answer: a, Frames: []VQAFrame{f}, Relevant: [][]int{sortedRel(rel)}}
	}
	t := VQASequenceTypes[index%len(VQASequenceTypes)]
	return generateSequence(r, t)
}

func sortedRel(rel []int) []int {
	rel = slices.Clone(rel)
	slices.Sort(rel)
	if rel == nil {
		rel = []int{}
	}
	return rel
}

// generateSequence draws 2–4 frames with one event (an object moves to
// another cell, appears or disappears) at one transition, or no event, and
// asks a question of type t.
func generateSequence(r *rand.Rand, t string) VQAItem {
	nf := 2 + r.IntN(VQAMaxFrames-1)
	events := []string{"move", "appear", "disappear", "none"}
	match := map[string]string{"moved": "move", "appeared": "appear", "disappeared": "disappear"}
	ev := events[r.IntN(len(events))]
	if m, ok := match[t]; ok && r.Float64() < 0.6 {
		ev = m
	}
	nmin, nmax := 1, VQAMaxObjects
	switch ev {
	case "appear":
		nmax-- // at most VQAMaxObjects after the event
	case "disappear":
		nmin = 2 // never an empty frame
	}
	before := vqaScene(r, nmin, nmax)
	after := slices.Clone(before)
	var occupied [VQAGrid * VQAGrid]bool
	for _, o := range before {
		occupied[o.Cell] = true
	}
	var free []int
	for c, occ := range occupied {
		if !occ {
			free = append(free, c)
		}
	}
	var changed pair
	switch ev {
	case "move":
		k := r.IntN(len(after))
		o := &after[k]
		o.Cell = free[r.IntN(len(free))]
		o.FX = o.Half + (1-2*o.Half)*r.Float64()
		o.FY = o.Half + (1-2*o.Half)*r.Float64()
		changed = pair{o.Colour, o.Shape}
	case "appear":
		used := map[pair]bool{}
		for _, o := range before {
			used[pair{o.Colour, o.Shape}] = true
		}
		o := newVQAObject(r, free[r.IntN(len(free))], used)
		after = append(after, o)
		changed = pair{o.Colour, o.Shape}
	case "disappear":
		k := r.IntN(len(after))
		changed = pair{after[k].Colour, after[k].Shape}
		after = slices.Delete(after, k, k+1)
	}
	cut := 1 + r.IntN(nf-1) // frames before cut show before, from cut on after
	bg := vqaBackground(r)
	noise := NoiseMin + (NoiseMax-NoiseMin)*r.Float64()
	frames := make([]VQAFrame, nf)
	for f := range frames {
		src := before
		if f >= cut {
			src = after
		}
		frames[f] = VQAFrame{Objects: slices.Clone(src), Background: bg, Noise: noise, Seed: r.Uint64()}
	}
	item := VQAItem{Sequence: true, Type: t, Frames: frames, Relevant: make([][]int, nf)}
	find := func(p pair) {
		for f, fr := range frames {
			for i, o := range fr.Objects {
				if (pair{o.Colour, o.Shape}) == p {
					item.Relevant[f] = append(item.Relevant[f], i)
				}
			}
		}
	}
	item.Answer = "nothing"
	switch t {
	case "moved", "appeared", "disappeared":
		item.Question = "what " + t + " ?"
		if match[t] == ev {
			item.Answer = changed.colour + " " + changed.shape
			find(changed)
		}
	case "count_last":
		q, a, rel := countQuestion(r, frames[nf-1].Objects, "are in the last frame")
		item.Question, item.Answer = q, a
		item.Relevant[nf-1] = rel
	default:
		panic("scenes: unknown question type " + t)
	}
	for f := range item.Relevant {
		item.Relevant[f] = sortedRel(item.Relevant[f])
	}
	return item
}

// VQAExact reports whether an answer matches the reference exactly, after
// trimming and collapsing whitespace.
func VQAExact(answer, ref string) bool {
	return strings.Join(strings.Fields(answer), " ") == strings.Join(strings.Fields(ref), " ")
}
