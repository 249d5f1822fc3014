package vips

import (
	"fmt"
	"runtime"
	"sync"
)

// rect is VipsRect.
type rect struct{ left, top, width, height int }

func (r rect) right() int  { return r.left + r.width }
func (r rect) bottom() int { return r.top + r.height }
func (r rect) empty() bool { return r.width <= 0 || r.height <= 0 }

// intersect is vips_rect_intersectrect.
func (r rect) intersect(s rect) rect {
	l, t := max(r.left, s.left), max(r.top, s.top)
	return rect{l, t, max(0, min(r.right(), s.right())-l), max(0, min(r.bottom(), s.bottom())-t)}
}

// includes is vips_rect_includesrect.
func (r rect) includes(s rect) bool {
	return r.left <= s.left && r.top <= s.top && r.right() >= s.right() && r.bottom() >= s.bottom()
}

// margin is vips_rect_marginadjust.
func (r rect) margin(n int) rect { return rect{r.left - n, r.top - n, r.width + 2*n, r.height + 2*n} }

// buf holds the pixels of area r of an image: the first byte of pixel
// (x, y) is pix[(y-r.top)*stride+(x-r.left)*bands].
type buf struct {
	r      rect
	stride int
	pix    []uint8
}

func newBuf(r rect, bands int) *buf {
	return &buf{r: r, stride: r.width * bands, pix: make([]uint8, r.width*r.height*bands)}
}

// off is the offset of pixel (x, y).
func (b *buf) off(x, y, bands int) int { return (y-b.r.top)*b.stride + (x-b.r.left)*bands }

// view is b seen at area r (within b.r), without copying.
func (b *buf) view(r rect, bands int) *buf {
	return &buf{r: r, stride: b.stride, pix: b.pix[b.off(r.left, r.top, bands):]}
}

// demand is VipsDemandStyle; a smaller value is more restrictive.
type demand int

const (
	smallTile demand = iota
	fatStrip
	thinStrip
	anyDemand
)

// op is one libvips operation in a pipeline: its output size, its demand
// hint (vips_image_pipelinev: the most restrictive of its own and its
// input's) and its generate function, which computes area r (within the
// output) asking its input for the areas libvips asks for.
type op interface {
	size() (w, h int)
	hint() demand
	gen(r rect) (*buf, error)
}

// prepare is vips_region_prepare: area r of in, clipped to the image.
func prepare(in op, r rect) (*buf, error) {
	w, h := in.size()
	c := r.intersect(rect{0, 0, w, h})
	if c.empty() {
		return nil, fmt.Errorf("vips: internal: empty request %v of a %d×%d image", r, w, h)
	}
	return in.gen(c)
}

// source is the input image (vips_image_new_from_memory).
type source struct {
	img Image
}

func newSource(img Image) *source { return &source{img: img} }

func (s *source) size() (int, int) { return s.img.Width, s.img.Height }
func (s *source) hint() demand     { return anyDemand }
func (s *source) gen(r rect) (*buf, error) {
	all := &buf{r: rect{0, 0, s.img.Width, s.img.Height}, stride: s.img.Width * s.img.Bands, pix: s.img.Pix}
	return all.view(r, s.img.Bands), nil
}

type extend int

const (
	extendCopy       extend = iota // VIPS_EXTEND_COPY
	extendBackground               // VIPS_EXTEND_BACKGROUND, black
)

// embed is vips_embed: in placed at (x, y) in a w×h image, the new pixels
// copied from the nearest edge or black.
type embed struct {
	in         op
	w, h, x, y int
	bands      int
	ext        extend
	rsub       rect
	border     [8]rect
}

func newEmbed(in op, bands, x, y, w, h int, ext extend) op {
	iw, ih := in.size()
	if x == 0 && y == 0 && w == iw && h == ih {
		return in
	}
	e := &embed{in: in, w: w, h: h, x: x, y: y, bands: bands, ext: ext}
	e.rsub = rect{x, y, iw, ih}.intersect(rect{0, 0, w, h})
	s := e.rsub
	e.border = [8]rect{
		{s.left, 0, s.width, s.top},                            // top
		{s.right(), s.top, w - s.right(), s.height},            // right
		{s.left, s.bottom(), s.width, h - s.bottom()},          // bottom
		{0, s.top, s.left, s.height},                           // left
		{0, 0, s.left, s.top},                                  // top-left
		{s.right(), 0, w - s.right(), s.top},                   // top-right
		{s.right(), s.bottom(), w - s.right(), h - s.bottom()}, // bottom-right
		{0, s.bottom(), s.left, h - s.bottom()},                // bottom-left
	}
	return e
}

