package video

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// pngSignature starts every PNG file.
var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// ErrTruncatedFrame is returned (wrapped) by ReadPNG when the stream ends
// inside a PNG.
var ErrTruncatedFrame = errors.New("the stream ends inside a frame")

// ReadPNG reads the next PNG file of a stream of concatenated PNG files
// (what `ffmpeg ... -f image2pipe -c:v png -` writes) and returns its bytes,
// read up to and including its IEND chunk, so the next call starts at the
// next file. It returns io.EOF when the stream ends before any byte of a
// file, an error wrapping ErrTruncatedFrame when it ends inside one, and an
// error when the bytes are not a PNG or the file would exceed maxBytes.
// Chunk contents and CRCs are not checked here (the image decoder does).
func ReadPNG(r *bufio.Reader, maxBytes int) ([]byte, error) {
	var buf bytes.Buffer
	sig := make([]byte, len(pngSignature))
	n, err := io.ReadFull(r, sig)
	switch {
	case n == 0 && err == io.EOF:
		return nil, io.EOF
	case err != nil:
		return nil, fmt.Errorf("video: png stream: %w after %d bytes", ErrTruncatedFrame, n)
	case !bytes.Equal(sig, pngSignature):
		return nil, fmt.Errorf("video: png stream: not a PNG file (starts with % x)", sig)
	}
	buf.Write(sig)
	head := make([]byte, 8)
	for {
		if _, err := io.ReadFull(r, head); err != nil {
			return nil, fmt.Errorf("video: png stream: %w after %d bytes", ErrTruncatedFrame, buf.Len())
		}
		size := int64(binary.BigEndian.Uint32(head[:4]))
		if size > 1<<31-1 || int64(buf.Len())+12+size > int64(maxBytes) {
			return nil, fmt.Errorf("video: png stream: a frame larger than %d bytes", maxBytes)
		}
		buf.Write(head)
		if _, err := io.CopyN(&buf, r, size+4); err != nil { // data and CRC
			return nil, fmt.Errorf("video: png stream: %w after %d bytes", ErrTruncatedFrame, buf.Len())
		}
		if string(head[4:]) == "IEND" {
			return buf.Bytes(), nil
		}
	}
}
