package tokenizer

import (
	"errors"
	"fmt"
	"strings"
)

// ErrStreamPrefix is returned by Stream.Add when decoding the recent ids no
// longer starts with the text already returned, which would mean retracting
// output (Rust's DecodeStream reports the same as InvalidPrefix).
var ErrStreamPrefix = errors.New("decoded text no longer extends the text already returned")

// Stream decodes ids one at a time as a model generates them, returning
// text as soon as it is final. It follows the Rust crate's DecodeStream: the
// last ids are decoded together with one earlier token as context (so
// decoders that treat the first token specially, such as Strip or
// Metaspace, behave as in a full decode), and text is held back while it
// ends in an incomplete UTF-8 sequence (U+FFFD). A Stream is not safe for
// concurrent use.
type Stream struct {
	t           *Tokenizer
	skipSpecial bool
	ids         []int  // context ids followed by the ids not yet returned
	prefix      string // decode of the context ids: text already returned
	prefixIndex int    // number of context ids at the start of ids
}

// NewStream returns a streaming decoder; skipSpecial is as for Decode.
func (t *Tokenizer) NewStream(skipSpecial bool) *Stream {
	return &Stream{t: t, skipSpecial: skipSpecial}
}

// Add feeds one id and returns the text it completes, which may be empty
// (an incomplete character, a skipped special token, an unknown id).
func (s *Stream) Add(id int) (string, error) {
	s.ids = append(s.ids, id)
	text, err := s.t.Decode(s.ids, s.skipSpecial)
	if err != nil {
		return "", fmt.Errorf("tokenizer: stream: %w", err)
	}
	if len(text) <= len(s.prefix) || strings.HasSuffix(text, "\uFFFD") {
		return "", nil
	}
	if !strings.HasPrefix(text, s.prefix) {
		return "", fmt.Errorf("tokenizer: stream: %w", ErrStreamPrefix)
	}
	out := text[len(s.prefix):]
	keep := len(s.ids) - s.prefixIndex
	s.ids = append(s.ids[:0], s.ids[s.prefixIndex:]...)
	if s.prefix, err = s.t.Decode(s.ids, s.skipSpecial); err != nil {
		return "", fmt.Errorf("tokenizer: stream: %w", err)
	}
	s.prefixIndex = keep
	return out, nil
}

// Flush returns the text still held back (for example an incomplete
// character at the end of generation, as U+FFFD) and resets the stream.
func (s *Stream) Flush() string {
	text, err := s.t.Decode(s.ids, s.skipSpecial)
	out := ""
	if err == nil && len(text) > len(s.prefix) && strings.HasPrefix(text, s.prefix) {
		out = text[len(s.prefix):]
	}
	s.ids, s.prefix, s.prefixIndex = s.ids[:0], "", 0
	return out
}
