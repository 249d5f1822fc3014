package encoder

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The -update flag rewrites the golden files that Go produces (the
// *.golden statistics). PIL's goldens come from testdata/gen.py. The flag
// is registered only if another test file of the package has not already.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite Go-produced golden files in testdata")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// readPNG decodes a PNG golden independently of DecodeImage.
func readPNG(t testing.TB, path string) *image.NRGBA {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := m.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			out.Set(x, y, m.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return out
}

func decodeFile(t testing.TB, path string) (*image.NRGBA, ImageInfo) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, info, err := DecodeImage(filepath.Base(path), f, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return m, info
}

// diffStats compares the RGB channels of two images of one size, in 0–255
// units: mean absolute difference, signed mean (got − want), largest
// difference and the fraction of values off by more than 1.
type diffStats struct {
	Mean, Signed, Over1 float64
	Max                 int
}

func (d diffStats) String() string {
	return fmt.Sprintf("mean %.3f signed %+.3f max %d >1: %.1f%%", d.Mean, d.Signed, d.Max, 100*d.Over1)
}

func compareRGB(t testing.TB, got, want *image.NRGBA) diffStats {
	t.Helper()
	if got.Rect.Size() != want.Rect.Size() {
		t.Fatalf("size %v, want %v", got.Rect.Size(), want.Rect.Size())
	}
	var d diffStats
	var sum, signed, over int
	w, h := want.Rect.Dx(), want.Rect.Dy()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g, e := got.Pix[got.PixOffset(x, y):], want.Pix[want.PixOffset(x, y):]
			for c := 0; c < 3; c++ {
				v := int(g[c]) - int(e[c])
				signed += v
				if v < 0 {
					v = -v
				}
				sum += v
				d.Max = max(d.Max, v)
				if v > 1 {
					over++
				}
			}
		}
	}
	n := float64(3 * w * h)
	d.Mean, d.Signed, d.Over1 = float64(sum)/n, float64(signed)/n, float64(over)/n
	return d
}

// checkGolden compares text with a Go-produced golden file, rewriting it
// under -update.
func checkGolden(t *testing.T, path, text string) {
	t.Helper()
	if updating() {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != text {
		t.Errorf("%s differs (go test -update rewrites it):\n--- want\n%s--- got\n%s", path, want, text)
	}
}

func TestDecodeFormats(t *testing.T) {
	// maxMean/maxDiff bound the difference from PIL's decode (*.want.png);
	// zero means the pixels must be identical.
	tests := []struct {
		file    string
		format  string
		maxMean float64
		maxDiff int
	}{
		{"rgb.png", "png", 0, 0},
		{"gray.png", "png", 0, 0},
		{"gray16.png", "png", 0, 0},
		{"rgba.png", "png", 0, 0},
		{"la.png", "png", 0, 0},
		{"pal-trns.png", "png", 0, 0},
		{"pal.gif", "gif", 0, 0},
		{"pal-trns.gif", "gif", 0, 0},
		{"rgb.bmp", "bmp", 0, 0},
		{"pal.bmp", "bmp", 0, 0},
		{"lossless.webp", "webp", 0, 0},
		{"lossless-alpha.webp", "webp", 0, 0},
		{"lossy.webp", "webp", 0, 0},
		{"lossy-alpha.webp", "webp", 0, 0},
		{"q90-444.jpg", "jpeg", 0.5, 3},
		{"q90-422.jpg", "jpeg", 0.5, 3},
		{"q90-420.jpg", "jpeg", 0.5, 3},
		{"progressive-420.jpg", "jpeg", 0.5, 3},
		{"gray.jpg", "jpeg", 0.5, 3},
		{"cmyk.jpg", "jpeg", 1, 4},
	}
	var report strings.Builder
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", "decode", tc.file)
			got, info := decodeFile(t, path)
			want := readPNG(t, path+".want.png")
			st, _ := os.Stat(path)
			wantInfo := ImageInfo{Format: tc.format, Width: want.Rect.Dx(), Height: want.Rect.Dy(), Orientation: 1, Bytes: st.Size()}
			if info != wantInfo {
				t.Errorf("info %+v, want %+v", info, wantInfo)
			}
			if !got.Opaque() || got.Rect.Min != (image.Point{}) {
				t.Errorf("result not opaque at origin (0,0): %v", got.Rect)
			}
			d := compareRGB(t, got, want)
			fmt.Fprintf(&report, "%-20s %s\n", tc.file, d)
			if d.Mean > tc.maxMean || d.Max > tc.maxDiff {
				t.Errorf("vs PIL: %v; allowed mean %.2f max %d", d, tc.maxMean, tc.maxDiff)
			}
		})
	}
	if !t.Failed() {
		checkGolden(t, filepath.Join("testdata", "decode", "vs-pil.golden"), report.String())
	}
}

