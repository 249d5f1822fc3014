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
	// rank5: pixel_values is (batch, images, 3, H, W), the tiled form;
	// otherwise (batch, 3, H, W). mask: the graph takes
	// pixel_attention_mask (bool, pixel_values without the channel axis).
	rank5, mask bool
	half        map[string]bool // float16 outputs
}

// OpenVision opens the vision graph and checks its inputs and outputs. The
// inputs are read from the graph: pixel_values of rank 4 or 5 (float32) and
// an optional pixel_attention_mask (bool); any other input is an error.
func OpenVision(g VisionGraph, o ortx.Options) (*Vision, error) {
	if g.Input == "" {
		g.Input = "pixel_values"
	}
	if g.Features == "" {
		return nil, fmt.Errorf("encoder: vision graph %s: no features output named", g.Path)
	}
	ins, gouts, err := ortx.Inspect(g.Path, o)
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	v := &Vision{g: g, half: map[string]bool{}}
	pv, ok := ortx.Info(ins, g.Input)
	if !ok {
		return nil, fmt.Errorf("encoder: %w", ortx.Mismatch(g.Path, "input", g.Input, "is missing"))
	}
	switch len(pv.Dimensions) {
	case 4:
	case 5:
		v.rank5 = true
	default:
		return nil, fmt.Errorf("encoder: %w", ortx.Mismatch(g.Path, "input", g.Input,
			fmt.Sprintf("has shape %v, want (batch, 3, H, W) or (batch, images, 3, H, W)", pv.Dimensions)))
	}
	inPorts := []ortx.Port{ortx.Float(g.Input)}
	for _, i := range ins {
		switch i.Name {
		case g.Input:
		case "pixel_attention_mask":
			v.mask = true
			inPorts = append(inPorts, ortx.Bool(i.Name))
		default:
			return nil, fmt.Errorf("encoder: %w", ortx.Mismatch(g.Path, "input", i.Name,
				"is not part of the vision contract ("+g.Input+", pixel_attention_mask)"))
		}
	}
	for _, n := range []string{g.Features, g.PreProj, g.CLSAttn, g.Keys} {
		if n != "" {
			v.outs = append(v.outs, n)
		}
	}
	ports := make([]ortx.Port, len(v.outs))
	for i, n := range v.outs {
		ports[i] = ortx.Float(n)
		if info, ok := ortx.Info(gouts, n); ok && info.DataType == ort.TensorElementDataTypeFloat16 {
			ports[i] = ortx.Float16(n)
			v.half[n] = true
		}
	}
	if v.sess, err = ortx.Open(g.Path, inPorts, ports, o); err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	return v, nil
}

// Session exposes the session for statistics.
func (v *Vision) Session() *ortx.Session { return v.sess }

// Encode runs one preprocessed image (CHW float32, 3×Height×Width) and
// returns its visual tokens and extras.
func (v *Vision) Encode(pixels []float32) (*pruning.Visual, error) {
	return v.EncodeBatch(pixels, 1)
}

// EncodeChunks runs n images or tiles in ORT calls of at most batch each
// (batch ≤ 0 or ≥ n: one call) and concatenates their features in order.
// Only the features output is kept across chunks, so a graph with extra
// outputs (pre-projector features, attention, keys) runs in one call.
func (v *Vision) EncodeChunks(pixels []float32, n, batch int) (*pruning.Visual, error) {
	if batch <= 0 || batch >= n || v.g.PreProj != "" || v.g.CLSAttn != "" || v.g.Keys != "" {
		return v.EncodeBatch(pixels, n)
	}
	per := 3 * v.g.Width * v.g.Height
	if n <= 0 || len(pixels) != n*per {
		return nil, fmt.Errorf("encoder: pixel tensor has %d values, want %d (%d images)", len(pixels), n*per, n)
	}
	var out *pruning.Visual
	for i := 0; i < n; i += batch {
		k := min(batch, n-i)
		vis, err := v.EncodeBatch(pixels[i*per:(i+k)*per], k)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = vis
			out.Features.Data = append(make([]float32, 0, len(vis.Features.Data)*ceilDiv(n, k)), vis.Features.Data...)
			continue
		}
		if vis.Features.Cols != out.Features.Cols {
			return nil, fmt.Errorf("encoder: feature width changed between batches (%d, %d)", out.Features.Cols, vis.Features.Cols)
		}
		out.Features.Data = append(out.Features.Data, vis.Features.Data...)
		out.Features.Rows += vis.Features.Rows
	}
	if out.GridH*out.GridW != out.Features.Rows {
		out.GridH, out.GridW = 0, 0
	}
	return out, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// EncodeBatch runs n preprocessed images or tiles of one image (n×3×H×W
