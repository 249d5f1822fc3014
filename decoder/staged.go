package decoder

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/onnx/decsplit"
	"github.com/vlmrun/vlmrun/pruning"
)

// staged runs the decoder as stages derived from the merged graph, cut at
// the in-decoder method's boundaries (after every layer when no method is
// given). Layers before a cut keep every row they saw; layers after it see
// (and cache) only the kept rows. Each stage's layers share one length.
func (g *gen) staged(ctx context.Context, in Input) error {
	d := g.m.d
	var cuts []int
	if g.opt.Prune != nil {
		for _, l := range g.opt.Prune.Layers() {
			if l >= 0 && l < d.Layers-1 {
				cuts = append(cuts, l)
			}
		}
	} else {
		for l := 0; l < d.Layers-1; l++ {
			cuts = append(cuts, l)
		}
	}
	// A DecodeSelector reads its layer's attention row at every decode step
	// and restricts, for that step, the visual rows later layers attend to.
	var stepper pruning.DecodeStepper
	decodeLayer := -1
	if ds, ok := g.opt.Prune.(pruning.DecodeSelector); ok {
		decodeLayer, stepper = ds.DecodeLayer(), ds.NewDecoding()
		if decodeLayer < 0 || decodeLayer >= d.Layers-1 {
			return fmt.Errorf("decoder: %s selects after layer %d, outside 0..%d of this %d-layer decoder",
				g.opt.Prune.Name(), decodeLayer, d.Layers-2, d.Layers)
		}
		if !slices.Contains(cuts, decodeLayer) {
			cuts = append(cuts, decodeLayer)
		}
	}
	// A method scoring with pre-RoPE queries and keys (prunevid-inner) gets
	// them from the stage ending after its layer.
	qkLayer := -1
	if g.opt.Prune != nil && g.opt.Prune.Needs()&pruning.NeedPreRoPEQK != 0 {
		ls := g.opt.Prune.Layers()
		if len(ls) != 1 || !slices.Contains(cuts, ls[0]) {
			return fmt.Errorf("decoder: %s reads pre-RoPE queries and keys at layers %v; one layer inside 0..%d is supported",
				g.opt.Prune.Name(), ls, d.Layers-2)
		}
		qkLayer = ls[0]
	}
	set, fresh, err := g.m.split.setQK(cuts, qkLayer)
	if err != nil {
		return err
	}
	if fresh {
		g.out.SplitBuild, g.out.SessionOpen = g.m.split.buildTime, g.m.split.loadTime
	}
	pos, err := newPosIDs(in)
	if err != nil {
		return err
	}
	L := pos.len()
	if qkLayer >= 0 {
		g.qBuf = make([]float32, L*d.Heads*d.HeadDim)
		g.kBuf = make([]float32, L*d.KVHeads*d.HeadDim)
	}
	capacity := L + g.opt.MaxNewTokens
	caches := g.m.newCaches(capacity)
	for _, c := range caches {
		c.NextPos = in.NextPos
	}
	hid := [2][]float32{make([]float32, capacity*d.Hidden), make([]float32, capacity*d.Hidden)}
	logits := make([]float32, d.Vocab)
	cur := 0
	copy(hid[cur], in.Embeds)
	// One attention buffer for every stage and step: at most the prompt's
	// text rows (prefill) or one row (decode) over the longest cache.
	attnBuf := make([]float32, d.Heads*max(1, L-len(in.ImageIdx))*capacity)
	decodePos := single(pos.dims, 0) // reused: one token per decode step
	imageIdx := slices.Clone(in.ImageIdx)
	var stepMask []int64 // this decode step's mask for layers after decodeLayer; nil: every row
	var maskBuf []int64
	if stepper != nil {
		maskBuf = make([]int64, capacity)
	}
	g.start = time.Now()
	prefill := true
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("decoder: %w", err)
		}
		stepMask = nil
		for si, st := range set.stages {
			c0 := caches[st.first]
			if !prefill {
				for i := range decodePos.p {
					decodePos.p[i] = c0.NextPos
				}
				pos = decodePos
			}
			s := pos.len()
			rows := []int64{0}
			if prefill && st.hasAttn {
				rows = textRows(s, imageIdx)
			}
			lastStage := si == len(set.stages)-1
			var attn []float32
			if st.hasAttn {
				attn = attnBuf[:d.Heads*len(rows)*(c0.Len+s)]
			}
			out := hid[1-cur][:s*d.Hidden]
			if lastStage {
				out = logits
			}
			T := c0.Len + s // rows attended (runStage commits the cache)
			var mask []int64
			if stepMask != nil && st.first > decodeLayer {
				mask = stepMask[:T]
			}
			if err := g.runStage(st, caches, hid[cur][:s*d.Hidden], pos, rows, mask, out, attn); err != nil {
				return err
			}
			if lastStage {
				break
			}
			if !prefill && st.last == decodeLayer {
				if stepMask, err = g.decodeSelect(stepper, st, attn, T, imageIdx, maskBuf); err != nil {
					return err
				}
			}
			cur = 1 - cur
			if prefill && g.opt.Prune != nil && slices.Contains(g.opt.Prune.Layers(), st.last) {
				b := g.boundary(st, hid[cur][:s*d.Hidden], attn, rows, caches[st.last], pos, imageIdx)
				if err := g.fillQueries(b, attn, rows); err != nil {
					return err
				}
				before := len(imageIdx)
				var rows []int
				pos, imageIdx, rows, err = g.cut(b, hid[1-cur], pos, imageIdx, in.TotalVisual, caches[st.last+1:])
				if err != nil {
					return err
				}
				if kg, ok := g.opt.Prune.(pruning.KVGatherer); ok && kg.GathersEarlierKV() {
					// The layers up to the boundary forget the dropped rows too.
					if slices.Contains(rows, -1) {
						return fmt.Errorf("decoder: %s added rows and asked for the earlier layers' KV to be gathered", g.opt.Prune.Name())
					}
					for _, c := range caches[:st.last+1] {
						c.gather(rows)
					}
				}
				if stepper != nil && len(imageIdx) != before {
					// Decode masks index every layer's cache the same way.
					return fmt.Errorf("decoder: %s dropped visual tokens at the prefill; a decode-step selector must keep them all",
						g.opt.Prune.Name())
				}
				cur = 1 - cur
			}
		}
		if prefill {
			g.recordRows(caches)
			prefill = false
		} else {
			// The token just fed took NextPos in every layer.
			for _, c := range caches {
				c.NextPos++
			}
		}
		if len(g.out.IDs) == 0 {
			g.out.FirstLogits = slices.Clone(logits)
		}
		id := g.sm.next(logits)
		done, err := g.accept(id)
		if err != nil || done {
			g.out.KVBytes = cacheBytes(caches)
			return err
		}
		e, err := g.m.Embed([]int{id})
		if err != nil {
			return err
		}
		copy(hid[cur], e)
	}
}

