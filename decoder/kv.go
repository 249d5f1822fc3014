package decoder

import (
	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/internal/ortx"
)

// kvCache holds one layer's key and value cache as double buffers.
//
// Contract: a cache tensor has shape (1, KVHeads, Len, HeadDim), laid out
// contiguously, so a cache of length n occupies the first
// KVHeads*n*HeadDim elements of a buffer. past wraps the current buffer at
// the current length; present(s) wraps the other buffer sized for Len+s
// rows, into which ORT writes the new cache; commit(s) makes it current. No
// row is copied in Go. Elements are float32 or float16 (the graph's
// declared type), held as raw bytes that only ORT reads and writes.
type kvCache struct {
	rowBytes int // KVHeads*HeadDim*elem
	heads    int
	headDim  int
	dtype    ort.TensorElementDataType
	buf      [2][2][]byte // [current/next][key/value]
	cur      int
	Len      int
	// NextPos is the position id the next token gets in this layer.
	NextPos int64
}

func newKVCache(heads, headDim, capacity int) *kvCache {
	return newTypedKVCache(heads, headDim, capacity, ort.TensorElementDataTypeFloat)
}

func newTypedKVCache(heads, headDim, capacity int, dtype ort.TensorElementDataType) *kvCache {
	c := &kvCache{rowBytes: heads * headDim * ortx.ElemSize(dtype), heads: heads, headDim: headDim, dtype: dtype}
	if capacity < 1 {
		capacity = 1
	}
	for i := range c.buf {
		for j := range c.buf[i] {
			c.buf[i][j] = make([]byte, c.rowBytes*capacity)
		}
	}
	return c
}

// span returns the first n rows of buffer b, at least one byte long (ORT
// values cannot wrap an empty slice; the shape says how much is used).
func (c *kvCache) span(b []byte, n int) []byte {
	if n == 0 {
		return b[:1]
	}
	return b[:c.rowBytes*n]
}

// pastValues wraps the current key and value buffers (Len rows).
func (c *kvCache) pastValues(vals *values) (k, v ort.Value) {
	return c.pastValue(vals, false), c.pastValue(vals, true)
}

// presentValues wraps the buffers ORT writes the Len+s-row cache into.
func (c *kvCache) presentValues(vals *values, s int) (k, v ort.Value) {
	return c.presentValue(vals, s, false), c.presentValue(vals, s, true)
}

// pastValue wraps the current key (or value) buffer.
func (c *kvCache) pastValue(vals *values, value bool) ort.Value {
	j := 0
	if value {
		j = 1
	}
	return vals.raw(c.dtype, c.span(c.buf[c.cur][j], c.Len), c.shape(c.Len)...)
}

// presentValue wraps the key (or value) buffer ORT writes the Len+s-row
// cache into.
func (c *kvCache) presentValue(vals *values, s int, value bool) ort.Value {
	j := 0
	if value {
		j = 1
	}
	return vals.raw(c.dtype, c.span(c.buf[1-c.cur][j], c.Len+s), c.shape(c.Len+s)...)
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

// bytes is the memory the live cache holds (keys and values).
func (c *kvCache) bytes() int64 { return int64(2 * c.rowBytes * c.Len) }

// gather keeps only the cached rows in rows (ascending old row indices),
// in that order, for the key and the value: the gathered cache is written
// into the other buffer, which becomes current.
func (c *kvCache) gather(rows []int) {
	n, nn, rb := c.Len, len(rows), c.rowBytes/c.heads // bytes of one head's row
	for j := range c.buf[c.cur] {
		src, dst := c.buf[c.cur][j], c.buf[1-c.cur][j]
		for h := 0; h < c.heads; h++ {
			for i, r := range rows {
				copy(dst[(h*nn+i)*rb:(h*nn+i+1)*rb], src[(h*n+r)*rb:(h*n+r+1)*rb])
			}
		}
	}
	c.cur = 1 - c.cur
	c.Len = nn
}
