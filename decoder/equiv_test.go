package decoder

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pruning"

	_ "github.com/vlmrun/vlmrun/models/scenes"
	_ "github.com/vlmrun/vlmrun/models/smolvlm"
)

func openLM(t *testing.T) *LM {
	t.Helper()
	return openLMAt(t, testenv.Model(t), "")
}

// openLMAt opens the decoder of the model folder dir with the given dtypes.
func openLMAt(t *testing.T, dir, dtype string) *LM {
	t.Helper()
	testenv.ORT(t)
	var o models.LoadOptions
	if dtype != "" {
		dt, err := models.ParseDTypes(dtype)
		if err != nil {
			t.Fatal(err)
		}
		o.DTypes = dt
	}
	spec, err := models.LoadWith(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	tx := spec.Text
	lm, err := Open(Files{Embed: spec.Files.Embed, Merged: spec.Files.Decoder}, Dims{Hidden: tx.Hidden, Layers: tx.Layers, Heads: tx.Heads,
		KVHeads: tx.KVHeads, HeadDim: tx.HeadDim, Vocab: tx.Vocab}, ortx.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lm.Destroy)
	return lm
}

// fixedDrop keeps a given subset of the visual tokens at one boundary.
type fixedDrop struct {
	layer  int
	keep   []int // indices into ImageIdx
	policy pruning.PositionPolicy
}

func (f fixedDrop) Name() string                      { return "fixed" }
func (f fixedDrop) Needs() pruning.Need               { return pruning.NeedDecoderAttn }
func (f fixedDrop) Layers() []int                     { return []int{f.layer} }
func (f fixedDrop) Positions() pruning.PositionPolicy { return f.policy }
func (f fixedDrop) Select(b *pruning.Boundary, total int) ([]int, error) {
	return f.keep, nil
}

// maskedReference runs the unpruned sequence through the staged form cut
// after every layer, with the dropped rows masked out of attention in the
// layers after the boundary only, and returns the last position's logits.
func maskedReference(t *testing.T, lm *LM, x []float32, pos []int64, boundary int, dropped []int) []float32 {
	return maskedReferenceAt(t, lm, x, pos, map[int][]int{boundary: dropped}, false)
}

// maskedReferenceAt masks, in every layer after boundary b, the rows
// dropped[b] (rows dropped at several boundaries accumulate). With
// renumber, layers after a boundary see the surviving rows at positions
// 0, 1, ... in order (the masked rows' positions do not matter).
func maskedReferenceAt(t *testing.T, lm *LM, x []float32, pos []int64, dropped map[int][]int, renumber bool) []float32 {
	t.Helper()
	d := lm.d
	s := len(pos)
	var cuts []int
	for l := 0; l < d.Layers-1; l++ {
		cuts = append(cuts, l)
	}
	set, _, err := lm.split.set(cuts)
	if err != nil {
		t.Fatal(err)
	}
	g := &gen{m: lm}
	caches := lm.newCaches(s)
	h := slices.Clone(x)
	out := make([]float32, len(x))
	logits := make([]float32, d.Vocab)
	rows := []int64{int64(s - 1)}
	for si, st := range set.stages {
		mask := slices.Clone(g.mask(s))
		cut := false
		for b, rows := range dropped {
			if st.first > b {
				cut = true
				for _, r := range rows {
					mask[r] = 0
				}
			}
		}
		stagePos := pos
		if renumber && cut {
			stagePos = make([]int64, s)
			n := int64(0)
			for r := range stagePos {
				if mask[r] != 0 {
					stagePos[r] = n
					n++
				}
			}
		}
		var attn []float32
		if st.hasAttn {
			attn = make([]float32, d.Heads*s)
		}
		target := out
		if si == len(set.stages)-1 {
			target = logits
		}
		if err := g.runStage(st, caches, h, posIDs{dims: 1, p: stagePos}, rows, mask, target, attn); err != nil {
			t.Fatal(err)
		}
		h, out = out, h
	}
	return logits
}

// Dropping tokens at a layer boundary (original positions) must give the
// same logits as masking those tokens out of attention in the later layers.
// This checks the per-layer KV, attention-mask and position handling.
func TestInDecoderDropEqualsMasking(t *testing.T) {
	lm := openLM(t)
	d := lm.d
	const L, nImg = 50, 40
	x, pos, imageIdx := randomPrompt(t, lm, 1, L, 1, nImg)
	for boundary := 0; boundary < d.Layers-1; boundary++ {
		keep := []int{0, 3, 4, 10, 17, 22, 23, 30, 39}
		var dropped []int
		for j, r := range imageIdx {
			if !slices.Contains(keep, j) {
				dropped = append(dropped, r)
			}
		}
		in := Input{Embeds: x, Positions: pos, NextPos: L, ImageIdx: imageIdx, TotalVisual: nImg}
		out, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: 1,
			Prune: fixedDrop{layer: boundary, keep: keep, policy: pruning.KeepOriginal}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantRows := []int{}
		for i := 0; i < d.Layers; i++ {
			if i <= boundary {
				wantRows = append(wantRows, L)
			} else {
				wantRows = append(wantRows, L-len(dropped))
			}
		}
		if !slices.Equal(out.LayerRows, wantRows) {
			t.Errorf("boundary %d: KV rows per layer %v, want %v", boundary, out.LayerRows, wantRows)
		}
		ref := maskedReference(t, lm, x, pos, boundary, dropped)
		maxDiff := 0.0
		for i := range ref {
			maxDiff = math.Max(maxDiff, math.Abs(float64(ref[i]-out.FirstLogits[i])))
		}
		if maxDiff > 1e-4 {
			t.Errorf("boundary %d: max |logit diff| %.3g > 1e-4", boundary, maxDiff)
		}
		t.Logf("boundary after layer %d: %d of %d visual rows kept, max |logit diff| %.2g", boundary, len(keep), nImg, maxDiff)
	}
}

// Keeping every token at a boundary must reproduce the unpruned run.
func TestInDecoderKeepAllIsIdentity(t *testing.T) {
	lm := openLM(t)
	ids := []int{1, 4, 4, 4, 4, 4, 4, 5, 6}
	x, err := lm.Embed(ids)
	if err != nil {
		t.Fatal(err)
	}
	pos := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8}
	in := Input{Embeds: x, Positions: pos, NextPos: 9, ImageIdx: []int{1, 2, 3, 4, 5, 6}, TotalVisual: 6}
	base, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: 8, Form: FormLayers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, pol := range []pruning.PositionPolicy{pruning.KeepOriginal, pruning.Renumber} {
		out, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: 8,
			Prune: fixedDrop{layer: 1, keep: []int{0, 1, 2, 3, 4, 5}, policy: pol}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.IDs, base.IDs) {
			t.Errorf("policy %s: ids %v, want %v", pol, out.IDs, base.IDs)
		}
	}
}

