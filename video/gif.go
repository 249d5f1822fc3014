package video

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"io"
	"sort"
)

// GIFLayout is a GIF's block structure, read without decoding pixels.
type GIFLayout struct {
	Width, Height int
	Frames        int
	Pixels        int64 // Σ frame width × height
}

// ScanGIF reads a GIF's block structure (headers, extensions, image
// descriptors, skipping every data sub-block), so that a huge or malformed
// GIF is refused before image/gif decodes all its frames into memory.
func ScanGIF(r io.Reader) (GIFLayout, error) {
	br := bufio.NewReader(r)
	var l GIFLayout
	hdr := make([]byte, 13)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return l, fmt.Errorf("GIF header: %w", err)
	}
	if string(hdr[:3]) != "GIF" {
		return l, fmt.Errorf("not a GIF")
	}
	l.Width, l.Height = int(hdr[6])|int(hdr[7])<<8, int(hdr[8])|int(hdr[9])<<8
	if hdr[10]&0x80 != 0 {
		if _, err := br.Discard(3 << (int(hdr[10]&7) + 1)); err != nil {
			return l, fmt.Errorf("GIF colour table: %w", err)
		}
	}
	skipSubBlocks := func() error {
		for {
			n, err := br.ReadByte()
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
			if _, err := br.Discard(int(n)); err != nil {
				return err
			}
		}
	}
	for {
		b, err := br.ReadByte()
		if err != nil {
			if l.Frames > 0 {
				return l, nil // missing trailer: image/gif decides
			}
			return l, fmt.Errorf("GIF truncated before any frame: %w", err)
		}
		switch b {
		case 0x21: // extension
			if _, err := br.ReadByte(); err != nil {
				return l, fmt.Errorf("GIF truncated: %w", err)
			}
			if err := skipSubBlocks(); err != nil {
				return l, fmt.Errorf("GIF truncated in an extension: %w", err)
			}
		case 0x2C: // image
			d := make([]byte, 9)
			if _, err := io.ReadFull(br, d); err != nil {
				return l, fmt.Errorf("GIF truncated in frame %d: %w", l.Frames, err)
			}
			w, h := int(d[4])|int(d[5])<<8, int(d[6])|int(d[7])<<8
			if d[8]&0x80 != 0 {
				if _, err := br.Discard(3 << (int(d[8]&7) + 1)); err != nil {
					return l, fmt.Errorf("GIF truncated in frame %d: %w", l.Frames, err)
				}
			}
			if _, err := br.ReadByte(); err != nil { // LZW minimum code size
				return l, fmt.Errorf("GIF truncated in frame %d: %w", l.Frames, err)
			}
			if err := skipSubBlocks(); err != nil {
				return l, fmt.Errorf("GIF truncated in frame %d: %w", l.Frames, err)
			}
			l.Frames++
			l.Pixels += int64(w) * int64(h)
		case 0x3B:
			return l, nil
		default:
			return l, fmt.Errorf("GIF: unknown block 0x%02x after frame %d", b, l.Frames)
		}
	}
}

