package scenes

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnparsable is wrapped by the errors ParseCaption returns for text that
// does not follow the caption grammar.
var ErrUnparsable = errors.New("scenes: unparsable caption")

// Label is what one caption phrase says about an object: its size, colour,
// shape and cell (0–8 in row-major order). A phrase that does not parse is
// kept as a Label with Cell -1 and the phrase in Raw; such a label never
// matches anything.
type Label struct {
	Size, Colour, Shape string
	Cell                int
	Raw                 string
}

// Label returns the object's label.
func (o Object) Label() Label {
	return Label{Size: o.Size, Colour: o.Colour, Shape: o.Shape, Cell: o.Cell}
}

// Valid reports whether the label came from a phrase that parsed.
func (l Label) Valid() bool { return l.Cell >= 0 && l.Cell < len(Positions) }

// String returns the label's caption phrase, or the raw text of a phrase
// that did not parse.
func (l Label) String() string {
	if !l.Valid() {
		return l.Raw
	}
	return Object{Cell: l.Cell, Shape: l.Shape, Colour: l.Colour, Size: l.Size}.Phrase()
}

// key is the part of a label that decides a match.
type key struct {
	size, colour, shape string
	cell                int
}

// captionTokens splits a caption into lower-case words, commas as words of
// their own, and drops a final full stop.
func captionTokens(s string) []string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimSuffix(s, ".")
	s = strings.ReplaceAll(s, ",", " , ")
	return strings.Fields(s)
}

// ParseCaption parses a caption into the labels of its phrases, in order.
//
// Phrases are separated by "," and "and" and each must read
// "a SIZE COLOUR SHAPE POSITION". Parsing is tolerant: a phrase that does not
// parse becomes an invalid Label (Cell -1) and parsing goes on; empty phrases
// (doubled or dangling separators) are dropped. The error, nil for a
// well-formed caption, joins one error per problem, each wrapping
// ErrUnparsable; the labels are returned either way. The empty caption has no
// labels.
func ParseCaption(s string) ([]Label, error) {
	toks := captionTokens(s)
	var labels []Label
	var errs []error
	start := 0
	for i := 0; i <= len(toks); i++ {
		if i < len(toks) && toks[i] != "," && toks[i] != "and" {
			continue
		}
		phrase := toks[start:i]
		if len(phrase) == 0 {
			if i < len(toks) {
				errs = append(errs, fmt.Errorf("%w: empty phrase before %q at word %d", ErrUnparsable, toks[i], i+1))
			} else if len(toks) > 0 {
				errs = append(errs, fmt.Errorf("%w: caption ends with %q", ErrUnparsable, toks[i-1]))
			}
		} else {
			l, err := parsePhrase(phrase)
			if err != nil {
				errs = append(errs, err)
			}
			labels = append(labels, l)
		}
		start = i + 1
	}
	return labels, errors.Join(errs...)
}

// parsePhrase parses "a SIZE COLOUR SHAPE POSITION".
func parsePhrase(w []string) (Label, error) {
	text := strings.Join(w, " ")
	bad := Label{Cell: -1, Raw: text}
	if len(w) < 6 {
		return bad, fmt.Errorf("%w: phrase %q is too short", ErrUnparsable, text)
	}
	if w[0] != "a" {
		return bad, fmt.Errorf("%w: phrase %q does not start with \"a\"", ErrUnparsable, text)
	}
	l := Label{Size: w[1], Colour: w[2], Shape: w[3], Cell: -1}
	if !isSize(l.Size) {
		return bad, fmt.Errorf("%w: phrase %q: unknown size %q", ErrUnparsable, text, l.Size)
	}
	if !isColour(l.Colour) {
		return bad, fmt.Errorf("%w: phrase %q: unknown colour %q", ErrUnparsable, text, l.Colour)
	}
	if shapeIndex(l.Shape) < 0 {
		return bad, fmt.Errorf("%w: phrase %q: unknown shape %q", ErrUnparsable, text, l.Shape)
	}
	pos := strings.Join(w[4:], " ")
	for i, p := range Positions {
		if p == pos {
			l.Cell = i
			return l, nil
		}
	}
	return bad, fmt.Errorf("%w: phrase %q: unknown position %q", ErrUnparsable, text, pos)
}

func isSize(s string) bool {
	for _, z := range Sizes {
		if z.Name == s {
			return true
		}
	}
	return false
}

