package vips

// shrink is vips_shrinkh (vertical false) or vips_shrinkv (vertical true)
// with ceil: a box average over factor pixels, the input extended by
// copying its last column or row so that the last output pixel averages
// whole blocks; the uchar average is libvips's multiply-and-shift.
type shrink struct {
	in       op // the extended input
	bands    int
	factor   int
	vertical bool
	w, h     int
	dh       demand
}

func newShrink(in op, bands, factor int, vertical bool) op {
	w, h := in.size()
	s := &shrink{bands: bands, factor: factor, vertical: vertical}
	if vertical {
		s.in = newEmbed(in, bands, 0, 0, w, (h+factor-1)/factor*factor, extendCopy)
		s.w, s.h = w, (h+factor-1)/factor
		s.dh = smallTile // "SMALLTILE or we'll need huge input areas"
	} else {
		s.in = newEmbed(in, bands, 0, 0, w+factor, h, extendCopy)
		s.w, s.h = (w+factor-1)/factor, h
		s.dh = min(thinStrip, s.in.hint())
	}
	return s
}

func (s *shrink) size() (int, int) { return s.w, s.h }
func (s *shrink) hint() demand     { return s.dh }

// average is ((sum + factor/2) × ⌊2³²/(256·factor)⌋) >> 24 in uint32.
func (s *shrink) average(sum uint32) uint8 {
	mult := uint32((int64(1) << 32) / int64(256*s.factor))
	return uint8(((sum + uint32(s.factor/2)) * mult) >> 24)
}

// gen is vips_shrinkh_uchar_vector_gen / vips_shrinkv_uchar_vector_gen,
// asking for the input in chunks of 16 rows as they do.
func (s *shrink) gen(r rect) (*buf, error) {
	bands := s.bands
	out := newBuf(r, bands)
	f := s.factor
	ne := r.width * bands
	for y := 0; y < r.height; y += fatStripRows {
		chunk := min(fatStripRows, r.height-y)
		if !s.vertical {
			in, err := prepare(s.in, rect{r.left * f, r.top + y, (r.width + 1) * f, chunk})
			if err != nil {
				return nil, err
			}
			for y1 := 0; y1 < chunk; y1++ {
				p := in.off(r.left*f, r.top+y+y1, bands)
				q := out.pix[out.off(r.left, r.top+y+y1, bands):]
				for x := 0; x < r.width; x++ {
					for z := 0; z < bands; z++ {
						var sum uint32
						for i := 0; i < f; i++ {
							sum += uint32(in.pix[p+(x*f+i)*bands+z])
						}
						q[x*bands+z] = s.average(sum)
					}
				}
			}
			continue
		}
		sums := make([]uint32, ne*chunk)
		start, end := (r.top+y)*f, (r.top+y+chunk)*f
		for y1 := start; y1 < end; y1 += fatStripRows {
			in, err := prepare(s.in, rect{r.left, y1, r.width, min(fatStripRows, end-y1)})
			if err != nil {
				return nil, err
			}
			for y2 := y1; y2 < in.r.bottom(); y2++ {
				row := in.pix[in.off(r.left, y2, bands):][:ne]
				acc := sums[(y2-start)/f*ne:][:ne]
				for e, v := range row {
					acc[e] += uint32(v)
				}
			}
		}
		for y1 := 0; y1 < chunk; y1++ {
			q := out.pix[out.off(r.left, r.top+y+y1, bands):][:ne]
			for e, v := range sums[y1*ne : (y1+1)*ne] {
				q[e] = s.average(v)
			}
		}
	}
	return out, nil
}
