package encoder

import (
	"fmt"
	"slices"
	"sync"

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
	// Rows maps the extras' rows to the feature rows.
	Rows ExtraRows
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
	// grid names the patch-grid input of a graph that takes flattened
	// patches (pixel_values of rank 2; Qwen2-VL's grid_thw, Qwen2.5-VL's
	// image_grid_thw); "" for image graphs.
	grid     string
	half     map[string]bool    // float16 outputs
	halfDims map[string][]int64 // their declared shapes (-1: symbolic)

	// Float16 outputs are written into buffers allocated here: the
	// onnxruntime_go wrapper cannot convert a float16 output that ORT
	// allocates (issue 20, defect 9). halfShapes caches their shapes per
	// batch size.
	mu         sync.Mutex
	halfShapes map[int][][]int64 // batch size → shape per output (nil: not float16)

	// peers are more sessions of the same graph (OpenVisionN): EncodeChunks
	// runs chunks of tiles on v and its peers at once.
	peers []*Vision
	// oneImage says that the graph's extras are computed for a batch of
	// one image (an instrumented graph, OpenInstrumented: its attention
	// and keys are averaged over batch·heads), so EncodeChunks runs it
	// image by image.
	oneImage bool
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
	return openVision(g, ins, gouts, func(in, out []ortx.Port) (*ortx.Session, error) {
		return ortx.Open(g.Path, in, out, o)
	})
}