func (e *embed) size() (int, int) { return e.w, e.h }
func (e *embed) hint() demand     { return min(anyDemand, e.in.hint()) }

func (e *embed) gen(r rect) (*buf, error) {
	b := e.bands
	if e.rsub.includes(r) {
		in, err := prepare(e.in, rect{r.left - e.x, r.top - e.y, r.width, r.height})
		if err != nil {
			return nil, err
		}
		return &buf{r: r, stride: in.stride, pix: in.pix}, nil
	}
	out := newBuf(r, b)
	ovl := r.intersect(e.rsub)
	if !ovl.empty() {
		in, err := prepare(e.in, rect{ovl.left - e.x, ovl.top - e.y, ovl.width, ovl.height})
		if err != nil {
			return nil, err
		}
		for y := ovl.top; y < ovl.bottom(); y++ {
			copy(out.pix[out.off(ovl.left, y, b):out.off(ovl.right(), y, b)],
				in.pix[in.off(ovl.left-e.x, y-e.y, b):])
		}
	}
	if e.ext == extendBackground {
		// Black: the new pixels are already zero.
		return out, nil
	}
	if !ovl.empty() {
		// Each new pixel copies the nearest painted pixel.
		for y := r.top; y < r.bottom(); y++ {
			sy := min(max(y, ovl.top), ovl.bottom()-1)
			for x := r.left; x < r.right(); x++ {
				if y >= ovl.top && y < ovl.bottom() && x >= ovl.left && x < ovl.right() {
					continue
				}
				sx := min(max(x, ovl.left), ovl.right()-1)
				copy(out.pix[out.off(x, y, b):out.off(x, y, b)+b], out.pix[out.off(sx, sy, b):])
			}
		}
		return out, nil
	}
	// Nothing of the image in r: fetch each border's edge from the input
	// (vips_embed_base_find_edge).
	for i, br := range e.border {
		todo := r.intersect(br)
		if todo.empty() {
			continue
		}
		edge := br.margin(1).intersect(e.rsub)
		if i == 0 || i == 2 {
			edge = edge.intersect(rect{r.left, 0, r.width, e.h})
		}
		if i == 1 || i == 3 {
			edge = edge.intersect(rect{0, r.top, e.w, r.height})
		}
		in, err := prepare(e.in, rect{edge.left - e.x, edge.top - e.y, edge.width, edge.height})
		if err != nil {
			return nil, err
		}
		for y := todo.top; y < todo.bottom(); y++ {
			sy := min(max(y, edge.top), edge.bottom()-1)
			for x := todo.left; x < todo.right(); x++ {
				sx := min(max(x, edge.left), edge.right()-1)
				o := out.off(x, y, b)
				copy(out.pix[o:o+b], in.pix[in.off(sx-e.x, sy-e.y, b):])
			}
		}
	}
	return out, nil
}

// Tile sizes (VIPS__TILE_WIDTH, VIPS__TILE_HEIGHT, VIPS__FATSTRIP_HEIGHT).
const (
	tileSize     = 128
	fatStripRows = 16
)

// run is vips_sink_memory: it computes the output of o in the areas
// vips_get_tile_size picks for its demand hint, on GOMAXPROCS goroutines.
func run(o op, bands int) (Image, error) {
	w, h := o.size()
	if err := checkSize("output", w, h); err != nil {
		return Image{}, err
	}
	tw, th := w, fatStripRows
	switch o.hint() {
	case smallTile:
		tw, th = tileSize, tileSize
	case thinStrip:
		if w > 10000 {
			th = 1
		}
	}
	var tiles []rect
	for y := 0; y < h; y += th {
		for x := 0; x < w; x += tw {
			tiles = append(tiles, rect{x, y, min(tw, w-x), min(th, h-y)})
		}
	}
	out := Image{Pix: make([]uint8, w*h*bands), Width: w, Height: h, Bands: bands}
	workers := min(runtime.GOMAXPROCS(0), len(tiles), max(1, w*h/(1<<16)))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < len(tiles); i += workers {
				t := tiles[i]
				b, err := o.gen(t)
				if err != nil {
					errs[k] = err
					return
				}
				for y := t.top; y < t.bottom(); y++ {
					at := (y*w + t.left) * bands
					copy(out.Pix[at:at+t.width*bands], b.pix[b.off(t.left, y, bands):])
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return Image{}, err
		}
	}
	return out, nil
}
