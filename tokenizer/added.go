package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// addedToken is an entry of tokenizer.json's added_tokens: text matched
// verbatim in the input before the model runs.
type addedToken struct {
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// addedVocab holds the added tokens and the two matchers that find them:
// one on the raw input (normalized=false tokens) and one on normalized text.
type addedVocab struct {
	byContent map[string]int
	byID      map[int]addedToken
	// text is the string an added token decodes to: its content, normalized
	// when the token is matched after normalization (as Rust stores it).
	text      map[int]string
	special   map[string]bool
	raw, norm *trie
}

// newAddedVocab registers tokens the way Rust's AddedVocabulary::add_tokens
// does when a tokenizer.json is loaded: the ids written in the file are not
// used; a token takes the id of an identical string already known (added or
// in the model), or else the next free id after the model vocabulary.
func newAddedVocab(tokens []addedToken, m model, n normalizer) (*addedVocab, error) {
	av := &addedVocab{
		byContent: map[string]int{},
		byID:      map[int]addedToken{},
		text:      map[int]string{},
		special:   map[string]bool{},
	}
	var specials, classic []addedToken
	for _, t := range tokens {
		if t.Special && t.Content != "" && !av.special[t.Content] {
			specials = append(specials, t)
			av.special[t.Content] = true
		}
	}
	maxAdded := -1
	for _, t := range tokens {
		if t.Content == "" {
			continue
		}
		if id, ok := av.byContent[t.Content]; ok && av.byID[id] == t {
			continue // already added, identically
		}
		id, ok := av.byContent[t.Content]
		if !ok {
			id, ok = m.tokenToID(t.Content)
		}
		if !ok {
			vs := m.vocabSize()
			switch {
			case maxAdded < 0:
				id = vs
			case maxAdded >= vs || vs == 0:
				id = maxAdded + 1
			default:
				id = vs
			}
		}
		av.byContent[t.Content] = id
		av.byID[id] = t
		av.text[id] = t.Content
		if t.Normalized && n != nil {
			norm, _, err := n.normalize(t.Content, true)
			if err != nil {
				return nil, err
			}
			av.text[id] = norm
		}
		maxAdded = max(maxAdded, id)
		if !av.special[t.Content] {
			classic = append(classic, t)
		}
	}
	av.raw, av.norm = &trie{}, &trie{}
	for _, t := range append(specials, classic...) {
		id := av.byContent[t.Content]
		if !t.Normalized {
			av.raw.add(t.Content, id)
			continue
		}
		pat := t.Content
		if n != nil {
			var err error
			if pat, _, err = n.normalize(pat, true); err != nil {
				return nil, err
			}
		}
		av.norm.add(pat, id)
	}
	return av, nil
}

// segment is a piece of input that is either an added token (id >= 0) or
// text still to be tokenized (id < 0).
type segment struct {
	text    string
	id      int
	atStart bool
}

// split finds the added tokens of t in s (leftmost-longest, as Rust's
// Aho-Corasick matcher) and appends the resulting segments to dst; empty
// segments are dropped. atStart says whether s starts at offset 0 of the
// original input.
func (av *addedVocab) split(t *trie, s string, atStart bool, dst []segment) []segment {
	if t.empty() {
		if s != "" {
			dst = append(dst, segment{text: s, id: -1, atStart: atStart})
		}
		return dst
	}
	last := 0
	pos := 0
	for pos < len(s) {
		mStart, mEnd, id, ok := t.findLeftmostLongest(s, pos)
		if !ok {
			break
		}
		pos = mEnd
		tok := av.byID[id]
		start, stop := mStart, mEnd
		if tok.SingleWord {
			startSpace := start == 0 || !endsWithWord(s[:start])
			stopSpace := stop == len(s) || !startsWithWord(s[stop:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if tok.LStrip {
			start = max(trailingSpaceStart(s[:start]), last)
		}
		if tok.RStrip {
			stop += leadingSpaceEnd(s[stop:])
		}
		if last < start {
			dst = append(dst, segment{text: s[last:start], id: -1, atStart: atStart && last == 0})
		}
		dst = append(dst, segment{text: s[start:stop], id: id, atStart: atStart && start == 0})
		last = stop
	}
	if last < len(s) {
		dst = append(dst, segment{text: s[last:], id: -1, atStart: atStart && last == 0})
	}
	return dst
}

func endsWithWord(s string) bool {
	r, n := utf8.DecodeLastRuneInString(s)
	return n > 0 && isRustWord(r)
}

func startsWithWord(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return n > 0 && isRustWord(r)
}

// trailingSpaceStart returns where the run of whitespace that ends s begins.
func trailingSpaceStart(s string) int {
	i := len(s)
	for i > 0 {
		r, n := utf8.DecodeLastRuneInString(s[:i])
		if !unicode.IsSpace(r) {
			break
		}
		i -= n
	}
	return i
}

// leadingSpaceEnd returns the length of the run of whitespace that starts s.
func leadingSpaceEnd(s string) int {
	for i, r := range s {
		if !unicode.IsSpace(r) {
			return i
		}
	}
	return len(s)
}

// trie is a byte trie over the added-token strings.
type trie struct {
	nodes []trieNode
	first [256]bool
}

type trieNode struct {
	next map[byte]int32
	id   int // id of the token ending here (the first one added wins), or -1
}

func (t *trie) empty() bool { return len(t.nodes) <= 1 }

func (t *trie) add(s string, id int) {
	if s == "" {
		return
	}
	if len(t.nodes) == 0 {
		t.nodes = append(t.nodes, trieNode{id: -1})
	}
	t.first[s[0]] = true
	cur := 0
	for i := 0; i < len(s); i++ {
		nx, ok := t.nodes[cur].next[s[i]]
		if !ok {
			if t.nodes[cur].next == nil {
				t.nodes[cur].next = map[byte]int32{}
			}
			nx = int32(len(t.nodes))
			t.nodes[cur].next[s[i]] = nx
			t.nodes = append(t.nodes, trieNode{id: -1})
		}
		cur = int(nx)
	}
	if t.nodes[cur].id < 0 {
		t.nodes[cur].id = id
	}
}

// findLeftmostLongest returns the leftmost match starting at or after from,
// choosing the longest pattern among those that start there.
func (t *trie) findLeftmostLongest(s string, from int) (start, end, id int, ok bool) {
	for i := from; i < len(s); i++ {
		if !t.first[s[i]] {
			continue
		}
		cur, best, bestID := 0, -1, -1
		for j := i; j < len(s); j++ {
			nx, ok := t.nodes[cur].next[s[j]]
			if !ok {
				break
			}
			cur = int(nx)
			if t.nodes[cur].id >= 0 {
				best, bestID = j+1, t.nodes[cur].id
			}
		}
		if best >= 0 {
			return i, best, bestID, true
		}
	}
	return 0, 0, 0, false
}
