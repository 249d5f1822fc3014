package encoder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/bmp"
	"golang.org/x/image/webp"
)

// Limits bounds what DecodeImage accepts from one input. A zero field takes
// its value from DefaultLimits; a negative field means no limit.
type Limits struct {
	// MaxPixels is the largest width×height accepted. It is checked against
	// the file header before any pixel memory is allocated.
	MaxPixels int64
	// MaxBytes is the largest encoded file accepted.
	MaxBytes int64
}

// DefaultLimits are the limits used for zero fields of Limits: 64 Mpx
// (64×2^20 pixels, 256 MiB as RGBA) and a 64 MiB file.
var DefaultLimits = Limits{MaxPixels: 64 << 20, MaxBytes: 64 << 20}

// ImageInfo describes a decoded image as it was stored. Its JSON keys are
// snake_case like every other key of vlmrun's JSON output.
type ImageInfo struct {
	Format      string `json:"format"`      // "jpeg", "png", "gif", "bmp" or "webp"
	Width       int    `json:"width"`       // stored width, before the EXIF orientation is applied
	Height      int    `json:"height"`      // stored height, before the EXIF orientation is applied
	Orientation int    `json:"orientation"` // EXIF orientation 1–8 that was applied; 1 when absent
	Bytes       int64  `json:"bytes"`       // size of the encoded file
}

// Errors that DecodeImage's errors wrap, for errors.Is. The underlying
// decoder error (io.ErrUnexpectedEOF, for instance) is wrapped as well.
var (
	ErrEmptyImage   = errors.New("empty file")
	ErrNotImage     = errors.New("not an image")
	ErrImageTooBig  = errors.New("image too large")
	ErrCorruptImage = errors.New("truncated or corrupt image")
)

// supported lists the formats DecodeImage reads, for error messages.
const supported = "jpeg, png, gif, bmp, webp"

// imageError is the error DecodeImage returns: one readable sentence that
// names the file, plus the sentinel kind and the cause for errors.Is/As.
type imageError struct {
	name  string
	msg   string
	kind  error
	cause error
}

func (e *imageError) Error() string { return "encoder: decode " + e.name + ": " + e.msg }

func (e *imageError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.kind, e.cause} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// DecodeImage reads one image file (JPEG, PNG, GIF's first frame, BMP or
// WebP) from r, applies its EXIF orientation and returns it as opaque 8-bit
// RGB in an *image.NRGBA with origin (0, 0) and alpha 255 everywhere.
// Transparency is composited over white. name is used in error messages only.
//
// The file is read whole, up to lim.MaxBytes; the header is checked against
// lim.MaxPixels before the pixels are decoded. Every failure is one error
// naming the file and the cause, e.g.
//
//	encoder: decode x.jpg: truncated or corrupt jpeg: unexpected EOF
//
// JPEG chroma is upsampled and converted as libjpeg-turbo does (fancy
// upsampling, libjpeg's fixed-point tables), WebP lossy with libwebp's fancy
// upsampler and limited-range BT.601 conversion. Against PIL (Pillow 9.4,
// libjpeg-turbo 2.1.5, libwebp 1.2.4) PNG, GIF, BMP and WebP decode
// identically and JPEG within a mean of 0.04 and a maximum of 3 levels
// (IDCT rounding); testdata/decode/vs-pil.golden has the numbers.
func DecodeImage(name string, r io.Reader, lim Limits) (*image.NRGBA, ImageInfo, error) {
	fail := func(kind, cause error, format string, args ...any) (*image.NRGBA, ImageInfo, error) {
		return nil, ImageInfo{}, &imageError{name: name, msg: fmt.Sprintf(format, args...), kind: kind, cause: cause}
	}
	maxBytes := limitOr(lim.MaxBytes, DefaultLimits.MaxBytes)
	maxPixels := limitOr(lim.MaxPixels, DefaultLimits.MaxPixels)

	src := r
	if maxBytes >= 0 {
		src = io.LimitReader(r, maxBytes+1)
	}
	data, err := io.ReadAll(src)
	if err != nil {
		return fail(nil, err, "read: %v", err)
	}
	if maxBytes >= 0 && int64(len(data)) > maxBytes {
		return fail(ErrImageTooBig, nil, "file is larger than the %s limit", byteSize(maxBytes))
	}
	if len(data) == 0 {
		return fail(ErrEmptyImage, nil, "empty file")
	}
	info := ImageInfo{Format: sniff(data), Bytes: int64(len(data)), Orientation: 1}
	if !isSupported(info.Format) {
		if info.Format == "" {
			return fail(ErrNotImage, nil, "not an image (unknown format; supported: %s)", supported)
		}
		return fail(ErrNotImage, nil, "unsupported image format %s (supported: %s)", info.Format, supported)
	}
	corrupt := func(err error) (*image.NRGBA, ImageInfo, error) {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		// Go's JPEG decoder reports entropy-coded data cut short so.
		if _, ok := err.(jpeg.FormatError); ok && err.Error() == "invalid JPEG format: short Huffman data" {
			err = fmt.Errorf("%w (short Huffman data)", io.ErrUnexpectedEOF)
		}
		return fail(ErrCorruptImage, err, "truncated or corrupt %s: %v", info.Format, err)
	}

	cfg, err := decodeConfig(info.Format, data)
	if err != nil {
		return corrupt(err)
	}
	info.Width, info.Height = cfg.Width, cfg.Height
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return corrupt(fmt.Errorf("image is %d×%d", cfg.Width, cfg.Height))
	}
	if px := int64(cfg.Width) * int64(cfg.Height); maxPixels >= 0 && px > maxPixels {
		return fail(ErrImageTooBig, nil, "image is %d×%d (%s), above the %s limit",
			cfg.Width, cfg.Height, megapixels(px), megapixels(maxPixels))
	}
	if info.Format == "bmp" {
		if err := checkBMPSize(data, cfg); err != nil {
			return corrupt(err)
		}
	}

	m, err := decodePixels(info.Format, data)
	if err != nil {
		return corrupt(err)
	}
	img := toNRGBA(m, info.Format, cfg.Width, cfg.Height)
	if o := exifOrientation(info.Format, data); o != 1 {
		info.Orientation = o
		img = orient(img, o)
	}
	return img, info, nil
}