func TestDecodeErrors(t *testing.T) {
	jpg, err := os.ReadFile("testdata/decode/q90-420.jpg")
	if err != nil {
		t.Fatal(err)
	}
	pngData, _ := os.ReadFile("testdata/decode/rgb.png")
	corruptPNG := bytes.Clone(pngData)
	// Flip a byte inside IDAT: a checksum or inflate error.
	corruptPNG[60] ^= 0xff
	bigBMP := []byte("BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00" + // file header, data at 54
		"\x28\x00\x00\x00\x40\x1f\x00\x00\x40\x1f\x00\x00\x01\x00\x18\x00" + // 8000×8000, 24 bpp
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + "abc")
	notes, _ := os.ReadFile("testdata/notes.txt")
	tests := []struct {
		name string
		data []byte
		lim  Limits
		kind error
		msg  string // the whole message, or its prefix when it ends in "…"
	}{
		{"x.jpg", nil, DefaultLimits, ErrEmptyImage, "encoder: decode x.jpg: empty file"},
		{"notes.txt", notes, DefaultLimits, ErrNotImage,
			"encoder: decode notes.txt: not an image (unknown format; supported: jpeg, png, gif, bmp, webp)"},
		{"x.jpg", jpg[:len(jpg)/2], DefaultLimits, io.ErrUnexpectedEOF,
			"encoder: decode x.jpg: truncated or corrupt jpeg: unexpected EOF (short Huffman data)"},
		{"x.jpg", jpg[:300], DefaultLimits, io.ErrUnexpectedEOF,
			"encoder: decode x.jpg: truncated or corrupt jpeg: unexpected EOF"},
		{"x.jpg", jpg[:100], DefaultLimits, ErrCorruptImage, "encoder: decode x.jpg: truncated or corrupt jpeg: …"},
		{"x.png", corruptPNG, DefaultLimits, ErrCorruptImage, "encoder: decode x.png: truncated or corrupt png: …"},
		{"x.tif", []byte("II*\x00\x08\x00\x00\x00"), DefaultLimits, ErrNotImage,
			"encoder: decode x.tif: unsupported image format tiff (supported: jpeg, png, gif, bmp, webp)"},
		{"x.png", pngData, Limits{MaxBytes: 1000}, ErrImageTooBig,
			"encoder: decode x.png: file is larger than the 1000 bytes limit"},
		{"x.png", pngData, Limits{MaxPixels: 1000}, ErrImageTooBig,
			"encoder: decode x.png: image is 61×47 (2867 px), above the 1000 px limit"},
		{"x.bmp", bigBMP, DefaultLimits, io.ErrUnexpectedEOF,
			"encoder: decode x.bmp: truncated or corrupt bmp: pixel data is 3 bytes, the header needs 192000000: unexpected EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.msg, func(t *testing.T) {
			m, _, err := DecodeImage(tc.name, bytes.NewReader(tc.data), tc.lim)
			if err == nil || m != nil {
				t.Fatalf("got image %v, err %v; want an error", m != nil, err)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error %q is not %v", err, tc.kind)
			}
			if p, ok := strings.CutSuffix(tc.msg, "…"); ok {
				if !strings.HasPrefix(err.Error(), p) {
					t.Errorf("error %q, want prefix %q", err, p)
				}
			} else if err.Error() != tc.msg {
				t.Errorf("error %q\n          want %q", err, tc.msg)
			}
		})
	}
}

