package server

import "strings"

// stopper applies stop sequences to streamed text: it passes text on as it
// comes, holds back a tail that could be the start of a stop sequence, and
// reports the first stop sequence found (whose text, and everything after
// it, is never passed on), as OpenAI's stop does.
type stopper struct {
	stops   []string
	pending string
}

// push adds generated text and returns the text that is safe to pass on,
// and whether a stop sequence was reached.
func (s *stopper) push(piece string) (string, bool) {
	if len(s.stops) == 0 {
		return piece, false
	}
	buf := s.pending + piece
	cut := -1
	for _, st := range s.stops {
		if i := strings.Index(buf, st); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		s.pending = ""
		return buf[:cut], true
	}
	hold := 0
	for _, st := range s.stops {
		for k := min(len(st)-1, len(buf)); k > hold; k-- {
			if strings.HasSuffix(buf, st[:k]) {
				hold = k
				break
			}
		}
	}
	s.pending = buf[len(buf)-hold:]
	return buf[:len(buf)-hold], false
}

// flush returns the held-back text at the end of generation.
func (s *stopper) flush() string {
	p := s.pending
	s.pending = ""
	return p
}
