package decoder

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/pruning"
)

// PruneVid's in-LLM stage in the runner against a hand-driven reference
// written here from ../shared/reference/pruning-methods-2.md §4.2 (and
// Visual-AI/PruneVid's llama.py / elastic_cache.py):
//
//   - the stage graph's pre-RoPE queries and keys are the layer's own:
//     RoPE applied to them (theta from config.json, rotate-half) gives the
//     keys the layer cached and the last token's attention row the stage
//     computed;
//   - the tokens kept are the top int(n·α) per window's static set and per
//     frame's dynamic set by max over heads and rows (every row after the
//     last visual token) of softmax(q·kᵀ/√d) over all keys, recomputed here;
//   - the generated ids equal a full-sequence run in which the dropped rows
//     are masked in layers after the boundary at the prefill and in every
//     layer at every decode step (the KV of layers 0..L gathered), at the
//     original positions;
//   - alpha = 1 reproduces the unpruned ids.

// pvCapture forwards prunevid-inner, asking the runner for the cached
// keys and the attention row too, and keeps a copy of the boundary.
type pvCapture struct {
	pruning.InDecoder
	b    *pruning.Boundary
	kept []int
}

func (c *pvCapture) Needs() pruning.Need {
	return c.InDecoder.Needs() | pruning.NeedDecoderKeys | pruning.NeedDecoderAttn
}

func (c *pvCapture) GathersEarlierKV() bool {
	return c.InDecoder.(pruning.KVGatherer).GathersEarlierKV()
}

func (c *pvCapture) Select(b *pruning.Boundary, total int) ([]int, error) {
	cp := *b
	cp.Q.Data, cp.K.Data = slices.Clone(b.Q.Data), slices.Clone(b.K.Data)
	cp.Keys.Data, cp.Attn.Data = slices.Clone(b.Keys.Data), slices.Clone(b.Attn.Data)
	cp.ImageIdx = slices.Clone(b.ImageIdx)
	c.b = &cp
	kept, err := c.InDecoder.Select(b, total)
	c.kept = slices.Clone(kept)
	return kept, err
}