// openVision checks the graph's declared inputs and outputs and opens its
// session with open.
func openVision(g VisionGraph, ins, gouts []ort.InputOutputInfo, open func(in, out []ortx.Port) (*ortx.Session, error)) (*Vision, error) {
	var err error
	v := &Vision{g: g, half: map[string]bool{}, halfDims: map[string][]int64{}}
	pv, ok := ortx.Info(ins, g.Input)
	if !ok {
		return nil, fmt.Errorf("encoder: %w", ortx.Mismatch(g.Path, "input", g.Input, "is missing"))
	}
	patches := false
	switch len(pv.Dimensions) {
	case 2:
		patches = true
	case 4:
	case 5:
		v.rank5 = true
	default:
		return nil, fmt.Errorf("encoder: %w", ortx.Mismatch(g.Path, "input", g.Input,
			fmt.Sprintf("has shape %v, want (batch, 3, H, W), (batch, images, 3, H, W) or (patches, dim)", pv.Dimensions)))
	}
	inPorts := []ortx.Port{ortx.Float(g.Input)}
	for _, i := range ins {
		switch {
		case i.Name == g.Input:
		case i.Name == "pixel_attention_mask" && !patches:
			v.mask = true
			inPorts = append(inPorts, ortx.Bool(i.Name))
		case (i.Name == "grid_thw" || i.Name == "image_grid_thw") && patches && v.grid == "":
			v.grid = i.Name
			inPorts = append(inPorts, ortx.Int64(i.Name))
		default:
			return nil, fmt.Errorf("encoder: %w", ortx.Mismatch(g.Path, "input", i.Name,
				"is not part of the vision contract ("+g.Input+", pixel_attention_mask; or patches with grid_thw / image_grid_thw)"))
		}
	}
	if patches && v.grid == "" {
		return nil, fmt.Errorf("encoder: %w", ortx.Mismatch(g.Path, "input", g.Input,
			"takes patches (rank 2) but the graph has no grid_thw / image_grid_thw input"))
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
			v.halfDims[n] = info.Dimensions
		}
	}
	if v.sess, err = open(inPorts, ports); err != nil {
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
// outputs (pre-projector features, attention, keys) runs in one call —
// except an instrumented graph, whose extras hold for one image: it runs
// image by image, features and extras joined in order. With n > 1 the
// result's Views is n (GlobalCom² reads the tile layout from it).
//
// With peers (OpenVisionN) the chunks run on all sessions at once; batch ≤ 0
// then splits the images evenly across the sessions.
func (v *Vision) EncodeChunks(pixels []float32, n, batch int) (*pruning.Visual, error) {
	extras := v.g.PreProj != "" || v.g.CLSAttn != "" || v.g.Keys != ""
	if len(v.peers) > 0 && n > 1 && !extras && batch <= 0 {
		batch = ceilDiv(n, 1+len(v.peers))
	}
	if extras && v.oneImage && n > 1 {
		per := 3 * v.g.Width * v.g.Height
		if len(pixels) != n*per {
			return nil, fmt.Errorf("encoder: pixel tensor has %d values, want %d (%d images)", len(pixels), n*per, n)
		}
		parts := make([]*pruning.Visual, n)
		for i := range parts {
			vis, err := v.EncodeBatch(pixels[i*per:(i+1)*per], 1)
			if err != nil {
				return nil, fmt.Errorf("%w (image %d of %d)", err, i+1, n)
			}
			parts[i] = vis
		}
		return joinChunks(parts, n)
	}
	if batch <= 0 || batch >= n || extras {
		vis, err := v.EncodeBatch(pixels, n)
		if err == nil && n > 1 {
			vis.Views = n // tiles then the global image (pruning.Visual.Views)
		}
		return vis, err
	}
	per := 3 * v.g.Width * v.g.Height
	if n <= 0 || len(pixels) != n*per {
		return nil, fmt.Errorf("encoder: pixel tensor has %d values, want %d (%d images)", len(pixels), n*per, n)
	}
	if len(v.peers) > 0 {
		parts, err := v.encodeOnPeers(pixels, n, batch)
		if err != nil {
			return nil, err
		}
		return joinChunks(parts, n)
	}
	var parts []*pruning.Visual
	for i := 0; i < n; i += batch {
		k := min(batch, n-i)
		vis, err := v.EncodeBatch(pixels[i*per:(i+k)*per], k)
		if err != nil {
			return nil, err
		}
		parts = append(parts, vis)
	}
	return joinChunks(parts, n)
}

// joinChunks concatenates the features of the chunks of n images, in
// order, into the first chunk's Visual, and their attention, keys and
// pre-projector rows when the chunks have them (an instrumented graph run
// image by image).
func joinChunks(parts []*pruning.Visual, n int) (*pruning.Visual, error) {
	out := parts[0]
	rows := 0
	for _, p := range parts {
		rows += len(p.Features.Data)
	}
	out.Features.Data = append(make([]float32, 0, rows), out.Features.Data...)
	out.CLSAttn = slices.Clone(out.CLSAttn)
	out.Keys.Data, out.PreProj.Data = slices.Clone(out.Keys.Data), slices.Clone(out.PreProj.Data)
	for _, vis := range parts[1:] {
		if vis.Features.Cols != out.Features.Cols || vis.Keys.Cols != out.Keys.Cols || vis.PreProj.Cols != out.PreProj.Cols ||
			(len(vis.CLSAttn) > 0) != (len(out.CLSAttn) > 0) {
			return nil, fmt.Errorf("encoder: feature or extras width changed between batches (features %d, %d)", out.Features.Cols, vis.Features.Cols)
		}
		out.Features.Data = append(out.Features.Data, vis.Features.Data...)
		out.Features.Rows += vis.Features.Rows
		out.CLSAttn = append(out.CLSAttn, vis.CLSAttn...)
		for _, m := range []struct{ dst, src *pruning.Matrix }{{&out.Keys, &vis.Keys}, {&out.PreProj, &vis.PreProj}} {
			m.dst.Data = append(m.dst.Data, m.src.Data...)
			m.dst.Rows += m.src.Rows
		}
	}
	if out.GridH*out.GridW != out.Features.Rows {
		out.GridH, out.GridW = 0, 0
	}
	if n > 1 {
		out.Views = n
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
	defer destroyAll(outs)
	if err := v.runHalf(ins, outs, n); err != nil {
		return nil, err
	}
	vis := &pruning.Visual{GridH: v.g.GridH, GridW: v.g.GridW}
	for i, name := range v.outs {
		if name != v.g.Features {
			continue
		}
		data, sh, err := ortx.Floats(outs[i], name, v.half[name])
		if err != nil {
			return nil, fmt.Errorf("encoder: %w", err)
		}
		switch {
		case len(sh) == 3 && (sh[0] == 1 || sh[0] == int64(n)):
			vis.Features = pruning.Matrix{Rows: int(sh[0] * sh[1]), Cols: int(sh[2]), Data: data}
		case len(sh) == 2 && n > 1:
			vis.Features = pruning.Matrix{Rows: int(sh[0]), Cols: int(sh[1]), Data: data}
		default:
			return nil, fmt.Errorf("encoder: output %s has shape %v, want (1, N, D), (images, T, D) or (N, D)", name, sh)
		}
	}
	if vis.GridH*vis.GridW != vis.Features.Rows {
		vis.GridH, vis.GridW = 0, 0
	}
	if err := v.readExtras(vis, outs); err != nil {
		return nil, err
	}
	return vis, nil
}

// Destroy releases the session.
func (v *Vision) Destroy() {
	if v != nil {
		v.sess.Destroy()
		for _, p := range v.peers {
			p.Destroy()
		}
		v.peers = nil
	}
}
