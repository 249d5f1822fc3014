package encoder

import (
	"bytes"
	"image"
	"os"
	"path/filepath"
	"testing"
)

// TestOrientationFixtures decodes a JPEG stored under each EXIF orientation
// (gen.py stores upright.png transformed so that the tag undoes it) and
// expects the upright image back, plus PNG eXIf and WebP EXIF variants.
func TestOrientationFixtures(t *testing.T) {
	up := readPNG(t, "testdata/orient/upright.png")
	for o := 1; o <= 8; o++ {
		name := "orient" + string(rune('0'+o)) + ".jpg"
		t.Run(name, func(t *testing.T) {
			got, info := decodeFile(t, filepath.Join("testdata", "orient", name))
			w, h := 48, 32
			if o >= 5 {
				w, h = h, w
			}
			if info.Orientation != o || info.Width != w || info.Height != h {
				t.Errorf("info %+v, want orientation %d, stored size %d×%d", info, o, w, h)
			}
			// q95 4:4:4 JPEG of flat 16-aligned blocks: small ringing only.
			if d := compareRGB(t, got, up); d.Mean > 0.5 || d.Max > 12 {
				t.Errorf("vs upright: %v", d)
			}
		})
	}
	for _, name := range []string{"orient6.png", "orient6.webp"} {
		t.Run(name, func(t *testing.T) {
			got, info := decodeFile(t, filepath.Join("testdata", "orient", name))
			if info.Orientation != 6 {
				t.Errorf("orientation %d, want 6", info.Orientation)
			}
			if d := compareRGB(t, got, up); d.Max != 0 {
				t.Errorf("vs upright: %v", d)
			}
		})
	}
}

// TestOrient checks the eight transforms on a 3×2 image whose pixels are
// numbered 1..6, row by row.
func TestOrient(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	for i := 0; i < 6; i++ {
		m.Pix[4*i] = uint8(i + 1)
	}
	// Upright views of the stored 1 2 3 / 4 5 6, row by row.
	tests := []struct {
		o    int
		w    int
		want []uint8
	}{
		{1, 3, []uint8{1, 2, 3, 4, 5, 6}},
		{2, 3, []uint8{3, 2, 1, 6, 5, 4}},
		{3, 3, []uint8{6, 5, 4, 3, 2, 1}},
		{4, 3, []uint8{4, 5, 6, 1, 2, 3}},
		{5, 2, []uint8{1, 4, 2, 5, 3, 6}},
		{6, 2, []uint8{4, 1, 5, 2, 6, 3}},
		{7, 2, []uint8{6, 3, 5, 2, 4, 1}},
		{8, 2, []uint8{3, 6, 2, 5, 1, 4}},
	}
	for _, tc := range tests {
		got := orient(m, tc.o)
		if got.Rect.Dx() != tc.w || got.Rect.Dy() != 6/tc.w {
			t.Errorf("orientation %d: size %v", tc.o, got.Rect.Size())
			continue
		}
		var vals []uint8
		for i := 0; i < 6; i++ {
			vals = append(vals, got.Pix[4*i])
		}
		if !bytes.Equal(vals, tc.want) {
			t.Errorf("orientation %d: %v, want %v", tc.o, vals, tc.want)
		}
	}
}

// tiff builds a TIFF header with one IFD0 entry.
func tiff(le bool, tag, typ uint16, val uint32) []byte {
	b := []byte("MM\x00*\x00\x00\x00\x08\x00\x01")
	put16 := func(v uint16) { b = append(b, byte(v>>8), byte(v)) }
	put32 := func(v uint32) { put16(uint16(v >> 16)); put16(uint16(v)) }
	if le {
		b = []byte("II*\x00\x08\x00\x00\x00\x01\x00")
		put16 = func(v uint16) { b = append(b, byte(v), byte(v>>8)) }
		put32 = func(v uint32) { put16(uint16(v)); put16(uint16(v >> 16)) }
	}
	put16(tag)
	put16(typ)
	put32(1)
	if typ == 3 {
		put16(uint16(val))
		put16(0)
	} else {
		put32(val)
	}
	return b
}

func TestTIFFOrientation(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want int
	}{
		{"little-endian short", tiff(true, 0x0112, 3, 6), 6},
		{"big-endian short", tiff(false, 0x0112, 3, 8), 8},
		{"long", tiff(true, 0x0112, 4, 3), 3},
		{"out of range", tiff(true, 0x0112, 3, 9), 1},
		{"zero", tiff(false, 0x0112, 3, 0), 1},
		{"wrong type", tiff(true, 0x0112, 2, 6), 1},
		{"other tag", tiff(true, 0x0110, 3, 6), 1},
		{"truncated entry", tiff(true, 0x0112, 3, 6)[:15], 1},
		{"bad offset", []byte("II*\x00\xff\xff\xff\xff\x01\x00"), 1},
		{"bad magic", []byte("II+\x00\x08\x00\x00\x00\x01\x00"), 1},
		{"empty", nil, 1},
	}
	for _, tc := range tests {
		if got := tiffOrientation(tc.data); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestJPEGExifWalk(t *testing.T) {
	exif := append([]byte("Exif\x00\x00"), tiff(true, 0x0112, 3, 7)...)
	seg := func(marker byte, body []byte) []byte {
		n := len(body) + 2
		return append([]byte{0xff, marker, byte(n >> 8), byte(n)}, body...)
	}
	var good []byte
	good = append(good, 0xff, 0xd8)
	good = append(good, seg(0xe0, []byte("JFIF\x00\x01\x02"))...)
	good = append(good, 0xff, 0xff) // fill bytes
	good = append(good, seg(0xe1, []byte("http://ns.adobe.com/xap/1.0/\x00"))...)
	good = append(good, seg(0xe1, exif)...)
	tests := []struct {
		name string
		data []byte
		want int
	}{
		{"exif after JFIF and XMP", good, 7},
		{"cut inside the segment", good[:len(good)-3], 1},
		{"length past the end", append([]byte{0xff, 0xd8, 0xff, 0xe1, 0xff, 0xff}, exif...), 1},
		{"length below 2", []byte{0xff, 0xd8, 0xff, 0xe1, 0x00, 0x01, 0, 0}, 1},
		{"after start of scan", append([]byte{0xff, 0xd8, 0xff, 0xda, 0, 2}, seg(0xe1, exif)...), 1},
		{"garbage", []byte{0xff, 0xd8, 0x12, 0x34, 0x56, 0x78}, 1},
	}
	for _, tc := range tests {
		if got := exifOrientation("jpeg", tc.data); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestExifReadersBounds runs the container walkers over every prefix of the
// fixtures: none may panic, and the full files give their tag.
func TestExifReadersBounds(t *testing.T) {
	for name, format := range map[string]string{"orient6.jpg": "jpeg", "orient6.png": "png", "orient6.webp": "webp"} {
		data, err := os.ReadFile(filepath.Join("testdata", "orient", name))
		if err != nil {
			t.Fatal(err)
		}
		if got := exifOrientation(format, data); got != 6 {
			t.Errorf("%s: orientation %d, want 6", name, got)
		}
		for n := range data {
			exifOrientation(format, data[:n])
		}
	}
}
