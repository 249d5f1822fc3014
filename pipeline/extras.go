package pipeline

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/onnx/visinstr"
	"github.com/vlmrun/vlmrun/pruning"
)

// extraVision is the vision graph instrumented for the pruning extras the
// model's own graph does not output (encoder.OpenInstrumented), opened by
// the first request whose pre-decoder method needs them. Requests that do
// not need them keep running the plain graph; both sessions then stay
// open (two copies of the vision weights in memory).
type extraVision struct {
	mu   sync.Mutex
	done bool
	v    *encoder.Vision
	info encoder.Instrumented
	err  error
}

// extraNeeds are the inputs instrumentation provides.
const extraNeeds = pruning.NeedCLSAttn | pruning.NeedPreProj | pruning.NeedKeys

// missingExtras returns the extras req's pre-decoder method needs that the
// model's vision graph does not output.
func (p *Pipeline) missingExtras(req Request) pruning.Need {
	if req.Pre == nil {
		return 0
	}
	var has pruning.Need
	o := p.Spec.Outputs
	if o.CLSAttn != "" {
		has |= pruning.NeedCLSAttn
	}
	if o.PreProj != "" {
		has |= pruning.NeedPreProj
	}
	if o.Keys != "" {
		has |= pruning.NeedKeys
	}
	return req.Pre.Needs() & extraNeeds &^ has
}

// visionFor returns the vision graph req runs: the plain one, or the
// instrumented one when its pre-decoder method needs extras the plain one
// lacks and the family says how to instrument it (models.VisionExtras;
// other families keep the plain graph, and the method is refused as
// before). opened is set when this call built or opened the instrumented
// graph.
func (p *Pipeline) visionFor(req Request) (v *encoder.Vision, opened *encoder.Instrumented, err error) {
	miss := p.missingExtras(req)
	if miss == 0 {
		return p.vision, nil, nil
	}
	in, err := models.VisionExtras(p.Spec)
	if err != nil {
		if errors.Is(err, models.ErrNoExtras) {
			return p.vision, nil, nil
		}
		return nil, nil, fmt.Errorf("pipeline: %s needs %s, which %s does not output: %w: %w",
			req.Pre.Name(), miss, filepath.Base(p.Spec.Files.Vision), err, pruning.ErrMissingInput)
	}
	x := &p.extras
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.done {
		x.done = true
		x.v, x.info, x.err = encoder.OpenInstrumented(visionGraph(p.Spec), in, p.opt.CacheDir, p.opt.ORT)
		info := x.info
		opened = &info
	}
	if x.err != nil {
		return nil, opened, fmt.Errorf("pipeline: %s needs %s, which %s does not output, and it cannot be instrumented: %w: %w",
			req.Pre.Name(), miss, filepath.Base(p.Spec.Files.Vision), x.err, pruning.ErrMissingInput)
	}
	// The attention is always there; the pre-projector features and keys
	// only when the analysis found them.
	var why []string
	for _, e := range []struct {
		need pruning.Need
		out  string
	}{{pruning.NeedPreProj, visinstr.OutPreProj}, {pruning.NeedKeys, visinstr.OutKeys}} {
		if r, ok := x.info.Missing[e.out]; ok && miss&e.need != 0 {
			why = append(why, fmt.Sprintf("%s: %s", e.need, r))
		}
	}
	if len(why) > 0 {
		sort.Strings(why)
		return nil, opened, fmt.Errorf("pipeline: %s needs what the instrumented %s does not provide (%s): %w",
			req.Pre.Name(), filepath.Base(p.Spec.Files.Vision), strings.Join(why, "; "), pruning.ErrMissingInput)
	}
	return x.v, opened, nil
}

// visionGraph describes spec's plain vision graph.
func visionGraph(s *models.Spec) encoder.VisionGraph {
	return encoder.VisionGraph{Path: s.Files.Vision, Width: s.Preprocess.Width, Height: s.Preprocess.Height,
		Features: s.Outputs.Features, PreProj: s.Outputs.PreProj, CLSAttn: s.Outputs.CLSAttn, Keys: s.Outputs.Keys,
		GridH: s.GridH, GridW: s.GridW}
}

// visionRec is visionFor with the time spent deriving and opening the
// instrumented graph recorded apart (Timings.EncoderInstrumentBuild,
// EncoderSessionOpen), not as the time of the stage being measured.
func (p *Pipeline) visionRec(rec *recorder, req Request) (*encoder.Vision, error) {
	v, opened, err := p.visionFor(req)
	if opened != nil {
		rec.t.EncoderInstrumentBuild, rec.t.EncoderSessionOpen = ms(opened.Build), ms(opened.Open)
		rec.since()
	}
	return v, err
}

// encodeFor runs req's vision graph (visionRec) on the preprocessed image,
// then the family's PackVisual when it has one.
func (p *Pipeline) encodeFor(rec *recorder, px models.Pixels, req Request) (*pruning.Visual, error) {
	v, err := p.visionRec(rec, req)
	if err != nil {
		return nil, err
	}
	vis, err := encodeWith(v, px, req.EncoderBatch)
	if err != nil || p.Spec.PackVisual == nil {
		return vis, err
	}
	return p.Spec.PackVisual(px, vis)
}

// extraSessions lists the instrumented graph's session once opened.
func (p *Pipeline) extraSessions() []*ortx.Session {
	x := &p.extras
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.v == nil {
		return nil
	}
	return []*ortx.Session{x.v.Session()}
}

func (x *extraVision) destroy() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.v.Destroy()
	x.v = nil
}