// ropeTheta reads the decoder's rope_theta from a folder's config.json.
func ropeTheta(t *testing.T, dir string) float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		RopeTheta float64 `json:"rope_theta"`
		Text      struct {
			RopeTheta float64 `json:"rope_theta"`
		} `json:"text_config"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.Text.RopeTheta > 0 {
		return c.Text.RopeTheta
	}
	if c.RopeTheta == 0 {
		t.Fatalf("%s: no rope_theta", dir)
	}
	return c.RopeTheta
}

// rope rotates one head's vector x (size d) to position p: x·cos +
// rotate_half(x)·sin, rotate_half(x) = (−x[d/2:], x[:d/2]), with
// frequencies theta^(−2i/d) for i < d/2, repeated for both halves.
func rope(x []float32, p int64, theta float64) []float64 {
	d := len(x)
	out := make([]float64, d)
	for i := range d {
		f := math.Pow(theta, -float64(2*(i%(d/2)))/float64(d)) * float64(p)
		rot := -float64(x[(i+d/2)%d])
		if i >= d/2 {
			rot = float64(x[i-d/2])
		}
		out[i] = float64(x[i])*math.Cos(f) + rot*math.Sin(f)
	}
	return out
}

// pvGroups splits n visual tokens into two windows: window 0 with s0
// static tokens and frames 0 and 1 of f0 dynamic tokens each, window 1
// (frames 2..) with no static tokens and frames of f1 tokens, the last
// frame taking the rest.
func pvGroups(n, s0, f0, f1 int) []pruning.TokenGroup {
	var g []pruning.TokenGroup
	for range s0 {
		g = append(g, pruning.TokenGroup{Window: 0, Frame: 0, Static: true})
	}
	for f := range 2 {
		for range f0 {
			g = append(g, pruning.TokenGroup{Window: 0, Frame: f})
		}
	}
	for f := 2; len(g) < n; f++ {
		for k := 0; k < f1 && len(g) < n; k++ {
			g = append(g, pruning.TokenGroup{Window: 1, Frame: f})
		}
	}
	return g
}

// pvReferenceKeep recomputes the selection from the boundary's queries and
// keys: max over heads h and rows r > last visual token of
// exp(l_rj)/Σ_j' exp(l_rj'), l = q_r,h·k_j,h/(H/KV) / √d over all j; then the
// top int(n·α) per (window, static) and (window, frame) group.
func pvReferenceKeep(b *pruning.Boundary, groups []pruning.TokenGroup, alpha float64) []int {
	H, KV := b.Heads, b.KVHeads
	d := b.Q.Cols / H
	L := b.Q.Rows
	n := len(b.ImageIdx)
	score := make([]float64, n)
	for h := range H {
		kh := h / (H / KV)
		for r := b.ImageIdx[n-1] + 1; r < L; r++ {
			l := make([]float64, L)
			for j := range L {
				for t := range d {
					l[j] += float64(b.Q.Data[r*b.Q.Cols+h*d+t]) * float64(b.K.Data[j*b.K.Cols+kh*d+t])
				}
				l[j] /= math.Sqrt(float64(d))
			}
			mx := slices.Max(l)
			sum := 0.0
			for _, v := range l {
				sum += math.Exp(v - mx)
			}
			for c, j := range b.ImageIdx {
				score[c] = math.Max(score[c], math.Exp(l[j]-mx)/sum)
			}
		}
	}
	type key struct {
		w, f int
		st   bool
	}
	byKey := map[key][]int{}
	for i, g := range groups {
		k := key{g.Window, g.Frame, g.Static}
		if g.Static {
			k.f = 0
		}
		byKey[k] = append(byKey[k], i)
	}
	var keep []int
	for _, idx := range byKey {
		s := make([]float64, len(idx))
		for j, i := range idx {
			s[j] = score[i]
		}
		for _, j := range refTopK(s, int(float64(len(idx))*alpha)) {
			keep = append(keep, idx[j])
		}
	}
	slices.Sort(keep)
	return keep
}

// gatheredReference generates n greedy ids of the full sequence with the
// rows in dropped masked out in layers after boundary at the prefill and
// in every layer at each decode step (positions L, L+1, … for new tokens).
func gatheredReference(t *testing.T, lm *LM, x []float32, L, boundary int, dropped []int, n int) ([]int, []float32) {
	t.Helper()
	d := lm.d
	var cuts []int
	for c := 0; c < d.Layers-1; c++ {
		cuts = append(cuts, c)
	}
	set, _, err := lm.split.set(cuts)
	if err != nil {
		t.Fatal(err)
	}
	g := &gen{m: lm}
	caches := lm.newCaches(L + n)
	pos := make([]int64, L)
	for i := range pos {
		pos[i] = int64(i)
	}
	h := slices.Clone(x)
	var ids []int
	var first []float32
	for step := 0; len(ids) < n; step++ {
		s := len(pos)
		out := make([]float32, s*d.Hidden)
		logits := make([]float32, d.Vocab)
		for si, st := range set.stages {
			T := caches[st.first].Len + s
			var attn []float32
			if st.hasAttn {
				attn = make([]float32, d.Heads*T)
			}
			target := out
			if si == len(set.stages)-1 {
				target = logits
			}
			var m []int64
			if step > 0 || st.first > boundary {
				m = slices.Clone(g.mask(T))
				for _, r := range dropped {
					m[r] = 0
				}
			}
			if err := g.runStage(st, caches, h, posIDs{dims: 1, p: pos}, []int64{int64(s - 1)}, m, target, attn); err != nil {
				t.Fatal(err)
			}
			h, out = out, h
		}
		if first == nil {
			first = slices.Clone(logits)
		}
		id := argmax(logits)
		ids = append(ids, id)
		e, err := lm.Embed([]int{id})
		if err != nil {
			t.Fatal(err)
		}
		h = slices.Clone(e)
		pos = []int64{int64(L + step)}
	}
	return ids, first
}

func TestPruneVidInnerEqualsReference(t *testing.T) {
	for _, dir := range twins {
		lm := openLMAt(t, dir, "")
		d := lm.d
		theta := ropeTheta(t, dir)
		const L, nImg, nNew = 50, 37, 6
		x, pos, imageIdx := randomPrompt(t, lm, 11, L, 3, nImg)
		in := Input{Embeds: x, Positions: pos, NextPos: L, ImageIdx: imageIdx, TotalVisual: nImg}
		groups := pvGroups(nImg, 9, 6, 5)
		for _, c := range []struct {
			layer int
			alpha float64
		}{{1, 0.4}, {0, 0.5}, {2, 0.3}} {
			m, err := pruning.PruneVidInner{Layer: c.layer, Alpha: c.alpha}.WithGroups(groups)
			if err != nil {
				t.Fatal(err)
			}
			cp := &pvCapture{InDecoder: m}
			out, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: nNew, Prune: cp}, nil)
			if err != nil {
				t.Fatal(err)
			}
			b := cp.b
			if b == nil || b.Q.Rows != L || b.K.Rows != L || b.Heads != d.Heads || b.KVHeads != d.KVHeads {
				t.Fatalf("%s %+v: boundary without queries and keys of the whole prompt", dir, c)
			}
			// The pre-RoPE keys, rotated, are the keys the layer cached.
			hd := d.HeadDim
			kDiff := 0.0
			for r := range L {
				for kh := range d.KVHeads {
					got := rope(b.K.Data[r*b.K.Cols+kh*hd:r*b.K.Cols+(kh+1)*hd], pos[r], theta)
					for i, v := range got {
						kDiff = math.Max(kDiff, math.Abs(v-float64(b.Keys.Data[r*b.Keys.Cols+kh*hd+i])))
					}
				}
			}
			// The rotated queries give the layer's causal attention row of
			// the last token.
			aDiff := 0.0
			last := L - 1
			for h := range d.Heads {
				kh := h / (d.Heads / d.KVHeads)
				q := rope(b.Q.Data[last*b.Q.Cols+h*hd:last*b.Q.Cols+(h+1)*hd], pos[last], theta)
				l := make([]float64, L)
				for j := range L {
					for i := range hd {
						l[j] += q[i] * float64(b.Keys.Data[j*b.Keys.Cols+kh*hd+i])
					}
					l[j] /= math.Sqrt(float64(hd))
				}
				mx, sum := slices.Max(l), 0.0
				for _, v := range l {
					sum += math.Exp(v - mx)
				}
				for j := range L {
					aDiff = math.Max(aDiff, math.Abs(math.Exp(l[j]-mx)/sum-float64(b.Attn.Data[h*L+j])))
				}
			}
			if kDiff > 1e-4 || aDiff > 1e-5 {
				t.Errorf("%s %+v: RoPE of the exposed projections differs from the layer's keys by %.3g, attention by %.3g", dir, c, kDiff, aDiff)
			}
			keep := pvReferenceKeep(b, groups, c.alpha)
			if !slices.Equal(cp.kept, keep) {
				t.Errorf("%s %+v: kept %v, recomputed %v", dir, c, cp.kept, keep)
			}
			var dropped []int
			for j, r := range imageIdx {
				if !slices.Contains(keep, j) {
					dropped = append(dropped, r)
				}
			}
			wantRows := L - len(dropped)
			for l, rows := range out.LayerRows {
				if rows != wantRows {
					t.Errorf("%s %+v: layer %d cached %d rows after the prefill, want %d (all layers gathered)", dir, c, l, rows, wantRows)
				}
			}
			ids, first := gatheredReference(t, lm, x, L, c.layer, dropped, nNew)
			maxDiff := 0.0
			for i := range first {
				maxDiff = math.Max(maxDiff, math.Abs(float64(first[i]-out.FirstLogits[i])))
			}
			if maxDiff > 1e-4 || !slices.Equal(ids, out.IDs) {
				t.Errorf("%s %+v: ids %v, reference %v (first logits differ by %.3g)", dir, c, out.IDs, ids, maxDiff)
			}
			t.Logf("%s layer=%d alpha=%g: %d of %d visual rows kept, rope check %.2g/%.2g, ids %v, max |logit diff| %.2g",
				dir, c.layer, c.alpha, len(keep), nImg, kDiff, aDiff, out.IDs, maxDiff)
		}
		base, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: 8, Form: FormLayers}, nil)
		if err != nil {
			t.Fatal(err)
		}
		all, err := pruning.PruneVidInner{Layer: 1, Alpha: 1}.WithGroups(groups)
		if err != nil {
			t.Fatal(err)
		}
		same, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: 8, Prune: all}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(same.IDs, base.IDs) {
			t.Errorf("%s: alpha=1 ids %v, unpruned %v", dir, same.IDs, base.IDs)
		}
	}
}

// The float16, 8-bit and 4-bit variants of the SmolVLM torch twin expose
// their projections too: prunevid-inner runs on each, keeps the tokens
// the rule gives for the variant's own projections and gathers every
// layer's KV.
func TestPruneVidInnerDTypes(t *testing.T) {
	const dir = "../models/smolvlm/testdata/smolvlm-twin-torch"
	for _, dt := range []string{"fp16", "q8", "q4"} {
		lm := openLMAt(t, dir, "fp32,decoder_model_merged="+dt)
		const L, nImg = 40, 30
		x, pos, imageIdx := randomPrompt(t, lm, 5, L, 2, nImg)
		in := Input{Embeds: x, Positions: pos, NextPos: L, ImageIdx: imageIdx, TotalVisual: nImg}
		groups := pvGroups(nImg, 6, 5, 4)
		m, err := pruning.PruneVidInner{Layer: 1, Alpha: 0.4}.WithGroups(groups)
		if err != nil {
			t.Fatal(err)
		}
		cp := &pvCapture{InDecoder: m}
		out, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: 3, Prune: cp}, nil)
		if err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		keep := pvReferenceKeep(cp.b, groups, 0.4)
		if !slices.Equal(cp.kept, keep) {
			t.Errorf("%s: kept %v, recomputed %v", dt, cp.kept, keep)
		}
		for l, rows := range out.LayerRows {
			if rows != L-nImg+len(keep) {
				t.Errorf("%s: layer %d cached %d rows, want %d", dt, l, rows, L-nImg+len(keep))
			}
		}
		t.Logf("%s: %d of %d visual rows kept, ids %v", dt, len(keep), nImg, out.IDs)
	}
}
