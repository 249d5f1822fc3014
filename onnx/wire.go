package onnx

import (
	"errors"
	"fmt"
	"math"
)

// A small protobuf wire-format reader and writer: only what ModelProto
// needs. Reading never allocates from a length read off the wire before
// checking it against the bytes that remain, so a hostile file costs at
// most its own size.

// Wire types.
const (
	wtVarint  = 0
	wtFixed64 = 1
	wtBytes   = 2
	wtFixed32 = 5
)

// ErrMalformed is returned (wrapped) for bytes that are not a valid
// ModelProto.
var ErrMalformed = errors.New("malformed onnx protobuf")

// field is one decoded field of a message. For wtBytes, b is the payload
// (a sub-slice of the input) and off its absolute offset in the file; raw
// is the whole field (tag included), for copying it unchanged.
type field struct {
	num  int
	wt   int
	v    uint64
	b    []byte
	off  int64
	raw  []byte
	rOff int64
}

// reader walks the fields of one message held in b, whose first byte sits
// at absolute offset off in the source file.
type reader struct {
	b   []byte
	off int64
	pos int
	err error
}

func newReader(b []byte, off int64) *reader { return &reader{b: b, off: off} }

func (r *reader) fail(format string, a ...any) bool {
	if r.err == nil {
		r.err = fmt.Errorf("onnx: at byte %d: %s: %w", r.off+int64(r.pos), fmt.Sprintf(format, a...), ErrMalformed)
	}
	return false
}

func (r *reader) varint() (uint64, bool) {
	var x uint64
	for shift := uint(0); ; shift += 7 {
		if r.pos >= len(r.b) {
			return 0, r.fail("truncated varint")
		}
		if shift >= 64 {
			return 0, r.fail("varint too long")
		}
		c := r.b[r.pos]
		r.pos++
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x, true
		}
	}
}

// next reads the next field into f; it returns false at the end or on an
// error (r.err).
func (r *reader) next(f *field) bool {
	if r.err != nil || r.pos >= len(r.b) {
		return false
	}
	start := r.pos
	tag, ok := r.varint()
	if !ok {
		return false
	}
	num := tag >> 3
	if num == 0 || num > math.MaxInt32 {
		return r.fail("bad field number %d", num)
	}
	*f = field{num: int(num), wt: int(tag & 7)}
	switch f.wt {
	case wtVarint:
		if f.v, ok = r.varint(); !ok {
			return false
		}
	case wtFixed64:
		if len(r.b)-r.pos < 8 {
			return r.fail("truncated fixed64")
		}
		for i := 7; i >= 0; i-- {
			f.v = f.v<<8 | uint64(r.b[r.pos+i])
		}
		r.pos += 8
	case wtFixed32:
		if len(r.b)-r.pos < 4 {
			return r.fail("truncated fixed32")
		}
		for i := 3; i >= 0; i-- {
			f.v = f.v<<8 | uint64(r.b[r.pos+i])
		}
		r.pos += 4
	case wtBytes:
		n, ok := r.varint()
		if !ok {
			return false
		}
		if n > uint64(len(r.b)-r.pos) {
			return r.fail("field %d: length %d beyond the %d bytes left", f.num, n, len(r.b)-r.pos)
		}
		f.b = r.b[r.pos : r.pos+int(n)]
		f.off = r.off + int64(r.pos)
		r.pos += int(n)
	default:
		return r.fail("field %d: unsupported wire type %d", f.num, f.wt)
	}
	f.raw = r.b[start:r.pos]
	f.rOff = r.off + int64(start)
	return true
}

// sub returns a reader over a length-delimited field's payload.
func (f *field) sub() *reader { return newReader(f.b, f.off) }

// ints appends the int64 values of a repeated int64 field, packed or not.
func (f *field) ints(dst []int64) ([]int64, error) {
	switch f.wt {
	case wtVarint:
		return append(dst, int64(f.v)), nil
	case wtBytes:
		r := f.sub()
		for r.pos < len(r.b) {
			v, ok := r.varint()
			if !ok {
				return dst, r.err
			}
			dst = append(dst, int64(v))
		}
		return dst, nil
	}
	return dst, fmt.Errorf("onnx: field %d: wire type %d for an integer list: %w", f.num, f.wt, ErrMalformed)
}

// Writing.

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendTag(b []byte, num, wt int) []byte { return appendVarint(b, uint64(num)<<3|uint64(wt)) }

func appendInt(b []byte, num int, v int64) []byte {
	return appendVarint(appendTag(b, num, wtVarint), uint64(v))
}

func appendBytes(b []byte, num int, p []byte) []byte {
	b = appendVarint(appendTag(b, num, wtBytes), uint64(len(p)))
	return append(b, p...)
}

func appendString(b []byte, num int, s string) []byte {
	b = appendVarint(appendTag(b, num, wtBytes), uint64(len(s)))
	return append(b, s...)
}

// appendMsg appends a length-delimited sub-message built by enc.
func appendMsg(b []byte, num int, enc func([]byte) []byte) []byte {
	return appendBytes(b, num, enc(nil))
}

func appendPacked(b []byte, num int, vs []int64) []byte {
	var p []byte
	for _, v := range vs {
		p = appendVarint(p, uint64(v))
	}
	return appendBytes(b, num, p)
}