func extractGIF(ctx context.Context, path string, r io.Reader, o Options) ([]Frame, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<30+1))
	if err != nil {
		return nil, fmt.Errorf("video: %s: %w", path, err)
	}
	if len(data) > 1<<30 {
		return nil, fmt.Errorf("video: %s: GIF larger than 1 GiB: %w", path, ErrBadVideo)
	}
	l, err := ScanGIF(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("video: %s: %v: %w", path, err, ErrBadVideo)
	}
	canvas := int64(l.Width) * int64(l.Height)
	if l.Frames == 0 || canvas == 0 {
		return nil, fmt.Errorf("video: %s: GIF without frames or with a 0×0 screen: %w", path, ErrBadVideo)
	}
	if l.Pixels+canvas > o.MaxGIFPixels || canvas > o.MaxGIFPixels/4 {
		return nil, fmt.Errorf("video: %s: GIF of %d frames on a %d×%d screen decodes to %d pixels, above the limit %d: %w",
			path, l.Frames, l.Width, l.Height, l.Pixels, o.MaxGIFPixels, ErrBadVideo)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g, err := gif.DecodeAll(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("video: %s: %v: %w", path, err, ErrBadVideo)
	}
	// frame start times (GIF delays are in 1/100 s; 0 counts as 10 as browsers do)
	starts := make([]float64, len(g.Image))
	cs := 0 // centiseconds, summed exactly
	for i := range g.Image {
		starts[i] = float64(cs) / 100
		d := 10
		if i < len(g.Delay) && g.Delay[i] > 0 {
			d = g.Delay[i]
		}
		cs += d
	}
	duration := float64(cs) / 100
	times := Times(duration, o.FPS, o.MaxFrames)
	want := make([]int, len(times)) // the frame shown at each time
	for i, tt := range times {
		// 1e-9: i·duration/n may round just below a frame's start time
		want[i] = sort.Search(len(starts), func(j int) bool { return starts[j] > tt+1e-9 }) - 1
	}
	if o.Sampler.byIndex() { // frames by index, at index/rate (rate = frames/duration)
		rate := float64(len(starts)) / duration
		want = o.indices(len(starts), rate, duration)
		times = make([]float64, len(want))
		for i, k := range want {
			times[i] = float64(k) / rate
		}
	}
	bounds := image.Rect(0, 0, g.Config.Width, g.Config.Height)
	cur := image.NewRGBA(bounds)
	var frames []Frame
	next := 0
	for i, fr := range g.Image {
		if next >= len(want) {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var prev *image.RGBA
		disp := byte(0)
		if i < len(g.Disposal) {
			disp = g.Disposal[i]
		}
		if disp == gif.DisposalPrevious {
			prev = image.NewRGBA(bounds)
			copy(prev.Pix, cur.Pix)
		}
		draw.Draw(cur, fr.Bounds(), fr, fr.Bounds().Min, draw.Over)
		for next < len(want) && want[next] == i {
			img := downscale(cur, o.MaxSide)
			p, err := encodePNG(img)
			if err != nil {
				return nil, fmt.Errorf("video: %s: frame %d: %w", path, i, err)
			}
			frames = append(frames, Frame{Index: len(frames), Time: times[next], PNG: p,
				W: img.Bounds().Dx(), H: img.Bounds().Dy(), Planned: len(times), Duration: duration})
			next++
		}
		switch disp {
		case gif.DisposalBackground:
			draw.Draw(cur, fr.Bounds(), image.Transparent, image.Point{}, draw.Src)
		case gif.DisposalPrevious:
			cur = prev
		}
	}
	return frames, nil
}

// downscale returns img scaled down (box filter) so that its longer side is
// at most maxSide; img itself (copied) when already small enough.
func downscale(img *image.RGBA, maxSide int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if max(w, h) <= maxSide {
		out := image.NewRGBA(b)
		copy(out.Pix, img.Pix)
		return out
	}
	nw, nh := w*maxSide/max(w, h), h*maxSide/max(w, h)
	nw, nh = max(1, nw), max(1, nh)
	out := image.NewRGBA(image.Rect(0, 0, nw, nh))
	for y := range nh {
		y0, y1 := y*h/nh, max((y+1)*h/nh, y*h/nh+1)
		for x := range nw {
			x0, x1 := x*w/nw, max((x+1)*w/nw, x*w/nw+1)
			var s [4]int
			for yy := y0; yy < y1; yy++ {
				row := img.Pix[yy*img.Stride:]
				for xx := x0; xx < x1; xx++ {
					for c := range 4 {
						s[c] += int(row[xx*4+c])
					}
				}
			}
			n := (y1 - y0) * (x1 - x0)
			o := out.Pix[y*out.Stride+x*4:]
			for c := range 4 {
				o[c] = uint8(s[c] / n)
			}
		}
	}
	return out
}
