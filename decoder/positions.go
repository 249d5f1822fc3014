package decoder

import "fmt"

// posIDs are the position ids of a run of s tokens: one row (ordinary
// RoPE) or three (M-RoPE: temporal, height, width), row-major, fed to ONNX
// as [1, s] or [3, 1, s].
type posIDs struct {
	dims int
	p    []int64
}

func newPosIDs(in Input) (posIDs, error) {
	dims := in.PosDims
	if dims == 0 {
		dims = 1
	}
	if dims != 1 && dims != 3 {
		return posIDs{}, fmt.Errorf("decoder: %d position rows (want 1, or 3 for M-RoPE)", in.PosDims)
	}
	return posIDs{dims: dims, p: append([]int64(nil), in.Positions...)}, nil
}

// len is the number of tokens.
func (q posIDs) len() int { return len(q.p) / q.dims }

// shape is the position_ids tensor shape.
func (q posIDs) shape() []int64 {
	if q.dims == 1 {
		return []int64{1, int64(q.len())}
	}
	return []int64{int64(q.dims), 1, int64(q.len())}
}

// at returns token r's id in row d.
func (q posIDs) at(d, r int) int64 { return q.p[d*q.len()+r] }

// single is one token at position next in every row (decoding).
func single(dims int, next int64) posIDs {
	p := make([]int64, dims)
	for i := range p {
		p[i] = next
	}
	return posIDs{dims: dims, p: p}
}

// gather keeps the given token rows, in order.
func (q posIDs) gather(rows []int) posIDs {
	out := posIDs{dims: q.dims, p: make([]int64, 0, q.dims*len(rows))}
	for d := 0; d < q.dims; d++ {
		for _, r := range rows {
			out.p = append(out.p, q.at(d, r))
		}
	}
	return out
}

// appendToken adds one token at position next in every row.
func (q posIDs) appendToken(next int64) posIDs {
	n := q.len()
	out := posIDs{dims: q.dims, p: make([]int64, 0, q.dims*(n+1))}
	for d := 0; d < q.dims; d++ {
		out.p = append(out.p, q.p[d*n:(d+1)*n]...)
		out.p = append(out.p, next)
	}
	return out
}
