package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
)

// pngChunk is one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// Bad streams give one error naming the frame, exit 1, and stay small:
// garbage, a frame cut in its header, a chunk claiming 4 GiB, a PNG whose
// header claims 60000×60000 pixels (refused from its header, before any
// pixel is decoded), a PNG with chunks out of order.
func TestCaptionStreamVideoBadInput(t *testing.T) {
	testenv.ORT(t)
	twin := filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata", "smolvlm-twin-legacy")
	sig := "\x89PNG\r\n\x1a\n"
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 60000), 60000)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	huge := sig + string(pngChunk("IHDR", ihdr)) + string(pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})) +
		string(pngChunk("IEND", nil))
	for _, c := range []struct {
		name, in, want string
	}{
		{"garbage", "garbage garbage", "not a PNG file"},
		{"cut", sig + "\x00\x00", "ends inside a frame"},
		{"4 GiB chunk", sig + "\xff\xff\xff\xffIDAT", "a frame larger than"},
		{"huge", huge, "60000×60000"},
		{"out of order", sig + string(pngChunk("IEND", nil)), "frame 0"},
	} {
		code, stdout, stderr := runCLI(t, strings.NewReader(c.in), "caption", "--stream-video", "--model", twin, "--max-new-tokens", "2", "-q")
		if code != 1 || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || stdout != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q (want one line with %q)", c.name, code, stdout, stderr, c.want)
		}
	}
}