// float32) in one call and returns their visual tokens in order: the
// features output, of shape (n, T, D), (1, n·T, D) or (n·T, D), flattened to
// n·T rows.
func (v *Vision) EncodeBatch(pixels []float32, n int) (*pruning.Visual, error) {
	H, W := int64(v.g.Height), int64(v.g.Width)
	want := n * 3 * v.g.Width * v.g.Height
	if n <= 0 || len(pixels) != want {
		return nil, fmt.Errorf("encoder: pixel tensor has %d values, want %d (%d images)", len(pixels), want, n)
	}
	shape := []int64{int64(n), 3, H, W}
	if v.rank5 {
		shape = []int64{1, int64(n), 3, H, W}
	}
	in, err := ortx.Tensor(pixels, shape...)
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	defer in.Destroy()
	ins := []ort.Value{in}
	if v.mask {
		ms := []int64{int64(n), H, W}
		if v.rank5 {
			ms = []int64{1, int64(n), H, W}
		}
		ones := make([]byte, n*v.g.Width*v.g.Height)
		for i := range ones {
			ones[i] = 1
		}
		m, err := ortx.Raw(ort.TensorElementDataTypeBool, ones, ms...)
		if err != nil {
			return nil, fmt.Errorf("encoder: %w", err)
		}
		defer m.Destroy()
		ins = append(ins, m)
	}
	outs := make([]ort.Value, len(v.outs))
	defer func() {
		for _, o := range outs {
			if o != nil {
				o.Destroy()
			}
		}
	}()
	if err := v.sess.Run(ins, outs); err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	vis := &pruning.Visual{GridH: v.g.GridH, GridW: v.g.GridW}
	for i, name := range v.outs {
		data, sh, err := ortx.Floats(outs[i], name, v.half[name])
		if err != nil {
			return nil, fmt.Errorf("encoder: %w", err)
		}
		switch name {
		case v.g.Features:
			var m pruning.Matrix
			switch {
			case len(sh) == 3 && (sh[0] == 1 || sh[0] == int64(n)):
				m = pruning.Matrix{Rows: int(sh[0] * sh[1]), Cols: int(sh[2]), Data: data}
			case len(sh) == 2 && n > 1:
				m = pruning.Matrix{Rows: int(sh[0]), Cols: int(sh[1]), Data: data}
			default:
				return nil, fmt.Errorf("encoder: output %s has shape %v, want (1, N, D), (images, T, D) or (N, D)", name, sh)
			}
			vis.Features = m
		case v.g.PreProj, v.g.Keys:
			if len(sh) != 3 || sh[0] != 1 {
				return nil, fmt.Errorf("encoder: output %s has shape %v, want (1, N, D)", name, sh)
			}
			m := pruning.Matrix{Rows: int(sh[1]), Cols: int(sh[2]), Data: data}
			if name == v.g.PreProj {
				vis.PreProj = m
			} else {
				vis.Keys = m
			}
		case v.g.CLSAttn:
			if len(sh) != 2 || sh[0] != 1 {
				return nil, fmt.Errorf("encoder: output %s has shape %v, want (1, N)", name, sh)
			}
			vis.CLSAttn = data
		}
	}
	nr := vis.Features.Rows
	if vis.GridH*vis.GridW != nr {
		vis.GridH, vis.GridW = 0, 0
	}
	for _, chk := range []struct {
		name string
		rows int
	}{{v.g.PreProj, vis.PreProj.Rows}, {v.g.Keys, vis.Keys.Rows}, {v.g.CLSAttn, len(vis.CLSAttn)}} {
		if chk.name != "" && chk.rows != nr {
			return nil, fmt.Errorf("encoder: output %s has %d rows, features have %d", chk.name, chk.rows, nr)
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
