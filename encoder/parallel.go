package encoder

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/pruning"
)

// OpenVisionN opens the vision graph on n sessions (n ≥ 1) with options o
// each: the first is returned and owns the others, which EncodeChunks runs
// at the same time as it, every session taking the next chunk of tiles
// when it is free. Each session holds its own copy of the weights (and of
// their prepacked form), so n sessions cost about n times the memory of
// one. The sessions are created concurrently.
func OpenVisionN(g VisionGraph, o ortx.Options, n int) (*Vision, error) {
	if n < 1 {
		return nil, fmt.Errorf("encoder: %d vision sessions, want at least 1", n)
	}
	vs := make([]*Vision, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vs[i], errs[i] = OpenVision(g, o)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, v := range vs {
				v.Destroy()
			}
			return nil, fmt.Errorf("encoder: vision session %d of %d: %w", i+1, n, err)
		}
	}
	vs[0].peers = vs[1:]
	return vs[0], nil
}

// Sessions lists v's session and its peers' (OpenVisionN). Their Run
// times add up work done at the same time: with peers, their sum exceeds
// the wall time of the encode stage.
func (v *Vision) Sessions() []*ortx.Session {
	out := []*ortx.Session{v.sess}
	for _, p := range v.peers {
		out = append(out, p.sess)
	}
	return out
}

// encodeOnPeers runs the n images in chunks of batch (≥ 1) on v and its
// peers at once and returns the chunks in order.
func (v *Vision) encodeOnPeers(pixels []float32, n, batch int) ([]*pruning.Visual, error) {
	workers := append([]*Vision{v}, v.peers...)
	per := 3 * v.g.Width * v.g.Height
	chunks := ceilDiv(n, batch)
	parts := make([]*pruning.Visual, chunks)
	errs := make([]error, chunks)
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, w := range workers[:min(len(workers), chunks)] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks {
					return
				}
				i := c * batch
				k := min(batch, n-i)
				parts[c], errs[c] = w.EncodeBatch(pixels[i*per:(i+k)*per], k)
				if errs[c] != nil {
					next.Store(int64(chunks)) // stop the others early
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return parts, nil
}