// decodeSelect runs one decode step's selection after stage st (the new
// token's attention row attn over its T cached rows) and returns the attention
// mask for the later layers, built in buf, or nil when they attend to
// every row.
func (g *gen) decodeSelect(sel pruning.DecodeStepper, st *stage, attn []float32, T int, imageIdx []int, buf []int64) ([]int64, error) {
	name := g.opt.Prune.Name()
	if attn == nil {
		return nil, fmt.Errorf("decoder: %s needs the attention probabilities of layer %d, and the decoder export has none (fused attention)",
			name, st.last)
	}
	keep, err := sel.Step(attnRow(attn, g.m.d.Heads, 1, T, 0), imageIdx)
	if err != nil {
		return nil, fmt.Errorf("decoder: %s at decode step %d: %w", name, len(g.out.IDs), err)
	}
	if keep == nil {
		return nil, nil
	}
	mask := buf[:T]
	for i := range mask {
		mask[i] = 1
	}
	for _, j := range imageIdx {
		mask[j] = 0
	}
	for k, j := range keep {
		if j < 0 || j >= len(imageIdx) || (k > 0 && keep[k-1] >= j) {
			return nil, fmt.Errorf("decoder: %s returned invalid decode selection %v", name, keep)
		}
		mask[imageIdx[j]] = 1
	}
	g.out.SelectedSteps++
	return mask, nil
}

