package pipeline

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/vlmrun/vlmrun/decoder"
	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
)

// Open loads the model folder dir.
func Open(dir string, o Options) (*Pipeline, error) {
	start := time.Now()
	spec, err := models.LoadWith(dir, models.LoadOptions{DTypes: o.DTypes})
	if err != nil {
		return nil, err
	}
	var ot OpenTimings
	ot.Load = ms(time.Since(start))
	if o.Limits == (encoder.Limits{}) {
		o.Limits = encoder.DefaultLimits
	}
	if o.Resizer != "" {
		spec.Preprocess.Resizer = o.Resizer
	}
	// the vision session is created concurrently with the decoder's: ORT
	// spends most of session creation in one thread per session (graph
	// optimization, prepacking)
	var (
		vis    *encoder.Vision
		visErr error
		wg     sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t0 := time.Now()
		vis, visErr = openVision(visionGraph(spec), o)
		ot.Vision = ms(time.Since(t0))
	}()
	p := &Pipeline{Spec: spec, opt: o}
	err = p.openDecoder(dir, o, &ot)
	wg.Wait()
	if visErr != nil || err != nil {
		vis.Destroy()
		p.lm.Destroy()
		p.s2s.Destroy()
		return nil, errors.Join(visErr, err)
	}
	p.vision = vis
	ot.Total = ms(time.Since(start))
	p.Opened = ot
	return p, nil
}

// openDecoder opens the decoder's sessions (and, with o.Preload, the
// merged decoder's) into p, recording their times in ot.
func (p *Pipeline) openDecoder(dir string, o Options, ot *OpenTimings) error {
	spec := p.Spec
	t0 := time.Now()
	t := spec.Text
	dims := decoder.Dims{Hidden: t.Hidden, Layers: t.Layers, Heads: t.Heads, KVHeads: t.KVHeads,
		HeadDim: t.HeadDim, Vocab: t.Vocab}
	var err error
	if spec.Files.Encoder != "" {
		if spec.Seq2Seq == nil {
			return fmt.Errorf("pipeline: %s: an encoder-decoder model needs its generation settings", dir)
		}
		p.s2s, err = decoder.OpenSeq2Seq(decoder.Seq2SeqFiles{Embed: spec.Files.Embed, Encoder: spec.Files.Encoder,
			Decoder: spec.Files.Decoder}, dims, o.ORT)
	} else {
		p.lm, err = decoder.Open(decoder.Files{Embed: spec.Files.Embed, Merged: spec.Files.Decoder,
			CacheDir: o.CacheDir}, dims, o.ORT)
	}
	if err != nil {
		return err
	}
	ot.Decoder = ms(time.Since(t0))
	if o.Preload && p.lm != nil {
		t0 = time.Now()
		if err := p.lm.Preload(); err != nil {
			return err
		}
		ot.Merged = ms(time.Since(t0))
	}
	return nil
}

// openVision opens the vision graph on o.TileSessions sessions.
func openVision(g encoder.VisionGraph, o Options) (*encoder.Vision, error) {
	if o.TileSessions <= 1 {
		return encoder.OpenVision(g, o.ORT)
	}
	vo := o.ORT
	total := vo.Threads
	if total <= 0 {
		total = runtime.NumCPU()
	}
	vo.Threads = max(1, total/o.TileSessions)
	return encoder.OpenVisionN(g, vo, o.TileSessions)
}
