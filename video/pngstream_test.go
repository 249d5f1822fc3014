package video

import (
	"bufio"
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"testing"
)

// Concatenated PNGs come back one by one, byte for byte; the end of the
// stream is io.EOF; a cut inside a file, a non-PNG and an oversized file
// are errors.
func TestReadPNG(t *testing.T) {
	var files [][]byte
	var all bytes.Buffer
	for i := range 3 {
		img := image.NewNRGBA(image.Rect(0, 0, 5+i, 4))
		img.SetNRGBA(1, 1, color.NRGBA{uint8(80 * i), 3, 4, 255})
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		files = append(files, b.Bytes())
		all.Write(b.Bytes())
	}
	r := bufio.NewReader(bytes.NewReader(all.Bytes()))
	for i, want := range files {
		got, err := ReadPNG(r, 1<<20)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("file %d: %d bytes (%v), want %d", i, len(got), err, len(want))
		}
		if _, err := png.Decode(bytes.NewReader(got)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ReadPNG(r, 1<<20); err != io.EOF {
		t.Errorf("end: %v, want io.EOF", err)
	}
	for _, cut := range []int{3, 8, 20, len(files[0]) - 1} {
		_, err := ReadPNG(bufio.NewReader(bytes.NewReader(files[0][:cut])), 1<<20)
		if !errors.Is(err, ErrTruncatedFrame) {
			t.Errorf("cut at %d: %v, want ErrTruncatedFrame", cut, err)
		}
	}
	if _, err := ReadPNG(bufio.NewReader(bytes.NewReader([]byte("GIF89a....."))), 1<<20); err == nil || errors.Is(err, ErrTruncatedFrame) {
		t.Errorf("not a PNG: %v", err)
	}
	if _, err := ReadPNG(bufio.NewReader(bytes.NewReader(files[0])), 40); err == nil {
		t.Error("over the size limit: no error")
	}
}
