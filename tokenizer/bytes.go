package tokenizer

import (
	"unicode/utf8"
)

// byteToRune is the GPT-2 byte-to-character table used by ByteLevel: every
// byte maps to a printable character so that BPE never sees control bytes or
// spaces. byteToString holds the same characters as strings.
var (
	byteToRune   [256]rune
	byteToString [256]string
	runeToByte   map[rune]byte
)

func init() {
	n := 0
	runeToByte = make(map[rune]byte, 256)
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		r := rune(b)
		if !printable {
			r = rune(256 + n)
			n++
		}
		byteToRune[b] = r
		byteToString[b] = string(r)
		runeToByte[r] = byte(b)
	}
}

// byteLevelEncode maps every byte of s to its ByteLevel character.
func byteLevelEncode(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '!' || c > '~' {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	buf := make([]byte, 0, len(s)*2)
	for i := 0; i < len(s); i++ {
		buf = utf8.AppendRune(buf, byteToRune[s[i]])
	}
	return string(buf)
}

// appendLossy appends b to dst, replacing every maximal invalid UTF-8
// subsequence with U+FFFD, exactly like Rust's String::from_utf8_lossy.
// (Go's own conversions replace every invalid byte separately, which differs
// for truncated multi-byte sequences.)
func appendLossy(dst []byte, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		n := validPrefixLen(b[i:])
		if n > 0 {
			dst = append(dst, b[i:i+n]...)
			i += n
			continue
		}
		dst = append(dst, "\uFFFD"...)
		i += invalidRunLen(b[i:])
	}
	return dst
}

// validPrefixLen returns the length of the complete, valid UTF-8 sequence at
// the start of b, or 0 if b does not start with one.
func validPrefixLen(b []byte) int {
	r, n := utf8.DecodeRune(b)
	if r == utf8.RuneError && n <= 1 {
		return 0
	}
	return n
}

// invalidRunLen returns how many bytes one U+FFFD replaces at the start of b
// under the "maximal subpart" rule: a lead byte plus every continuation byte
// that could still have formed a valid sequence with it.
func invalidRunLen(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	i := 1
	for ; i <= need && i < len(b); i++ {
		if b[i] < lo || b[i] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return i
}

// lossyString converts b to a string the way Rust's from_utf8_lossy does.
func lossyString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string(appendLossy(make([]byte, 0, len(b)+8), b))
}