// TestDecodeHugeHeader checks that a PNG whose header claims 30000×30000
// is refused from its header, without allocating its pixels.
func TestDecodeHugeHeader(t *testing.T) {
	data, err := os.ReadFile("testdata/huge.png")
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, _, err = DecodeImage("huge.png", bytes.NewReader(data), DefaultLimits)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	const want = "encoder: decode huge.png: image is 30000×30000 (858 Mpx), above the 64 Mpx limit"
	if err == nil || err.Error() != want || !errors.Is(err, ErrImageTooBig) {
		t.Fatalf("error %v, want %q", err, want)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("allocated %d bytes to refuse the image", alloc)
	}
	// The allocation bound above is the check that the pixels were never
	// decoded (they would take 3.4 GiB). Time is only a sanity bound, kept
	// generous so a busy shared machine cannot fail it (a 100 ms bound
	// did); BenchmarkDecodeHugeHeader measures it (~microseconds).
	if elapsed > 5*time.Second {
		t.Errorf("took %v to refuse the image", elapsed)
	}
}

// BenchmarkDecodeHugeHeader times refusing a 30000×30000 PNG from its
// header.
func BenchmarkDecodeHugeHeader(b *testing.B) {
	data, err := os.ReadFile("testdata/huge.png")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeImage("huge.png", bytes.NewReader(data), DefaultLimits); !errors.Is(err, ErrImageTooBig) {
			b.Fatal(err)
		}
	}
}

// TestDecodeNoLimits checks that negative limits disable the checks.
func TestDecodeNoLimits(t *testing.T) {
	data, _ := os.ReadFile("testdata/decode/rgb.png")
	if _, _, err := DecodeImage("rgb.png", bytes.NewReader(data), Limits{MaxPixels: -1, MaxBytes: -1}); err != nil {
		t.Fatal(err)
	}
}

// TestCompositeOverWhite checks the alpha rule on the fast paths.
func TestCompositeOverWhite(t *testing.T) {
	for _, tc := range []struct{ c, a, want uint8 }{
		{0, 0, 255}, {200, 0, 255}, {0, 255, 0}, {0, 128, 127}, {100, 51, 224}, {255, 1, 255},
	} {
		if got := over(tc.c, tc.a); got != tc.want {
			t.Errorf("over(%d, %d) = %d, want %d", tc.c, tc.a, got, tc.want)
		}
		n := image.NewNRGBA(image.Rect(0, 0, 1, 1))
		n.Pix[0], n.Pix[3] = tc.c, tc.a
		if got := toNRGBA(n, "png", 1, 1).Pix[0]; got != tc.want {
			t.Errorf("NRGBA(%d, a %d) → %d, want %d", tc.c, tc.a, got, tc.want)
		}
		r := image.NewRGBA(image.Rect(0, 0, 1, 1))
		r.Pix[0], r.Pix[3] = uint8((int(tc.c)*int(tc.a)+127)/255), tc.a
		if got := toNRGBA(r, "png", 1, 1).Pix[0]; math.Abs(float64(got)-float64(tc.want)) > 1 {
			t.Errorf("RGBA(%d premultiplied, a %d) → %d, want %d±1", r.Pix[0], tc.a, got, tc.want)
		}
	}
}