func isColour(s string) bool {
	for _, c := range Colours {
		if c.Name == s {
			return true
		}
	}
	return false
}

// ExactMatch reports whether the predicted caption equals the reference word
// for word, ignoring case, spacing and a final full stop. Object order
// matters, as the grammar fixes it.
func ExactMatch(pred, ref string) bool {
	p, r := captionTokens(pred), captionTokens(ref)
	if len(p) != len(r) {
		return false
	}
	for i := range p {
		if p[i] != r[i] {
			return false
		}
	}
	return true
}

// ObjectF1 counts the objects of a predicted caption against a reference.
// An object matches when its size, colour, shape and position are all equal;
// each reference object matches at most one predicted object (a multiset
// intersection, so order does not matter and duplicates count once).
// Unparsable predicted phrases are false positives, unparsable reference
// phrases false negatives. The F1 score is 2tp/(2tp+fp+fn).
func ObjectF1(pred, ref string) (tp, fp, fn int) {
	p, _ := ParseCaption(pred)
	r, _ := ParseCaption(ref)
	tp, fp, fn = matchLabels(p, r)
	return tp, fp, fn
}

// matchLabels counts the multiset intersection of valid labels.
func matchLabels(pred, ref []Label) (tp, fp, fn int) {
	want := make(map[key]int, len(ref))
	for _, l := range ref {
		if l.Valid() {
			want[key{l.Size, l.Colour, l.Shape, l.Cell}]++
		}
	}
	for _, l := range pred {
		k := key{l.Size, l.Colour, l.Shape, l.Cell}
		if l.Valid() && want[k] > 0 {
			want[k]--
			tp++
		}
	}
	return tp, len(pred) - tp, len(ref) - tp
}

// Counts accumulates caption and object matches.
type Counts struct {
	Captions   int // captions scored
	Exact      int // exact matches
	TP, FP, FN int // object true positives, false positives, false negatives
}

// ExactRate returns the fraction of captions that matched exactly, 0 when
// none were scored.
func (c Counts) ExactRate() float64 { return ratio(c.Exact, c.Captions) }

// Precision returns TP/(TP+FP), 0 when nothing was predicted.
func (c Counts) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall returns TP/(TP+FN), 0 when there was nothing to find.
func (c Counts) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// F1 returns the micro-averaged object F1, 2TP/(2TP+FP+FN), 0 when nothing
// was counted.
func (c Counts) F1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

func (c *Counts) add(exact bool, tp, fp, fn int) {
	c.Captions++
	if exact {
		c.Exact++
	}
	c.TP += tp
	c.FP += fp
	c.FN += fn
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Score aggregates caption scores overall (the embedded Counts, whose F1 is
// the overall micro F1) and by the number of objects in the reference.
// ByObjects[n] holds references with n objects for n in 1–MaxObjects;
// ByObjects[0] holds any other reference (empty or longer). The zero Score is
// ready to use.
type Score struct {
	Counts
	ByObjects [MaxObjects + 1]Counts
}

// Add scores one predicted caption against its reference.
func (s *Score) Add(pred, ref string) {
	p, _ := ParseCaption(pred)
	r, _ := ParseCaption(ref)
	tp, fp, fn := matchLabels(p, r)
	exact := ExactMatch(pred, ref)
	s.Counts.add(exact, tp, fp, fn)
	n := len(r)
	if n > MaxObjects {
		n = 0
	}
	s.ByObjects[n].add(exact, tp, fp, fn)
}

// String formats the score as a table: one row per object count that has
// captions, then the overall row.
func (s Score) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s %8s %7s %7s %7s %7s\n", "objects", "captions", "exact", "prec", "recall", "F1")
	row := func(name string, c Counts) {
		fmt.Fprintf(&b, "%-8s %8d %7.4f %7.4f %7.4f %7.4f\n",
			name, c.Captions, c.ExactRate(), c.Precision(), c.Recall(), c.F1())
	}
	for n := 1; n <= MaxObjects; n++ {
		if s.ByObjects[n].Captions > 0 {
			row(fmt.Sprint(n), s.ByObjects[n])
		}
	}
	if s.ByObjects[0].Captions > 0 {
		row("other", s.ByObjects[0])
	}
	row("all", s.Counts)
	return b.String()
}