// limitOr returns v, or def when v is zero.
func limitOr(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// Megapixels formats a pixel count as the CLI's and the server's errors
// do: in Mpx of 2^20 pixels (the unit of DefaultLimits and --max-pixels'
// help), or in pixels when below 0.1 Mpx.
func Megapixels(px int64) string { return megapixels(px) }

// megapixels formats a pixel count in Mpx of 2^20 pixels, the unit of
// DefaultLimits, or in pixels when below 0.1 Mpx.
func megapixels(px int64) string {
	m := float64(px) / (1 << 20)
	if m < 0.1 {
		return fmt.Sprintf("%d px", px)
	}
	if m < 10 {
		return fmt.Sprintf("%.1f Mpx", m)
	}
	return fmt.Sprintf("%.0f Mpx", m)
}

// byteSize formats a byte count in MiB or KiB.
func byteSize(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

// sniff names the format of data from its magic bytes: one of the
// supported formats, another well-known image format, or "".
func sniff(b []byte) string {
	has := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && string(b[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "\xff\xd8\xff"):
		return "jpeg"
	case has(0, "\x89PNG\r\n\x1a\n"):
		return "png"
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return "gif"
	case has(0, "BM"):
		return "bmp"
	case has(0, "RIFF") && has(8, "WEBP"):
		return "webp"
	case has(0, "II*\x00"), has(0, "MM\x00*"):
		return "tiff"
	case has(4, "ftypavif"), has(4, "ftypavis"):
		return "avif"
	case has(4, "ftypheic"), has(4, "ftypheix"), has(4, "ftypmif1"), has(4, "ftyphevc"):
		return "heif"
	case has(0, "\x00\x00\x00\x0cjP  "), has(0, "\xff\x4f\xff\x51"):
		return "jpeg 2000"
	case has(0, "\xff\x0a"), has(0, "\x00\x00\x00\x0cJXL "):
		return "jpeg xl"
	case has(0, "%PDF"):
		return "pdf"
	}
	return ""
}

func isSupported(format string) bool {
	switch format {
	case "jpeg", "png", "gif", "bmp", "webp":
		return true
	}
	return false
}

// decodeConfig reads only the header of data.
func decodeConfig(format string, data []byte) (image.Config, error) {
	r := bytes.NewReader(data)
	switch format {
	case "jpeg":
		return jpeg.DecodeConfig(r)
	case "png":
		return png.DecodeConfig(r)
	case "gif":
		return gif.DecodeConfig(r)
	case "bmp":
		return bmp.DecodeConfig(r)
	default:
		return webp.DecodeConfig(r)
	}
}

// decodePixels decodes data fully. Fuzzing (FuzzDecodeImage) found no
// panics in these decoders, so there is no recover here.
func decodePixels(format string, data []byte) (image.Image, error) {
	r := bytes.NewReader(data)
	switch format {
	case "jpeg":
		return jpeg.Decode(r)
	case "png":
		return png.Decode(r)
	case "gif":
		return gif.Decode(r)
	case "bmp":
		return bmp.Decode(r)
	default:
		return webp.Decode(r)
	}
}

// checkBMPSize refuses a BMP whose pixel data is shorter than its header
// says, before the decoder allocates the whole image for it (BMP being
// uncompressed, a few bytes could otherwise claim gigabytes).
func checkBMPSize(data []byte, cfg image.Config) error {
	if len(data) < 30 {
		return io.ErrUnexpectedEOF
	}
	bpp := int64(binary.LittleEndian.Uint16(data[28:30]))
	row := (int64(cfg.Width)*bpp + 31) / 32 * 4
	need := row * int64(cfg.Height)
	if avail := int64(len(data)) - int64(binary.LittleEndian.Uint32(data[10:14])); avail < need {
		return fmt.Errorf("pixel data is %d bytes, the header needs %d: %w", max(avail, 0), need, io.ErrUnexpectedEOF)
	}
	return nil
}

// toNRGBA converts a decoded image to opaque RGB, composited over white,
// on a w×h canvas (a GIF's first frame may cover only part of its screen).
func toNRGBA(m image.Image, format string, w, h int) *image.NRGBA {
	b := m.Bounds()
	var out *image.NRGBA
	switch m := m.(type) {
	case *image.YCbCr:
		if format == "webp" {
			out = webpToNRGBA(m, nil, 0)
		} else {
			out = jpegToNRGBA(m)
		}
	case *image.NYCbCrA:
		out = webpToNRGBA(&m.YCbCr, m.A, m.AStride)
	case *image.Gray:
		out = image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		for y := 0; y < b.Dy(); y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+b.Dx()]
			dst := out.Pix[y*out.Stride : y*out.Stride+4*b.Dx()]
			for x, v := range src {
				dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = v, v, v, 255
			}
		}
	case *image.Paletted:
		var lut [256][3]uint8 // out-of-palette indices stay black
		for i, c := range m.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			lut[i] = [3]uint8{over(n.R, n.A), over(n.G, n.A), over(n.B, n.A)}
		}
		out = image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		for y := 0; y < b.Dy(); y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+b.Dx()]
			dst := out.Pix[y*out.Stride : y*out.Stride+4*b.Dx()]
			for x, i := range src {
				c := &lut[i]
				dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = c[0], c[1], c[2], 255
			}
		}
	case *image.NRGBA:
		out = convertRows(b, m.Pix, m.Stride, 4, func(d, s []byte) {
			d[0], d[1], d[2] = over(s[0], s[3]), over(s[1], s[3]), over(s[2], s[3])
		})
	case *image.RGBA: // premultiplied: c + (255 - a) is c over white
		out = convertRows(b, m.Pix, m.Stride, 4, func(d, s []byte) {
			k := 255 - s[3]
			d[0], d[1], d[2] = sat8(int(s[0])+int(k)), sat8(int(s[1])+int(k)), sat8(int(s[2])+int(k))
		})
	case *image.Gray16:
		out = convertRows(b, m.Pix, m.Stride, 2, func(d, s []byte) { d[0], d[1], d[2] = s[0], s[0], s[0] })
	case *image.NRGBA64:
		out = convertRows(b, m.Pix, m.Stride, 8, func(d, s []byte) {
			d[0], d[1], d[2] = over(s[0], s[6]), over(s[2], s[6]), over(s[4], s[6])
		})
	case *image.RGBA64:
		out = convertRows(b, m.Pix, m.Stride, 8, func(d, s []byte) {
			k := 0xffff - (int(s[6])<<8 | int(s[7]))
			for c := 0; c < 3; c++ {
				d[c] = uint8(min(int(s[2*c])<<8|int(s[2*c+1])+k, 0xffff) >> 8)
			}
		})
	case *image.CMYK:
		out = convertRows(b, m.Pix, m.Stride, 4, func(d, s []byte) {
			d[0], d[1], d[2] = color.CMYKToRGB(s[0], s[1], s[2], s[3])
		})
	}
	if out == nil { // any other image type: slow but general
		out = image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				n := color.NRGBAModel.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				out.SetNRGBA(x, y, color.NRGBA{over(n.R, n.A), over(n.G, n.A), over(n.B, n.A), 255})
			}
		}
	}
	if b.Min == (image.Point{}) && b.Dx() == w && b.Dy() == h {
		return out
	}
	canvas := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range canvas.Pix {
		canvas.Pix[i] = 255
	}
	r := b.Intersect(canvas.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		copy(canvas.Pix[canvas.PixOffset(r.Min.X, y):canvas.PixOffset(r.Max.X, y)],
			out.Pix[out.PixOffset(r.Min.X-b.Min.X, y-b.Min.Y):])
	}
	return canvas
}