// textRows lists the rows of a length-s sequence that are not visual
// tokens (the candidates for attention rows: the last token and raters).
func textRows(s int, imageIdx []int) []int64 {
	var rows []int64
	for r := 0; r < s; r++ {
		if _, img := slices.BinarySearch(imageIdx, r); !img {
			rows = append(rows, int64(r))
		}
	}
	return rows
}

// boundary builds what an in-decoder method sees after the stage's last
// layer: hidden states, the last token's attention row (and the other text
// rows fetched with it), and that layer's post-RoPE keys from its cache.
func (g *gen) boundary(st *stage, hidden, attn []float32, rows []int64, kc *kvCache, pos posIDs, imageIdx []int) *pruning.Boundary {
	d := g.m.d
	s := pos.len()
	b := &pruning.Boundary{
		Layer:     st.last,
		Hidden:    pruning.Matrix{Rows: s, Cols: d.Hidden, Data: hidden},
		ImageIdx:  imageIdx,
		LastToken: s - 1,
	}
	if attn != nil {
		b.Attn = attnRow(attn, d.Heads, len(rows), s, slices.Index(rows, int64(s-1)))
	}
	if g.opt.Prune.Needs()&pruning.NeedDecoderKeys != 0 {
		b.Keys = kc.keysMatrix()
	}
	if st.hasQK {
		b.Q = pruning.Matrix{Rows: s, Cols: d.Heads * d.HeadDim, Data: g.qBuf[:s*d.Heads*d.HeadDim]}
		b.K = pruning.Matrix{Rows: s, Cols: d.KVHeads * d.HeadDim, Data: g.kBuf[:s*d.KVHeads*d.HeadDim]}
		b.Heads, b.KVHeads = d.Heads, d.KVHeads
	}
	return b
}

// attnRow extracts row k of a [heads, R, T] attention block as heads × T.
func attnRow(attn []float32, heads, R, T, k int) pruning.Matrix {
	if k < 0 {
		return pruning.Matrix{}
	}
	out := make([]float32, heads*T)
	for h := 0; h < heads; h++ {
		copy(out[h*T:(h+1)*T], attn[(h*R+k)*T:(h*R+k+1)*T])
	}
	return pruning.Matrix{Rows: heads, Cols: T, Data: out}
}

// fillQueries gives a RowRequester the attention rows it asks for, taken
// from the text rows the stage computed.
func (g *gen) fillQueries(b *pruning.Boundary, attn []float32, rows []int64) error {
	rr, ok := g.opt.Prune.(pruning.RowRequester)
	if !ok || attn == nil {
		return nil
	}
	q, err := rr.QueryRows(b)
	if err != nil {
		return fmt.Errorf("decoder: %s at layer %d: %w", g.opt.Prune.Name(), b.Layer, err)
	}
	s := b.Hidden.Rows
	for _, r := range q {
		k := slices.Index(rows, int64(r))
		if k < 0 {
			return fmt.Errorf("decoder: %s at layer %d asked for the attention row of query %d, which is not a text row",
				g.opt.Prune.Name(), b.Layer, r)
		}
		b.Queries = append(b.Queries, r)
		b.QueryAttn = append(b.QueryAttn, attnRow(attn, g.m.d.Heads, len(rows), s, k))
	}
	return nil
}