// recorder wraps an in-decoder method and records, per boundary, the
// sequence rows it dropped.
type recorder struct {
	pruning.InDecoder
	dropped map[int][]int
}

func (r *recorder) Select(b *pruning.Boundary, total int) ([]int, error) {
	keep, err := r.InDecoder.Select(b, total)
	if err != nil {
		return nil, err
	}
	// Rows are indices into the sequence at this boundary; map them back to
	// the original sequence through the rows kept so far.
	orig := r.alive(b.Hidden.Rows)
	for j, row := range b.ImageIdx {
		if !slices.Contains(keep, j) {
			r.dropped[b.Layer] = append(r.dropped[b.Layer], orig[row])
		}
	}
	return keep, nil
}

// alive maps the current sequence rows (n of them) to original rows.
func (r *recorder) alive(n int) []int {
	var gone []int
	for _, rows := range r.dropped {
		gone = append(gone, rows...)
	}
	var out []int
	for row := 0; len(out) < n; row++ {
		if !slices.Contains(gone, row) {
			out = append(out, row)
		}
	}
	return out
}

// FastV and PyramidDrop dropping rows inside the decoder of a torch-exported
// SmolVLM twin (fp32) must give the same logits as masking those rows in the
// later layers, at two cut points each.
func TestInDecoderMethodsEqualMaskingTorchTwin(t *testing.T) {
	lm := openLMAt(t, "../models/smolvlm/testdata/smolvlm-twin-torch", "")
	const L, nImg = 60, 48
	x, pos, imageIdx := randomPrompt(t, lm, 3, L, 2, nImg)
	for _, spec := range []string{"fastv:k=1,r=0.75", "fastv:k=3,r=0.5", "pdrop:layers=1/2,ratios=0.5/0.25", "pdrop:layers=2/3,ratios=0.75/0.3"} {
		m, err := pruning.Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{InDecoder: m.In, dropped: map[int][]int{}}
		in := Input{Embeds: x, Positions: pos, NextPos: L, ImageIdx: imageIdx, TotalVisual: nImg}
		out, err := lm.Generate(context.Background(), in, Options{MaxNewTokens: 1, Prune: rec}, nil)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		n := 0
		for _, r := range rec.dropped {
			n += len(r)
		}
		if n == 0 {
			t.Fatalf("%s dropped nothing", spec)
		}
		ref := maskedReferenceAt(t, lm, x, pos, rec.dropped, m.In.Positions() == pruning.Renumber)
		maxDiff := 0.0
		for i := range ref {
			maxDiff = math.Max(maxDiff, math.Abs(float64(ref[i]-out.FirstLogits[i])))
		}
		if maxDiff > 1e-4 {
			t.Errorf("%s: max |logit diff| %.3g > 1e-4", spec, maxDiff)
		}
		t.Logf("%s: KV rows %v, max |logit diff| vs masking %.2g", spec, out.LayerRows, maxDiff)
	}
}

// randomPrompt embeds L random token ids (seeded) with positions 0..L-1 and
// calls rows first..first+nImg-1 the visual tokens.
func randomPrompt(t *testing.T, lm *LM, seed uint64, L, first, nImg int) ([]float32, []int64, []int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	ids := make([]int, L)
	for i := range ids {
		ids[i] = 5 + rng.IntN(lm.d.Vocab-5)
	}
	x, err := lm.Embed(ids)
	if err != nil {
		t.Fatal(err)
	}
	pos := make([]int64, L)
	for i := range pos {
		pos[i] = int64(i)
	}
	var imageIdx []int
	for i := first; i < first+nImg; i++ {
		imageIdx = append(imageIdx, i)
	}
	return x, pos, imageIdx
}