// convertRows converts a Pix buffer of bpp bytes a pixel to opaque NRGBA,
// calling f with each destination and source pixel.
func convertRows(b image.Rectangle, pix []byte, stride, bpp int, f func(d, s []byte)) *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		src := pix[y*stride : y*stride+bpp*b.Dx()]
		dst := out.Pix[y*out.Stride : y*out.Stride+4*b.Dx()]
		for x := 0; x < b.Dx(); x++ {
			d := dst[4*x : 4*x+4 : 4*x+4]
			f(d, src[bpp*x:bpp*x+bpp:bpp*x+bpp])
			d[3] = 255
		}
	}
	return out
}

// over composites a straight-alpha channel value over white, rounded.
func over(c, a uint8) uint8 {
	if a == 255 {
		return c
	}
	return uint8((uint32(c)*uint32(a) + 255*(255-uint32(a)) + 127) / 255)
}

// sat8 clamps v to 0..255.
func sat8(v int) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// jpegTab holds libjpeg's fixed-point YCbCr→RGB tables (jdcolor.c,
// SCALEBITS 16), so that JPEG colours round as in libjpeg-turbo.
var jpegTab = func() (t struct{ crR, cbB, crG, cbG [256]int32 }) {
	const half = 1 << 15
	fix := func(x float64) int32 { return int32(x*65536 + 0.5) }
	for i := range 256 {
		x := int32(i - 128)
		t.crR[i] = (fix(1.40200)*x + half) >> 16
		t.cbB[i] = (fix(1.77200)*x + half) >> 16
		t.crG[i] = -fix(0.71414) * x
		t.cbG[i] = -fix(0.34414)*x + half
	}
	return t
}()