// runStage runs one stage on x (s rows) over its layers' caches.
//
// mask is the attention mask over the stage's past plus the new rows (nil:
// every row present).
func (g *gen) runStage(st *stage, caches []*kvCache, x []float32, pos posIDs, rows, mask []int64, out, attn []float32) error {
	d := g.m.d
	s := pos.len()
	past := caches[st.first].Len
	vals := newValues()
	defer vals.destroy()
	ins := make([]ort.Value, 0, len(st.in))
	for _, p := range st.in {
		var v ort.Value
		switch p.Name {
		case decsplit.Embeds:
			if p.Type == ort.TensorElementDataTypeFloat16 {
				h := make([]byte, 2*len(x))
				ortx.FloatToHalf(h, x)
				v = vals.raw(p.Type, h, 1, int64(s), int64(d.Hidden))
			} else {
				v = vals.f32(x, 1, int64(s), int64(d.Hidden))
			}
		case decsplit.HiddenIn:
			v = vals.f32(x, 1, int64(s), int64(d.Hidden))
		case decsplit.Mask:
			if mask == nil {
				mask = g.mask(past + s)
			}
			v = vals.i64(mask, 1, int64(past+s))
		case decsplit.Position:
			v = vals.i64(pos.p, pos.shape()...)
		case decsplit.AttnRows:
			v = vals.i64(rows, int64(len(rows)))
		case "num_logits_to_keep":
			v = vals.scalar(1)
		case "use_cache_branch":
			flag := []byte{0}
			if past > 0 {
				flag[0] = 1
			}
			v = vals.raw(ort.TensorElementDataTypeBool, flag, 1)
		default:
			l, kind, ok := pastName(p.Name)
			if !ok || l < st.first || l > st.last {
				return fmt.Errorf("decoder: %s: unexpected input %q", st.sess.Path, p.Name)
			}
			v = caches[l].pastValue(vals, kind == "value")
		}
		ins = append(ins, v)
	}
	outs := make([]ort.Value, 0, len(st.out))
	for _, p := range st.out {
		var v ort.Value
		switch p.Name {
		case decsplit.HiddenOut:
			v = vals.f32(out, 1, int64(s), int64(d.Hidden))
		case decsplit.LastLogit:
			v = vals.f32(out, 1, 1, int64(d.Vocab))
		case decsplit.Attn:
			v = vals.f32(attn, 1, int64(d.Heads), int64(len(rows)), int64(past+s))
		case decsplit.QOut, decsplit.KOut:
			buf, w := g.qBuf, d.Heads*d.HeadDim
			if p.Name == decsplit.KOut {
				buf, w = g.kBuf, d.KVHeads*d.HeadDim
			}
			if len(buf) < s*w {
				return fmt.Errorf("decoder: %s: no buffer for %s of %d rows", st.sess.Path, p.Name, s)
			}
			v = vals.f32(buf[:s*w], 1, int64(s), int64(w))
		default:
			m := presentRE.FindStringSubmatch(p.Name)
			l := -1
			if m != nil {
				l, _ = strconv.Atoi(m[1])
			}
			if l < st.first || l > st.last {
				return fmt.Errorf("decoder: %s: unexpected output %q", st.sess.Path, p.Name)
			}
			v = caches[l].presentValue(vals, s, m[2] == "value")
		}
		outs = append(outs, v)
	}
	if vals.err != nil {
		return vals.err
	}
	if err := st.sess.Run(ins, outs); err != nil {
		return fmt.Errorf("decoder: %w", err)
	}
	for l := st.first; l <= st.last; l++ {
		caches[l].commit(s)
	}
	return nil
}

var presentRE = regexp.MustCompile(`^present\.(\d+)\.(key|value)$`)

// keysMatrix returns the cached keys as Len × (KVHeads·HeadDim) float32
// rows (heads concatenated), converting float16.
func (c *kvCache) keysMatrix() pruning.Matrix {
	n, hd, kvh := c.Len, c.headDim, c.heads
	raw := c.buf[c.cur][0]
	all := make([]float32, kvh*n*hd)
	if c.dtype == ort.TensorElementDataTypeFloat16 {
		ortx.HalfToFloat(all, raw[:2*len(all)])
	} else {
		ortx.BytesToFloats(all, raw[:4*len(all)])
	}
	out := make([]float32, n*kvh*hd)
	for h := 0; h < kvh; h++ {
		for r := 0; r < n; r++ {
			copy(out[(r*kvh+h)*hd:(r*kvh+h+1)*hd], all[(h*n+r)*hd:(h*n+r+1)*hd])
		}
	}
	return pruning.Matrix{Rows: n, Cols: kvh * hd, Data: out}
}
