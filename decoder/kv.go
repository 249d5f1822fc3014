package decoder

// kvCache holds one layer's key and value cache as double buffers.
//
// Contract: a cache tensor has shape (1, KVHeads, Len, HeadDim), laid out
// contiguously, so a cache of length n occupies the first KVHeads*n*HeadDim
// floats of a buffer. Past() wraps the current buffer at the current length;
// Present(s) returns the other buffer sized for Len+s rows, into which ORT
// writes the new cache; Commit(s) makes it current. No row is copied in Go.
type kvCache struct {
	rowSize int // KVHeads*HeadDim
	heads   int
	headDim int
	buf     [2][2][]float32 // [current/next][key/value]
	cur     int
	Len     int
	// NextPos is the position id the next token gets in this layer.
	NextPos int64
}

func newKVCache(heads, headDim, capacity int) *kvCache {
	c := &kvCache{rowSize: heads * headDim, heads: heads, headDim: headDim}
	for i := range c.buf {
		for j := range c.buf[i] {
			c.buf[i][j] = make([]float32, heads*headDim*capacity)
		}
	}
	return c
}

// past returns the current key and value buffers (Len rows).
func (c *kvCache) past() (k, v []float32) {
	n := c.rowSize * c.Len
	return c.buf[c.cur][0][:n], c.buf[c.cur][1][:n]
}

// present returns the buffers ORT writes the Len+s-row cache into.
func (c *kvCache) present(s int) (k, v []float32) {
	n := c.rowSize * (c.Len + s)
	return c.buf[1-c.cur][0][:n], c.buf[1-c.cur][1][:n]
}

// commit makes the present buffers current after a step of s tokens.
func (c *kvCache) commit(s int) {
	c.cur = 1 - c.cur
	c.Len += s
}

// shape returns the tensor shape for n rows.
func (c *kvCache) shape(n int) []int64 {
	return []int64{1, int64(c.heads), int64(n), int64(c.headDim)}
}

// bytes is the memory the live cache holds (keys and values, float32).
func (c *kvCache) bytes() int64 { return int64(2 * 4 * c.rowSize * c.Len) }
