package encoder

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/pruning"
)

// VisionGraph says how to run a model's vision graph: its input name, the
// image size it takes, and its output names (Features required, the extras
// optional: "" when the model does not provide them).
type VisionGraph struct {
	Path          string
	Input         string // pixel_values
	Width, Height int
	Features      string
	PreProj       string
	CLSAttn       string
	Keys          string
	GridH, GridW  int
}

// Vision runs a vision encoder graph. It owns its session.
type Vision struct {
	g    VisionGraph
	sess *ortx.Session
	outs []string
}

// OpenVision opens the vision graph and checks its inputs and outputs.
func OpenVision(g VisionGraph, o ortx.Options) (*Vision, error) {
	if g.Input == "" {
		g.Input = "pixel_values"
	}
	var outs []string
	for _, n := range []string{g.Features, g.PreProj, g.CLSAttn, g.Keys} {
		if n != "" {
			outs = append(outs, n)
		}
	}
	if g.Features == "" {
		return nil, fmt.Errorf("encoder: vision graph %s: no features output named", g.Path)
	}
	ports := make([]ortx.Port, len(outs))
	for i, n := range outs {
		ports[i] = ortx.Float(n)
	}
	s, err := ortx.Open(g.Path, []ortx.Port{ortx.Float(g.Input)}, ports, o)
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	return &Vision{g: g, sess: s, outs: outs}, nil
}

// Session exposes the session for statistics.
func (v *Vision) Session() *ortx.Session { return v.sess }

// Encode runs one preprocessed image (CHW float32, 3×Height×Width) and
// returns its visual tokens and extras.
func (v *Vision) Encode(pixels []float32) (*pruning.Visual, error) {
	want := 3 * v.g.Width * v.g.Height
	if len(pixels) != want {
		return nil, fmt.Errorf("encoder: pixel tensor has %d values, want %d", len(pixels), want)
	}
	in, err := ortx.Tensor(pixels, 1, 3, int64(v.g.Height), int64(v.g.Width))
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	defer in.Destroy()
	outs := make([]ort.Value, len(v.outs))
	defer func() {
		for _, o := range outs {
			if o != nil {
				o.Destroy()
			}
		}
	}()
	if err := v.sess.Run([]ort.Value{in}, outs); err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	vis := &pruning.Visual{GridH: v.g.GridH, GridW: v.g.GridW}
	for i, name := range v.outs {
		t, ok := outs[i].(*ort.Tensor[float32])
		if !ok {
			return nil, fmt.Errorf("encoder: output %s is not a float tensor", name)
		}
		sh := t.GetShape()
		data := append([]float32(nil), t.GetData()...)
		switch name {
		case v.g.Features, v.g.PreProj, v.g.Keys:
			if len(sh) != 3 || sh[0] != 1 {
				return nil, fmt.Errorf("encoder: output %s has shape %v, want (1, N, D)", name, sh)
			}
			m := pruning.Matrix{Rows: int(sh[1]), Cols: int(sh[2]), Data: data}
			switch name {
			case v.g.Features:
				vis.Features = m
			case v.g.PreProj:
				vis.PreProj = m
			default:
				vis.Keys = m
			}
		case v.g.CLSAttn:
			if len(sh) != 2 || sh[0] != 1 {
				return nil, fmt.Errorf("encoder: output %s has shape %v, want (1, N)", name, sh)
			}
			vis.CLSAttn = data
		}
	}
	n := vis.Features.Rows
	if vis.GridH*vis.GridW != n {
		vis.GridH, vis.GridW = 0, 0
	}
	for _, chk := range []struct {
		name string
		rows int
	}{{v.g.PreProj, vis.PreProj.Rows}, {v.g.Keys, vis.Keys.Rows}, {v.g.CLSAttn, len(vis.CLSAttn)}} {
		if chk.name != "" && chk.rows != n {
			return nil, fmt.Errorf("encoder: output %s has %d rows, features have %d", chk.name, chk.rows, n)
		}
	}
	return vis, nil
}

// Destroy releases the session.
func (v *Vision) Destroy() {
	if v != nil {
		v.sess.Destroy()
	}
}