// jpegToNRGBA converts a decoded JPEG as libjpeg-turbo does by default:
// "fancy" triangle-filter chroma upsampling for 4:2:2, 4:2:0 and 4:4:0
// (Go's own conversion repeats each chroma sample) and libjpeg's colour
// tables. It returns nil for layouts it does not handle (4:1:1, 4:1:0).
func jpegToNRGBA(m *image.YCbCr) *image.NRGBA {
	var hs, vs int
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio422:
		hs, vs = 2, 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio440:
		hs, vs = 1, 2
	default:
		return nil
	}
	if m.Rect.Min != (image.Point{}) {
		return nil
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	cw, ch := (w+hs-1)/hs, (h+vs-1)/vs
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	cb, cr, sum := make([]uint8, w), make([]uint8, w), make([]int32, cw)
	t := &jpegTab
	for y := 0; y < h; y++ {
		jpegUpsampleRow(m.Cb, m.CStride, cw, ch, hs, vs, y, cb, sum)
		jpegUpsampleRow(m.Cr, m.CStride, cw, ch, hs, vs, y, cr, sum)
		yrow := m.Y[y*m.YStride : y*m.YStride+w]
		dst := out.Pix[y*out.Stride : y*out.Stride+4*w]
		for x, yv := range yrow {
			Y, b, r := int(yv), cb[x], cr[x]
			dst[4*x] = sat8(Y + int(t.crR[r]))
			dst[4*x+1] = sat8(Y + int((t.cbG[b]+t.crG[r])>>16))
			dst[4*x+2] = sat8(Y + int(t.cbB[b]))
			dst[4*x+3] = 255
		}
	}
	return out
}

