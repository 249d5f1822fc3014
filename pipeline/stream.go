package pipeline

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vlmrun/vlmrun/decoder"
	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pruning"
)

// VideoStream answers questions about a video whose frames arrive one at a
// time (TimeChat-Online's setting; vlmrun caption --stream-video). The
// prompt is the family's streamed layout (models.StreamPrompt): its
// prefix, then one block per frame, then the question. The decoder's KV
// cache of the prefix and of every frame block is kept (decoder.Stream):
// a new frame is encoded alone and only its block is prefilled, its
// positions continuing the stream's. With DTD (Request.Pre "dtd", no
// budget) the frame's tokens that are redundant with the same positions
// of the previous frame are dropped before they are prefilled — DTD
// decides every frame against the previous raw frame only, so the
// selection is the one a one-shot run over the same frames makes. Answer
// prefills the question after the frames seen so far, generates, and
// drops the question's and the answer's rows again.
//
// A one-shot run over the same frames (CaptionStreamFrames) gives the same
// ids; what may differ is float rounding, since the cached rows were
// computed in chunks. Memory is bounded by the frame limit given to
// OpenVideoStream (the KV cache holds at most the prefix, that many
// frames, the question and the answer).
type VideoStream struct {
	p      *Pipeline
	sp     *models.StreamPrompt
	req    Request
	dec    *decoder.Stream
	vision *encoder.Vision
	// prev is the previous frame's raw tokens and pixels (DTD's reference).
	prev       *pruning.Visual
	prevPixels []float32
	maxFrames  int
	// ids are the prompt ids prefilled so far (dropped visual tokens not
	// included); next is the next position id, orig the next prompt index
	// counting dropped tokens (for a method that keeps original positions).
	ids        []int
	next, orig int64
	frames     []StreamFrame
	visual     int // visual tokens before pruning, all frames
	kept       int
}

// StreamFrame describes one frame the stream took.
type StreamFrame struct {
	TimeS     float64 `json:"time_s"`
	Visual    int     `json:"visual_tokens"` // before pruning
	Kept      int     `json:"visual_tokens_kept"`
	EncodeMs  float64 `json:"encode_ms"` // decode, preprocess and vision graph
	PruneMs   float64 `json:"prune_ms"`
	PrefillMs float64 `json:"prefill_ms"` // this frame's block only
	Rows      int     `json:"kv_rows"`    // cached rows after it
}

// ErrNoStream is returned (wrapped) for a model or request that cannot be
// streamed.
var ErrNoStream = fmt.Errorf("the model or request cannot stream video")

// CheckStream reports whether req can run as a VideoStream on this model.
func (p *Pipeline) CheckStream(req Request) error {
	switch {
	case p.Spec.StreamPrompt == nil:
		return fmt.Errorf("pipeline: %s (model_type %s) has no streamed video prompt: %w", p.Spec.Dir, p.Spec.Family, ErrNoStream)
	case p.lm == nil || p.Spec.Positions != nil:
		return fmt.Errorf("pipeline: %s: streaming needs a decoder-only model with plain positions: %w", p.Spec.Dir, ErrNoStream)
	case req.In != nil:
		return fmt.Errorf("pipeline: %s runs inside the decoder; a stream prefills frame by frame with the merged decoder: %w", req.In.Name(), ErrNoStream)
	case req.Pre != nil && req.Pre.Name() != "dtd":
		return fmt.Errorf("pipeline: %s needs every frame before it selects; a stream takes dtd (each frame against the previous one) or none: %w", req.Pre.Name(), ErrNoStream)
	case req.Pre != nil && req.Keep != nil && !keepsAll(req.Keep):
		return fmt.Errorf("pipeline: a --keep budget covers every frame, which a stream does not have yet (dtd alone is per frame): %w", ErrNoStream)
	case req.Recompute || (req.Form != "" && req.Form != decoder.FormAuto && req.Form != decoder.FormMerged):
		return fmt.Errorf("pipeline: a stream runs the merged decoder with its cache: %w", ErrNoStream)
	}
	return nil
}