// FuzzDecodeImage feeds arbitrary bytes to DecodeImage, seeded with every
// fixture. It must never panic, and what it returns must be consistent.
func FuzzDecodeImage(f *testing.F) {
	paths, _ := filepath.Glob("testdata/decode/*")
	more, _ := filepath.Glob("testdata/orient/*")
	for _, p := range append(paths, more...) {
		if strings.HasSuffix(p, ".golden") {
			continue
		}
		if b, err := os.ReadFile(p); err == nil && len(b) < 16<<10 {
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8X"))
	lim := Limits{MaxPixels: 1 << 20, MaxBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, info, err := DecodeImage("fuzz", bytes.NewReader(data), lim)
		if err != nil {
			if m != nil || !strings.HasPrefix(err.Error(), "encoder: decode fuzz: ") {
				t.Fatalf("bad failure: image %v, error %q", m != nil, err)
			}
			return
		}
		w, h := info.Width, info.Height
		if info.Orientation >= 5 {
			w, h = h, w
		}
		if m.Rect != image.Rect(0, 0, w, h) || !m.Opaque() {
			t.Fatalf("image %v (opaque %v) for info %+v", m.Rect, m.Opaque(), info)
		}
	})
}

// encode returns m encoded with enc, for round trips through DecodeImage.
func encode(t *testing.T, enc func(io.Writer, image.Image) error, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := enc(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDecode16Bit: 16-bit PNGs keep their high byte, alpha over white.
func TestDecode16Bit(t *testing.T) {
	n := image.NewNRGBA64(image.Rect(0, 0, 2, 1))
	n.SetNRGBA64(0, 0, color.NRGBA64{0x1234, 0xabcd, 0xff00, 0xffff})
	n.SetNRGBA64(1, 0, color.NRGBA64{0x0000, 0x8000, 0xffff, 0x8000})
	o := image.NewRGBA64(image.Rect(0, 0, 2, 1)) // opaque: written as 16-bit RGB
	o.SetRGBA64(0, 0, color.RGBA64{0x1234, 0xabcd, 0xff00, 0xffff})
	o.SetRGBA64(1, 0, color.RGBA64{0x00ff, 0x0100, 0xfeff, 0xffff})
	for _, tc := range []struct {
		name string
		m    image.Image
		want []uint8
	}{
		{"nrgba64", n, []uint8{0x12, 0xab, 0xff, 255, 127, 191, 255, 255}},
		{"rgb48", o, []uint8{0x12, 0xab, 0xff, 255, 0x00, 0x01, 0xfe, 255}},
	} {
		got, _, err := DecodeImage(tc.name, bytes.NewReader(encode(t, png.Encode, tc.m)), DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Pix, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got.Pix, tc.want)
		}
	}
}

// TestDecodeGIFFrameOffset: a first frame smaller than the GIF's screen
// lands at its offset on a white canvas of the screen's size.
func TestDecodeGIFFrameOffset(t *testing.T) {
	frame := image.NewPaletted(image.Rect(2, 1, 4, 3), color.Palette{color.RGBA{10, 20, 30, 255}})
	g := &gif.GIF{Image: []*image.Paletted{frame}, Delay: []int{0},
		Config: image.Config{ColorModel: frame.Palette, Width: 5, Height: 4}}
	data := encode(t, func(w io.Writer, _ image.Image) error { return gif.EncodeAll(w, g) }, nil)
	got, info, err := DecodeImage("offset.gif", bytes.NewReader(data), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 5 || info.Height != 4 || got.Rect != image.Rect(0, 0, 5, 4) {
		t.Fatalf("info %+v, image %v; want 5×4", info, got.Rect)
	}
	for y := 0; y < 4; y++ {
		for x := 0; x < 5; x++ {
			want := color.NRGBA{255, 255, 255, 255}
			if image.Pt(x, y).In(frame.Rect) {
				want = color.NRGBA{10, 20, 30, 255}
			}
			if c := got.NRGBAAt(x, y); c != want {
				t.Errorf("(%d,%d) = %v, want %v", x, y, c, want)
			}
		}
	}
}