// jpegUpsampleRow writes the chroma of output row y into out, as
// libjpeg-turbo's h2v1, h2v2 and h1v2 fancy upsamplers do (jdsample.c):
// 3/4 of the nearer sample plus 1/4 of the farther one in each subsampled
// direction, with libjpeg's alternating rounding biases and edge samples
// repeated.
func jpegUpsampleRow(plane []uint8, stride, cw, ch, hs, vs, y int, out []uint8, sum []int32) {
	cy := y / vs
	row := plane[cy*stride : cy*stride+cw]
	if vs == 1 {
		if hs == 1 {
			copy(out, row)
			return
		}
		for i, c := range row {
			c3 := 3 * int(c)
			out[2*i] = uint8((c3 + int(row[max(i-1, 0)]) + 1) >> 2)
			if 2*i+1 < len(out) {
				out[2*i+1] = uint8((c3 + int(row[min(i+1, cw-1)]) + 2) >> 2)
			}
		}
		return
	}
	fy, bias := max(cy-1, 0), int32(1) // even rows lean on the row above
	if y%2 == 1 {
		fy, bias = min(cy+1, ch-1), 2
	}
	far := plane[fy*stride : fy*stride+cw]
	for i, c := range row {
		sum[i] = 3*int32(c) + int32(far[i])
	}
	if hs == 1 {
		for i, s := range sum[:cw] {
			out[i] = uint8((s + bias) >> 2)
		}
		return
	}
	for i, s := range sum[:cw] {
		s3 := 3 * s
		out[2*i] = uint8((s3 + sum[max(i-1, 0)] + 8) >> 4)
		if 2*i+1 < len(out) {
			out[2*i+1] = uint8((s3 + sum[min(i+1, cw-1)] + 7) >> 4)
		}
	}
}

// webpToNRGBA converts a decoded lossy WebP (4:2:0, limited-range BT.601)
// as libwebp does by default: its "fancy" upsampler (upsampling.c) and its
// 14-bit fixed-point conversion (yuv.h). Go's image.YCbCr would apply the
// full-range JFIF matrix instead, off by a mean of about 7 levels. alpha,
// when not nil, is composited over white. It returns nil for other layouts.
func webpToNRGBA(m *image.YCbCr, alpha []uint8, astride int) *image.NRGBA {
	if m.SubsampleRatio != image.YCbCrSubsampleRatio420 || m.Rect.Min != (image.Point{}) {
		return nil
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	ch := (h + 1) / 2
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	u, v := make([]uint8, w), make([]uint8, w)
	mulHi := func(v, coeff int) int { return (v * coeff) >> 8 }
	clip := func(v int) uint8 {
		if v&^(256<<6-1) == 0 {
			return uint8(v >> 6)
		}
		if v < 0 {
			return 0
		}
		return 255
	}
	for y := 0; y < h; y++ {
		cy, fy := y>>1, max((y>>1)-1, 0) // nearer and farther chroma rows
		if y&1 == 1 {
			fy = min(cy+1, ch-1)
		}
		webpUpsampleRow(m.Cb[cy*m.CStride:], m.Cb[fy*m.CStride:], u)
		webpUpsampleRow(m.Cr[cy*m.CStride:], m.Cr[fy*m.CStride:], v)
		yrow := m.Y[y*m.YStride : y*m.YStride+w]
		dst := out.Pix[y*out.Stride : y*out.Stride+4*w]
		for x, yv := range yrow {
			Y, U, V := mulHi(int(yv), 19077), int(u[x]), int(v[x])
			r := clip(Y + mulHi(V, 26149) - 14234)
			g := clip(Y - mulHi(U, 6419) - mulHi(V, 13320) + 8708)
			b := clip(Y + mulHi(U, 33050) - 17685)
			if alpha != nil {
				a := alpha[y*astride+x]
				r, g, b = over(r, a), over(g, a), over(b, a)
			}
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = r, g, b, 255
		}
	}
	return out
}

// webpUpsampleRow is libwebp's UpsampleRgbLinePair for one output row:
// near is the chroma row nearer to it, far the other one of the pair.
func webpUpsampleRow(near, far []uint8, out []uint8) {
	w := len(out)
	out[0] = uint8((3*int(near[0]) + int(far[0]) + 2) >> 2)
	for x := 1; x <= (w-1)>>1; x++ {
		a, b, c, d := int(near[x-1]), int(near[x]), int(far[x-1]), int(far[x])
		s := a + b + c + d + 8
		out[2*x-1] = uint8((((s + 2*(b+c)) >> 3) + a) >> 1)
		out[2*x] = uint8((((s + 2*(a+d)) >> 3) + b) >> 1)
	}
	if w&1 == 0 {
		l := (w - 1) >> 1
		out[w-1] = uint8((3*int(near[l]) + int(far[l]) + 2) >> 2)
	}
}