// OpenVideoStream starts a stream that takes at most maxFrames frames and
// answers with up to req.MaxNewTokens tokens.
func (p *Pipeline) OpenVideoStream(req Request, maxFrames int) (*VideoStream, error) {
	if err := p.CheckStream(req); err != nil {
		return nil, err
	}
	if maxFrames < 1 {
		return nil, fmt.Errorf("pipeline: a stream of at most %d frames", maxFrames)
	}
	req.Image = models.ImageOptions{NoSplit: true, VideoFrame: true}
	if req.MaxNewTokens <= 0 {
		req.MaxNewTokens = p.Spec.MaxNewTokens
	}
	if req.MaxNewTokens <= 0 {
		req.MaxNewTokens = 64
	}
	sp := p.Spec.StreamPrompt
	block, err := sp.Frame(0, p.Spec.TokensPerImage)
	if err != nil {
		return nil, err
	}
	suffix, err := sp.Suffix(req.Prompt)
	if err != nil {
		return nil, err
	}
	// the longest a frame's block gets: its ids, and a timestamp past 99:59
	rows := len(sp.Prefix) + maxFrames*(len(block)+4) + len(suffix) + 8 + req.MaxNewTokens
	dec, err := p.lm.NewStream(rows)
	if err != nil {
		return nil, err
	}
	vv, _, err := p.visionFor(req)
	if err != nil {
		return nil, err
	}
	s := &VideoStream{p: p, sp: sp, req: req, dec: dec, vision: vv, maxFrames: maxFrames}
	emb, err := p.embed(sp.Prefix)
	if err != nil {
		return nil, err
	}
	if _, err := s.append(context.Background(), sp.Prefix, emb, nil, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// Frames lists the frames taken so far.
func (s *VideoStream) Frames() []StreamFrame { return s.frames }

// KVBytes is the cache's size now.
func (s *VideoStream) KVBytes() int64 { return s.dec.Bytes() }

// append prefills ids (embeddings emb) after the stream; the rows whose
// index is in drop are left out (their positions skipped when the method
// keeps original positions), and rows in feats get those features instead
// of emb's.
func (s *VideoStream) append(ctx context.Context, ids []int, emb []float32, drop map[int]bool, feats map[int][]float32) (int, error) {
	h := s.p.Spec.Text.Hidden
	var x []float32
	var pos []int64
	var kept []int
	next := s.next
	for i, id := range ids {
		if drop[i] {
			continue
		}
		if f, ok := feats[i]; ok {
			x = append(x, f...)
		} else {
			x = append(x, emb[i*h:(i+1)*h]...)
		}
		pos = append(pos, next)
		next++
		kept = append(kept, id)
	}
	if len(pos) > 0 {
		if _, err := s.dec.Append(ctx, x, pos); err != nil {
			return 0, err // the positions stay unspent: the stream is as it was
		}
	}
	s.next, s.orig = next, s.orig+int64(len(ids))
	s.ids = append(s.ids, kept...)
	return len(kept), nil
}

// AddFrame encodes one frame at t seconds, drops its redundant tokens
// (DTD) and prefills its block.
func (s *VideoStream) AddFrame(ctx context.Context, f Frame, t float64) (StreamFrame, error) {
	st := StreamFrame{TimeS: t}
	if len(s.frames) >= s.maxFrames {
		return st, fmt.Errorf("pipeline: the stream already holds its limit of %d frames", s.maxFrames)
	}
	if n := len(s.frames); n > 0 && t < s.frames[n-1].TimeS {
		return st, fmt.Errorf("pipeline: frame at %.3f s comes after one at %.3f s", t, s.frames[n-1].TimeS)
	}
	p := s.p
	start := time.Now()
	img, _, err := encoder.DecodeImage(f.Name, f.R, p.opt.Limits)
	if err != nil {
		return st, err
	}
	px, err := p.preprocess(img, s.req.Image)
	if err != nil {
		return st, fmt.Errorf("encoder: preprocess %s: %w", f.Name, err)
	}
	if px.Images != 1 {
		return st, fmt.Errorf("pipeline: frame %s became %d vision inputs, want 1", f.Name, px.Images)
	}
	cur, err := s.vision.Encode(px.Data)
	if err != nil {
		return st, fmt.Errorf("%w (frame %s)", err, f.Name)
	}
	n := cur.Features.Rows
	st.Visual = n
	st.EncodeMs = msSince(start)
	start = time.Now()
	keptRows, err := s.selectFrame(cur, px.Data)
	if err != nil {
		return st, err
	}
	st.Kept = len(keptRows)
	st.PruneMs = msSince(start)
	start = time.Now()
	ids, err := s.sp.Frame(t, n)
	if err != nil {
		return st, err
	}
	emb, err := p.embed(ids)
	if err != nil {
		return st, err
	}
	// the k-th image token of the block is visual token k
	drop, feats := map[int]bool{}, map[int][]float32{}
	keep := make(map[int]bool, len(keptRows))
	for _, r := range keptRows {
		keep[r] = true
	}
	k := 0
	for i, id := range ids {
		if id != p.Spec.ImageTokenID {
			continue
		}
		if keep[k] {
			feats[i] = cur.Features.Row(k)
		} else {
			drop[i] = true
		}
		k++
	}
	if k != n {
		return st, fmt.Errorf("pipeline: a frame block has %d image tokens for %d visual tokens", k, n)
	}
	if _, err := s.append(ctx, ids, emb, drop, feats); err != nil {
		return st, err
	}
	st.PrefillMs = msSince(start)
	st.Rows = s.dec.Len()
	s.prev, s.prevPixels = cur, px.Data
	s.visual += n
	s.kept += len(keptRows)
	s.frames = append(s.frames, st)
	return st, nil
}

// selectFrame returns the rows of cur that the method keeps, ascending:
// all of them for the first frame or without a method; DTD's choice for
// the second frame of the pair (previous, cur) otherwise.
func (s *VideoStream) selectFrame(cur *pruning.Visual, pixels []float32) ([]int, error) {
	n := cur.Features.Rows
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	if s.req.Pre == nil || s.prev == nil {
		return all, nil
	}
	if s.prev.Features.Rows != n || s.prev.Features.Cols != cur.Features.Cols {
		return nil, fmt.Errorf("pipeline: frame of %d×%d tokens after one of %d×%d", n, cur.Features.Cols, s.prev.Features.Rows, s.prev.Features.Cols)
	}
	pair := &pruning.Visual{Features: pruning.Matrix{Rows: 2 * n, Cols: cur.Features.Cols,
		Data: slices.Concat(s.prev.Features.Data, cur.Features.Data)}, Frames: 2}
	pair.FramePixels = s.p.framePixels([][]float32{s.prevPixels, pixels})
	sel, err := s.req.Pre.Apply(pair, 2*n)
	if err != nil {
		return nil, err
	}
	var rows []int
	for _, src := range sel.Source {
		if src >= n {
			rows = append(rows, src-n)
		}
	}
	if !slices.IsSorted(rows) {
		return nil, fmt.Errorf("pipeline: %s returned the frame's tokens out of order", s.req.Pre.Name())
	}
	if sel.Positions == pruning.KeepOriginal {
		return nil, fmt.Errorf("pipeline: %s keeps original positions; a stream renumbers", s.req.Pre.Name())
	}
	return rows, nil
}

// Answer prefills the question (empty: the request's prompt; both empty:
// the family's default) after the frames so far, generates, and restores
// the stream to the frames.
func (s *VideoStream) Answer(ctx context.Context, question string, stream func(string) error) (*Result, error) {
	if len(s.frames) == 0 {
		return nil, fmt.Errorf("pipeline: no frame yet to answer about")
	}
	if question == "" {
		question = s.req.Prompt
	}
	p := s.p
	start := time.Now()
	suffix, err := s.sp.Suffix(question)
	if err != nil {
		return nil, err
	}
	emb, err := p.embed(suffix)
	if err != nil {
		return nil, err
	}
	pos := make([]int64, len(suffix))
	for i := range pos {
		pos[i] = s.next + int64(i)
	}
	tok := p.Spec.Tokenizer
	ts := tok.NewStream(true)
	emit := func(id int) error {
		piece, err := ts.Add(id)
		if err != nil {
			return err
		}
		if stream != nil && piece != "" {
			return stream(piece)
		}
		return nil
	}
	opt := decoder.Options{MaxNewTokens: s.req.MaxNewTokens, EOS: p.Spec.EOS, Sampling: s.req.Sampling}
	out, err := s.dec.Generate(ctx, emb, pos, opt, emit)
	if err != nil {
		return nil, err
	}
	if tail := ts.Flush(); tail != "" && stream != nil {
		if err := stream(tail); err != nil {
			return nil, err
		}
	}
	res := &Result{PromptIDs: slices.Concat(s.ids, suffix), GeneratedIDs: out.IDs}
	res.Visual.Before, res.Visual.AfterPre = s.visual, s.kept
	if s.req.Pre != nil {
		res.Visual.PreMethod = s.req.Pre.Name()
	}
	res.Visual.LayerRows = out.LayerRows
	res.FinishReason = FinishLength
	if n := len(out.IDs); (n > 0 && slices.Contains(p.Spec.EOS, out.IDs[n-1])) || n < opt.MaxNewTokens {
		res.FinishReason = FinishStop
	}
	if res.Caption, err = tok.Decode(out.IDs, true); err != nil {
		return nil, err
	}
	res.Timings.Prefill = ms(out.Prefill)
	res.Timings.Decode = ms(out.Decode)
	res.Timings.GeneratedTokens = len(out.IDs)
	res.Timings.KVBytes = out.KVBytes
	res.Timings.DecoderForm = string(decoder.FormMerged)
	res.Timings.Total = msSince(start)
	return res, nil
}

// StreamPromptFor is the one-shot prompt of the streamed layout over
// frames at the given times, each of perFrame visual tokens: the ids a
// VideoStream prefills, unpruned, then the question's.
func (p *Pipeline) StreamPromptFor(question string, times []float64, perFrame int) (models.Prompt, error) {
	sp := p.Spec.StreamPrompt
	if sp == nil {
		return models.Prompt{}, fmt.Errorf("pipeline: %s has no streamed video prompt: %w", p.Spec.Dir, ErrNoStream)
	}
	ids := slices.Clone(sp.Prefix)
	for _, t := range times {
		b, err := sp.Frame(t, perFrame)
		if err != nil {
			return models.Prompt{}, err
		}
		ids = append(ids, b...)
	}
	suffix, err := sp.Suffix(question)
	if err != nil {
		return models.Prompt{}, err
	}
	ids = append(ids, suffix...)
	pr := models.Prompt{IDs: ids}
	for i, id := range ids {
		if id == p.Spec.ImageTokenID {
			pr.ImagePos = append(pr.ImagePos, i)
		}
	}
	return pr, nil
}

// CaptionStreamFrames is the one-shot run a VideoStream equals: every frame
// encoded as the stream encodes it, the request's method applied to all
// frames at once, the streamed layout's whole prompt prefilled in one call.
func (p *Pipeline) CaptionStreamFrames(ctx context.Context, frames []Frame, times []float64, req Request) (*Result, error) {
	if err := p.CheckStream(req); err != nil {
		return nil, err
	}
	if len(frames) == 0 || len(times) != len(frames) {
		return nil, fmt.Errorf("pipeline: %d frames with %d times", len(frames), len(times))
	}
	req.Form = decoder.FormMerged
	return p.captionFrames(ctx, frames, req, nil, func(n int) (models.Prompt, error) {
		return p.StreamPromptFor(req.Prompt, times, n/len(frames))
	})
}

// keepsAll reports whether b bounds nothing: no budget, or a ratio of 1
// (dtd's default: its own rule alone).
func keepsAll(b Budget) bool {
	z, ok := b.(pruning.Budget)
	return ok && (z.IsZero() || (z.IsRatio() && z.Ratio() >= 1))
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }
