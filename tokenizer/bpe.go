package tokenizer

import (
	"fmt"
	"unicode/utf8"
)

// bpe is a byte-pair-encoding model: a word starts as one symbol per
// character and adjacent symbols are merged in order of merge rank.
type bpe struct {
	*vocabulary
	// merges maps a pair of ids (a<<32 | b) to rank<<32 | merged id.
	merges       map[uint64]uint64
	unk          string
	hasUnk       bool
	prefix       string // continuing_subword_prefix
	suffix       string // end_of_word_suffix
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	// byteIDs[b] is the id of the byte-fallback token <0xXX>, or -1.
	byteIDs [256]int
	// charIDs[r] is 1 + the id of the one-character token r (0: none), for
	// r below 64K, so that most initial lookups avoid hashing a string.
	charIDs []int32
}

// bpeScratch holds buffers reused across the words of one Encode call.
type bpeScratch struct {
	syms []symbol
	heap candHeap
}

// symbol is one node of the doubly linked list a word is merged in.
type symbol struct {
	id         int
	prev, next int
	size       int // byte length in the word; 0 once merged away
}

// mergeCand is a candidate merge of the symbol at pos with its successor.
type mergeCand struct {
	rank, pos, id int
}

// candHeap is a binary min-heap ordered by (rank, pos), like the Rust
// BinaryHeap of Merge.
type candHeap []mergeCand

func (h candHeap) less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].pos < h[j].pos
}

func (h *candHeap) push(c mergeCand) {
	*h = append(*h, c)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !a.less(i, p) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *candHeap) pop() mergeCand {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && a.less(r, l) {
			m = r
		}
		if !a.less(m, i) {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}

func pairKey(a, b int) uint64 { return uint64(a)<<32 | uint64(uint32(b)) }

func (m *bpe) lookupMerge(a, b int) (rank, id int, ok bool) {
	v, ok := m.merges[pairKey(a, b)]
	if !ok {
		return 0, 0, false
	}
	return int(v >> 32), int(uint32(v)), true
}

// indexChars fills charIDs from the vocabulary.
func (m *bpe) indexChars() {
	m.charIDs = make([]int32, 1<<16)
	for tok, id := range m.ids {
		r, n := utf8.DecodeRuneInString(tok)
		if n == len(tok) && r < 1<<16 && r != utf8.RuneError && id < 1<<31-1 {
			m.charIDs[r] = int32(id) + 1
		}
	}
}

// tokenize appends the ids for word.
func (m *bpe) tokenize(word string, dst []int, sc *scratch) ([]int, error) {
	if word == "" {
		return dst, nil
	}
	if m.ignoreMerges {
		if id, ok := m.ids[word]; ok {
			return append(dst, id), nil
		}
	}
	syms, err := m.initialSymbols(word, sc.bpe.syms[:0])
	if err != nil {
		return nil, err
	}
	sc.bpe.syms = syms
	syms = m.mergeAll(syms, &sc.bpe.heap)
	for _, s := range syms {
		if s.size != 0 {
			dst = append(dst, s.id)
		}
	}
	return dst, nil
}

// initialSymbols splits word into characters and looks each up, applying
// the subword prefix/suffix, byte fallback and unknown-token rules exactly in
// the order of Rust's BPE::merge_word.
func (m *bpe) initialSymbols(word string, syms []symbol) ([]symbol, error) {
	add := func(id, size int) {
		n := len(syms)
		syms = append(syms, symbol{id: id, prev: n - 1, next: n + 1, size: size})
	}
	plain := m.prefix == "" && m.suffix == ""
	unkID, unkLen, pending := 0, 0, false
	for i := 0; i < len(word); {
		r, n := utf8.DecodeRuneInString(word[i:])
		if plain && r < 1<<16 && !pending {
			if id := m.charIDs[r]; id > 0 {
				add(int(id-1), n)
				i += n
				continue
			}
		}
		s := word[i : i+n]
		if i > 0 && m.prefix != "" {
			s = m.prefix + s
		}
		if i+n == len(word) && m.suffix != "" {
			s += m.suffix
		}
		i += n
		if id, ok := m.ids[s]; ok {
			if pending {
				add(unkID, unkLen)
				pending = false
			}
			add(id, n)
			continue
		}
		if m.byteFallback && m.allBytesKnown(s) {
			for j := 0; j < len(s); j++ {
				add(m.byteIDs[s[j]], 1)
			}
			continue
		}
		if !m.hasUnk {
			continue
		}
		id, ok := m.ids[m.unk]
		if !ok {
			return nil, fmt.Errorf("BPE: unk_token %q is not in the vocabulary", m.unk)
		}
		switch {
		case pending && m.fuseUnk:
			unkLen += n
		case pending:
			add(unkID, unkLen)
			unkID, unkLen = id, n
		default:
			unkID, unkLen, pending = id, n, true
		}
	}
	if pending {
		add(unkID, unkLen)
	}
	if len(syms) > 0 {
		syms[len(syms)-1].next = -1
	}
	return syms, nil
}

func (m *bpe) allBytesKnown(s string) bool {
	for j := 0; j < len(s); j++ {
		if m.byteIDs[s[j]] < 0 {
			return false
		}
	}
	return true
}

// mergeAll applies merges lowest rank first (leftmost first on ties), with
// the same stale-entry checks as Rust's Word::merge_all.
func (m *bpe) mergeAll(syms []symbol, hp *candHeap) []symbol {
	if len(syms) < 2 {
		return syms
	}
	h := (*hp)[:0]
	for i := 0; i+1 < len(syms); i++ {
		if rank, id, ok := m.lookupMerge(syms[i].id, syms[i+1].id); ok {
			h.push(mergeCand{rank: rank, pos: i, id: id})
		}
	}
	for len(h) > 0 {
		top := h.pop()
		cur := &syms[top.pos]
		if cur.size == 0 || cur.next == -1 {
			continue
		}
		nextPos := cur.next
		right := syms[nextPos]
		if _, id, ok := m.lookupMerge(cur.id, right.id); !ok || id != top.id {
			continue
		}
		cur.id = top.id
		cur.size += right.size
		cur.next = right.next
		syms[nextPos].size = 0
		if right.next >= 0 && right.next < len(syms) {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if rank, id, ok := m.lookupMerge(syms[cur.prev].id, cur.id); ok {
				h.push(mergeCand{rank: rank, pos: cur.prev, id: id})
			}
		}
		if cur.next >= 0 && cur.next < len(syms) {
			if rank, id, ok := m.lookupMerge(cur.id, syms[cur.next].id); ok {
				h.push(mergeCand{rank: rank, pos: top.pos, id: id})
			}
		}
	}
	*hp = h
	return syms
}
