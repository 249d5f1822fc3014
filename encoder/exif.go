package encoder

import (
	"encoding/binary"
	"image"
)

// exifOrientation returns the EXIF orientation tag (1–8) of an encoded
// image: from the first APP1 "Exif" segment of a JPEG, the eXIf chunk of a
// PNG or the EXIF chunk of a WebP. It returns 1 when there is none, or
// when the data is malformed: orientation is a hint, never a decode error.
func exifOrientation(format string, data []byte) int {
	var tiff []byte
	switch format {
	case "jpeg":
		tiff = jpegExif(data)
	case "png":
		tiff = pngExif(data)
	case "webp":
		tiff = webpExif(data)
	}
	return tiffOrientation(tiff)
}

// jpegExif returns the TIFF payload of the first APP1 Exif segment, walking
// the marker segments up to the start of the scan.
func jpegExif(b []byte) []byte {
	i := 2 // after SOI
	for i+4 <= len(b) {
		if b[i] != 0xff {
			return nil
		}
		marker := b[i+1]
		switch {
		case marker == 0xff: // fill byte
			i++
			continue
		case marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7): // no length
			i += 2
			continue
		case marker == 0xda || marker == 0xd9: // start of scan, end of image
			return nil
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xe1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			return seg[6:]
		}
		i += 2 + n
	}
	return nil
}

// pngExif returns the contents of the eXIf chunk, which must come before
// the image data.
func pngExif(b []byte) []byte {
	i := 8 // after the signature
	for i+8 <= len(b) {
		n := int64(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		if n > int64(len(b)-i-12) {
			return nil
		}
		switch typ {
		case "eXIf":
			return b[i+8 : i+8+int(n)]
		case "IDAT", "IEND":
			return nil
		}
		i += 12 + int(n)
	}
	return nil
}

// webpExif returns the contents of the EXIF chunk of an extended (VP8X)
// WebP, without the "Exif\0\0" prefix some writers add.
func webpExif(b []byte) []byte {
	i := 12 // after RIFF size WEBP
	for i+8 <= len(b) {
		n := int64(binary.LittleEndian.Uint32(b[i+4:]))
		if n > int64(len(b)-i-8) {
			return nil
		}
		if string(b[i:i+4]) == "EXIF" {
			c := b[i+8 : i+8+int(n)]
			if len(c) >= 6 && string(c[:6]) == "Exif\x00\x00" {
				c = c[6:]
			}
			return c
		}
		i += 8 + int(n) + int(n&1) // chunks are padded to even sizes
	}
	return nil
}

// tiffOrientation reads tag 0x0112 (Orientation) from IFD0 of a TIFF
// structure, returning 1 when it is absent or out of range.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 1
	}
	off := int64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > int64(len(t)) {
		return 1
	}
	n := int64(bo.Uint16(t[off:]))
	for k := int64(0); k < n; k++ {
		e := off + 2 + 12*k
		if e+12 > int64(len(t)) {
			return 1
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		var v int
		switch typ := bo.Uint16(t[e+2:]); typ {
		case 3: // SHORT
			v = int(bo.Uint16(t[e+8:]))
		case 4: // LONG, seen from a few writers
			v = int(bo.Uint32(t[e+8:]))
		default:
			return 1
		}
		if v < 1 || v > 8 {
			return 1
		}
		return v
	}
	return 1
}

// orient returns m transformed so that an image stored with EXIF
// orientation o is shown upright, as PIL's ImageOps.exif_transpose does:
// 2 mirrors left-right, 3 rotates 180°, 4 mirrors top-bottom, 5 transposes,
// 6 rotates 90° clockwise, 7 transverses, 8 rotates 90° counter-clockwise.
func orient(m *image.NRGBA, o int) *image.NRGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	if o < 2 || o > 8 {
		return m
	}
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	out := image.NewNRGBA(image.Rect(0, 0, ow, oh))
	// src maps an output pixel to the stored pixel it shows.
	var src func(x, y int) (int, int)
	switch o {
	case 2:
		src = func(x, y int) (int, int) { return w - 1 - x, y }
	case 3:
		src = func(x, y int) (int, int) { return w - 1 - x, h - 1 - y }
	case 4:
		src = func(x, y int) (int, int) { return x, h - 1 - y }
	case 5:
		src = func(x, y int) (int, int) { return y, x }
	case 6:
		src = func(x, y int) (int, int) { return y, h - 1 - x }
	case 7:
		src = func(x, y int) (int, int) { return w - 1 - y, h - 1 - x }
	case 8:
		src = func(x, y int) (int, int) { return w - 1 - y, x }
	}
	for y := 0; y < oh; y++ {
		d := out.Pix[y*out.Stride : y*out.Stride+4*ow]
		for x := 0; x < ow; x++ {
			sx, sy := src(x, y)
			s := m.Pix[sy*m.Stride+4*sx : sy*m.Stride+4*sx+4]
			copy(d[4*x:4*x+4], s)
		}
	}
	return out
}
