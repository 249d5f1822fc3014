package pipeline

import (
	"context"
	"fmt"
	"io"

	"github.com/vlmrun/vlmrun/models"
)

// Pool holds n replicas of one model, each used by one request at a time,
// so that n requests run in parallel and each request's ORT time
// (Timings.ORTMs) is read from sessions no other request touches. Each
// replica holds its own ORT sessions: memory grows with n.
type Pool struct {
	free chan *Pipeline
	all  []*Pipeline
}

// OpenPool opens n (>= 1) replicas of the model folder dir.
func OpenPool(dir string, o Options, n int) (*Pool, error) {
	if n < 1 {
		return nil, fmt.Errorf("pipeline: pool of %d replicas: need at least one", n)
	}
	var ps []*Pipeline
	for range n {
		p, err := Open(dir, o)
		if err != nil {
			for _, q := range ps {
				q.Close()
			}
			return nil, err
		}
		ps = append(ps, p)
	}
	return NewPool(ps...)
}

// NewPool makes a pool of already opened replicas of one model; the pool
// then owns them (and closes them if it cannot be made). Like OpenPool, it
// preloads every replica's sessions.
func NewPool(replicas ...*Pipeline) (*Pool, error) {
	if len(replicas) == 0 {
		return nil, fmt.Errorf("pipeline: pool of no replicas")
	}
	for _, p := range replicas {
		if err := p.Preload(); err != nil {
			for _, q := range replicas {
				q.Close()
			}
			return nil, err
		}
	}
	pl := &Pool{free: make(chan *Pipeline, len(replicas)), all: replicas}
	for _, p := range replicas {
		pl.free <- p
	}
	return pl, nil
}

// Size returns the number of replicas.
func (pl *Pool) Size() int { return len(pl.all) }

// Spec returns the model's spec (the same for every replica).
func (pl *Pool) Spec() *models.Spec { return pl.all[0].Spec }

// FitRequest is Pipeline.FitRequest on the pool's model (every replica is
// the same model).
func (pl *Pool) FitRequest(req Request) (Request, error) { return pl.all[0].FitRequest(req) }

// Get waits for a free replica, or returns ctx's error when ctx is done
// first. Return the replica with Put.
func (pl *Pool) Get(ctx context.Context) (*Pipeline, error) {
	select {
	case p := <-pl.free:
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Put returns a replica taken with Get.
func (pl *Pool) Put(p *Pipeline) { pl.free <- p }

// Caption runs Pipeline.Caption on a free replica, waiting for one.
func (pl *Pool) Caption(ctx context.Context, name string, r io.Reader,
	req Request, stream func(string) error) (*Result, error) {
	p, err := pl.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("pipeline: waiting for a free model replica: %w", err)
	}
	defer pl.Put(p)
	return p.Caption(ctx, name, r, req, stream)
}

// Close releases every replica. Call it only when no request is running.
func (pl *Pool) Close() {
	for _, p := range pl.all {
		p.Close()
	}
	pl.all = nil
}
