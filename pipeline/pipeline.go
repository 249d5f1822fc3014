// Package pipeline wires vlmrun's stages for one model folder:
//
//	image bytes → encoder (decode, orient, resize, normalize, vision graph)
//	→ pruning before the decoder → decoder (prompt, splice, prefill,
//	in-decoder pruning, generation with a KV cache) → text
//
// and fills a Timings record at every step. It knows nothing about any
// model family: the family's models.Spec says how each step is done.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	"github.com/vlmrun/vlmrun/decoder"
	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pruning"
	"github.com/vlmrun/vlmrun/tiles"
)

// Options configures how a model is opened.
type Options struct {
	ORT    ortx.Options
	Limits encoder.Limits
	// Resizer overrides the preprocessing resizer ("nfnt" or "pil"); "" keeps
	// the default.
	Resizer string
	// DTypes picks the ONNX file variants (see models.ParseDTypes).
	DTypes models.DTypes
	// CacheDir is where derived graphs are cached: decoder stage graphs for
	// in-decoder pruning, vision graphs instrumented for pre-decoder
	// methods' extras ("" derives them in memory when first needed).
	CacheDir string
	// Preload creates a decoder-only model's merged decoder session in Open,
	// concurrently with the vision session, instead of on first use. Leave
	// it off for processes that run only the staged decoder form (in-decoder
	// pruning): they never need the merged weights.
	Preload bool
	// TileSessions is the number of vision sessions (0 or 1: one) that
	// encode a split image's tiles at once; each gets ORT.Threads /
	// TileSessions intra-op threads (of all cores when ORT.Threads is 0)
	// and its own copy of the vision weights.
	TileSessions int
}

// Pipeline is an opened model. It owns its ORT sessions; call Close.
type Pipeline struct {
	Spec   *models.Spec
	vision *encoder.Vision
	lm     *decoder.LM      // decoder-only models
	s2s    *decoder.Seq2Seq // encoder-decoder models
	opt    Options
	// active counts running Caption calls and starts counts every call
	// ever started; together they tell a call whether another one shared
	// the sessions (and their ORT counters) while it ran.
	active, starts atomic.Int64
	// extras is the vision graph instrumented for pruning extras, opened
	// on first need (extras.go).
	extras extraVision
	// Opened says how long Open took, by part.
	Opened OpenTimings
}

// OpenTimings is the time Open took, by part, in milliseconds. A
// decoder-only model's merged decoder session opens on first use (or
// Preload): its time is the first request's Timings.SessionOpen, not here.
type OpenTimings struct {
	// Load reads config.json, the tokenizer and the processor settings and
	// picks the files (models.LoadWith).
	Load float64 `json:"model_load_ms"`
	// Vision opens the vision encoder's session.
	Vision float64 `json:"vision_session_ms"`
	// Decoder opens the embedding session and reads the decoder's inputs
	// (and, for encoder-decoder models, opens their sessions).
	Decoder float64 `json:"decoder_open_ms"`
	// Merged creates the merged decoder's session (Options.Preload only).
	Merged float64 `json:"merged_session_ms,omitempty"`
	// Total is Open's wall time: the vision session is created
	// concurrently with the decoder's, so it is less than the sum.
	Total float64 `json:"total_ms"`
}

// ErrStop, returned (possibly wrapped) by Caption's stream callback, ends
// generation early without an error: Caption returns the result so far,
// whose ids include the token whose text the callback refused.
var ErrStop = errors.New("pipeline: stop generation")

// ErrPromptTooLong is returned (wrapped) for a prompt over
// Request.MaxPromptTokens.
var ErrPromptTooLong = errors.New("pipeline: prompt too long")

// Close releases every ORT session.
func (p *Pipeline) Close() {
	p.vision.Destroy()
	p.extras.destroy()
	p.lm.Destroy()
	p.s2s.Destroy()
}

// embed embeds token ids with the model's embed_tokens graph.
func (p *Pipeline) embed(ids []int) ([]float32, error) {
	if p.s2s != nil {
		return p.s2s.Embed(ids)
	}
	return p.lm.Embed(ids)
}

// Preload opens the sessions a request would otherwise open on first use
// (a decoder-only model's merged decoder), so that a server's first request
// does not pay for it.
func (p *Pipeline) Preload() error {
	if p.lm != nil {
		return p.lm.Preload()
	}
	return nil
}

// hasLayers reports whether the staged decoder form (derived from the
// merged decoder) is available.
func (p *Pipeline) hasLayers() bool { return p.lm != nil && p.lm.HasLayers() }

// Budget turns a visual-token count into the number to keep.
type Budget interface {
	Count(n int) (int, error)
}

// Request is one captioning request.
type Request struct {
	Prompt       string // "" = the family's default task
	MaxNewTokens int    // 0 = the model's generation_config default
	// MaxPromptTokens, when positive, refuses a prompt (visual tokens
	// included, before pruning) longer than that with ErrPromptTooLong,
	// before anything is generated.
	MaxPromptTokens int
	Sampling        decoder.Sampling
	Form            decoder.Form
	// Pre runs before the decoder with Keep; In runs inside the decoder.
	Pre  pruning.PreDecoder
	Keep Budget
	In   pruning.InDecoder
	// Recompute disables the KV cache (a slow reference path for tests).
	Recompute bool
	// Image bounds the image's visual tokens or tiles (tiling families
	// choose the split or a downscale; others fail when over budget).
	Image models.ImageOptions
	// Tiles skips uninformative tiles of a split image before the encoder
	// (package tiles); the zero value skips nothing.
	Tiles tiles.Options
	// EncoderBatch is the most tiles per vision-encoder call (0: all).
	EncoderBatch int
}

// SchemaVersion is the version of vlmrun's JSON output objects (Result,
// VisualCount, Timings, encoder.ImageInfo) as caption --json, --jsonl
// lines and serve's "vlmrun" object carry them, in their "schema_version"
// key. It changes when a key is renamed or removed or its meaning changes
// (2: issue 20 made the image keys snake_case and added finish_reason).
const SchemaVersion = 2

// Finish reasons (Result.FinishReason).
const (
	FinishStop   = "stop"
	FinishLength = "length"
)

// Result is one caption with its record.
type Result struct {
	Caption string `json:"caption"`
	// FinishReason says why generation ended, as OpenAI's finish_reason:
	// "stop" (an EOS id, or the caller stopped it) or "length" (the
	// max-new-tokens limit: the caption may be cut).
	FinishReason string            `json:"finish_reason"`
	PromptIDs    []int             `json:"prompt_ids"`
	GeneratedIDs []int             `json:"generated_ids"`
	Visual       VisualCount       `json:"visual_tokens"`
	Image        encoder.ImageInfo `json:"image"`
	Timings      Timings           `json:"timings"`
}

// VisualCount is the number of visual tokens before and after pruning.
type VisualCount struct {
	Before    int    `json:"before"`
	AfterPre  int    `json:"after_pre_decoder"`
	LayerRows []int  `json:"kv_rows_per_layer"`
	PreMethod string `json:"pre_method,omitempty"`
	InMethod  string `json:"in_method,omitempty"`
}

// FitRequest fits the request's in-decoder method to this model's decoder
// depth (pruning.FitDepth: PyramidDrop's default stages are scaled, any
// other schedule past the last layer is refused with pruning.ErrDepth).
// Caption calls it; callers may call it first to refuse a request early.
func (p *Pipeline) FitRequest(req Request) (Request, error) {
	if req.In == nil || p.lm == nil {
		return req, nil
	}
	in, err := pruning.FitDepth(req.In, p.Spec.Text.Layers)
	if err != nil {
		return req, err
	}
	req.In = in
	return req, nil
}

// Caption runs the whole pipeline on one image read from r (name is used in
// errors). stream, if not nil, receives text as it is generated; if it
// returns ErrStop generation ends there, and any other error ends Caption
// with that error. Generation stops with ctx's error when ctx is done.
//
// Caption is safe for concurrent use. Timings.ORTMs is then exact only for
// calls that ran alone on this Pipeline (see Timings.ORTShared); a pool of
// Pipelines, one request at a time each, keeps it exact.
func (p *Pipeline) Caption(ctx context.Context, name string, r io.Reader, req Request,
	stream func(string) error) (*Result, error) {
	alone := p.active.Add(1) == 1
	start := p.starts.Add(1)
	defer p.active.Add(-1)
	rec := newRecorder(p.sessions)
	res := &Result{}
	// 0. an in-decoder method's layers must lie inside this decoder
	var err error
	if req, err = p.FitRequest(req); err != nil {
		return nil, err
	}
	// 1. decode and orient
	img, info, err := encoder.DecodeImage(name, r, p.opt.Limits)
	if err != nil {
		return nil, err
	}
	res.Image = info
	rec.mark(&rec.t.ImageDecode)
	// 2. resize and normalize (one image, or the family's tiles)
	px, err := p.preprocess(img, req.Image)
	if err != nil {
		return nil, fmt.Errorf("encoder: preprocess %s: %w", name, err)
	}
	rec.mark(&rec.t.Preprocess)
	// 2b. tile pruning, on the pixels, before any ORT call
	if px, err = p.pruneTiles(px, req.Tiles); err != nil {
		return nil, fmt.Errorf("%w (image %s)", err, name)
	}
	rec.t.TilesEncoded = px.Images
	for _, s := range px.Skip {
		if s {
			rec.t.TilesSkipped++
		}
	}
	rec.mark(&rec.t.TilePrune)
	// 3. vision graph
	vis, err := p.encodeFor(rec, px, req)
	if err != nil {
		return nil, fmt.Errorf("%w (image %s)", err, name)
	}
	rec.mark(&rec.t.Encode)
	n := vis.Features.Rows
	res.Visual.Before = n
	// prompt ids and their embeddings (counted as prefill)
	var prompt models.Prompt
	if p.Spec.BuildImagePrompt != nil {
		prompt, err = p.Spec.BuildImagePrompt(req.Prompt, px, n)
	} else {
		prompt, err = p.Spec.BuildPrompt(req.Prompt, n)
	}
	if err != nil {
		return nil, err
	}
	embeds, err := p.embed(prompt.IDs)
	if err != nil {
		return nil, err
	}
	if err := p.fixRows(embeds, prompt); err != nil {
		return nil, err
	}
	return p.generate(ctx, rec, res, px, vis, prompt, embeds, req, stream, alone, start)
}

// generate is the end of a request once its prompt is embedded (prompt
// preparation so far counts as prefill): pruning before the decoder,
// splicing, position ids, generation and the timing record.
func (p *Pipeline) generate(ctx context.Context, rec *recorder, res *Result, px models.Pixels, vis *pruning.Visual,
	prompt models.Prompt, embeds []float32, req Request, stream func(string) error, alone bool, start int64) (*Result, error) {
	n := vis.Features.Rows
	if m := req.MaxPromptTokens; m > 0 && len(prompt.IDs) > m {
		return nil, fmt.Errorf("%w: %d tokens (%d visual) over the limit of %d", ErrPromptTooLong, len(prompt.IDs), n, m)
	}
	prefillPrep := rec.since()
	// 4. pruning before the decoder
	sel, err := p.prune(vis, prompt, embeds, req)
	if err != nil {
		return nil, err
	}
	// (idempotent; CaptionFrames' path has not fitted it yet)
	if req, err = p.FitRequest(req); err != nil {
		return nil, err
	}
	if gu, ok := req.In.(pruning.GroupUser); ok {
		// The in-decoder stage continues the pre-decoder stage's grouping
		// (prunevid+prunevid-inner); sel's order is the spliced order.
		if req.In, err = gu.WithGroups(sel.Groups); err != nil {
			return nil, err
		}
	}
	res.Visual.AfterPre = len(sel.Source)
	if req.Pre != nil {
		res.Visual.PreMethod = req.Pre.Name()
	}
	if req.In != nil {
		res.Visual.InMethod = req.In.Name()
	}
	rec.mark(&rec.t.Prune)
	// 5. splice and generate
	in := splice(p.Spec.Text.Hidden, prompt, embeds, sel)
	in.TotalVisual = n
	if err := p.positions(&in, prompt, px, sel); err != nil {
		return nil, err
	}
	maxNew := req.MaxNewTokens
	if maxNew <= 0 {
		maxNew = p.Spec.MaxNewTokens
	}
	if maxNew <= 0 {
		maxNew = 64
	}
	tok := p.Spec.Tokenizer
	st := tok.NewStream(true)
	emit := func(id int) error {
		piece, err := st.Add(id)
		if err != nil {
			return err
		}
		if stream != nil && piece != "" {
			return stream(piece)
		}
		return nil
	}
	dopt := decoder.Options{MaxNewTokens: maxNew, EOS: p.Spec.EOS,
		Sampling: req.Sampling, Form: req.Form, Prune: req.In, Recompute: req.Recompute}
	var out *decoder.Output
	if ss := p.Spec.Seq2Seq; p.s2s != nil {
		out, err = p.s2s.Generate(ctx, in.Embeds, decoder.Seq2SeqOptions{Options: dopt, DecoderStart: ss.DecoderStart,
			Processors: decoder.Processors{NoRepeatNGram: ss.NoRepeatNGram, ForcedBOS: ss.ForcedBOS,
				ForcedEOS: ss.ForcedEOS}}, emit)
	} else {
		out, err = p.lm.Generate(ctx, in, dopt, emit)
	}
	stopped := err != nil && out != nil && errors.Is(err, ErrStop)
	if err != nil && !stopped {
		return nil, err
	}
	if tail := st.Flush(); tail != "" && stream != nil && !stopped {
		if err := stream(tail); err != nil {
			return nil, err
		}
	}
	rec.t.Prefill = ms(out.Prefill) + prefillPrep
	rec.t.Decode = ms(out.Decode)
	rec.t.GeneratedTokens = len(out.IDs)
	if len(out.IDs) > 1 && out.Decode > 0 {
		rec.t.DecodeTokensPerSec = float64(len(out.IDs)-1) / out.Decode.Seconds()
	}
	rec.t.KVBytes = out.KVBytes
	rec.t.DecoderForm = string(out.Form)
	rec.t.SplitBuild, rec.t.SessionOpen = ms(out.SplitBuild), ms(out.SessionOpen)
	res.Visual.LayerRows = out.LayerRows
	res.PromptIDs = prompt.IDs
	res.GeneratedIDs = out.IDs
	res.FinishReason = FinishLength
	if n := len(out.IDs); stopped || (n > 0 && slices.Contains(p.Spec.EOS, out.IDs[n-1])) || n < maxNew {
		res.FinishReason = FinishStop
	}
	if res.Caption, err = tok.Decode(out.IDs, true); err != nil {
		return nil, err
	}
	rec.finish(!alone || p.starts.Load() != start)
	res.Timings = rec.t
	return res, nil
}

func (p *Pipeline) sessions() []*ortx.Session {
	vis := append(p.vision.Sessions(), p.extraSessions()...)
	if p.s2s != nil {
		return append(vis, p.s2s.Sessions()...)
	}
	return append(vis, p.lm.Sessions()...)
}

// prune runs the pre-decoder method (or keeps everything) and checks the
// in-decoder method's needs.
func (p *Pipeline) prune(vis *pruning.Visual, prompt models.Prompt, embeds []float32,
	req Request) (pruning.Result, error) {
	n := vis.Features.Rows
	if req.In != nil {
		if err := pruning.Check(req.In, pruning.NeedFeatures|pruning.NeedDecoderAttn|pruning.NeedHidden|pruning.NeedDecoderKeys|pruning.NeedPreRoPEQK); err != nil {
			return pruning.Result{}, err
		}
		if !p.hasLayers() {
			return pruning.Result{}, fmt.Errorf("pipeline: %s prunes inside a decoder-only model's decoder; %s is an encoder-decoder model",
				req.In.Name(), p.Spec.Dir)
		}
	}
	if req.Pre == nil {
		return pruning.Identity{}.Apply(vis, n)
	}
	if pruning.Need(req.Pre.Needs())&pruning.NeedText != 0 {
		vis.Text = textRows(p.Spec.Text.Hidden, prompt, embeds)
	}
	if err := pruning.Check(req.Pre, vis.Has()); err != nil {
		return pruning.Result{}, err
	}
	keep := n
	if req.Keep != nil {
		k, err := req.Keep.Count(n)
		if err != nil {
			return pruning.Result{}, err
		}
		keep = k
	}
	res, err := req.Pre.Apply(vis, keep)
	if err != nil {
		return res, err
	}
	if res.Features.Rows != len(res.Source) || res.Features.Cols != vis.Features.Cols {
		return res, fmt.Errorf("pipeline: %s returned %d×%d features for %d tokens",
			req.Pre.Name(), res.Features.Rows, res.Features.Cols, len(res.Source))
	}
	seen := make(map[int]bool, len(res.Source))
	for i, s := range res.Source {
		bad := s < -1 || s >= n || seen[s]
		if res.Positions == pruning.KeepOriginal {
			bad = bad || s < 0 || (i > 0 && res.Source[i-1] >= s)
		}
		if bad {
			return res, fmt.Errorf("pipeline: %s returned invalid token indices", req.Pre.Name())
		}
		seen[s] = true
	}
	return res, nil
}

// encodeWith runs vision graph v on the preprocessed image: images or
// tiles (in calls of at most batch), or the flattened patches and grids of
// a family whose graph takes them (models.Pixels.Grids, Qwen2-VL).
func encodeWith(v *encoder.Vision, px models.Pixels, batch int) (*pruning.Visual, error) {
	if px.Grids == nil {
		return v.EncodeChunks(px.Data, px.Images, batch)
	}
	return v.EncodePatches(px.Data, px.PatchDim, px.Grids)
}

// positions gives in the family's position ids (models.Spec.Positions,
// e.g. Qwen2-VL's three M-RoPE rows) when it has its own: every kept token
// keeps the ids of the prompt slot it came from (a kept visual token those
// of its source token, whatever the method's position policy), and
// generation continues from the unpruned prompt's next position.
func (p *Pipeline) positions(in *decoder.Input, prompt models.Prompt, px models.Pixels, sel pruning.Result) error {
	if p.Spec.Positions == nil {
		return nil
	}
	full, dims, next, err := p.Spec.Positions(prompt, px)
	if err != nil {
		return err
	}
	L := len(prompt.IDs)
	if dims < 1 || len(full) != dims*L {
		return fmt.Errorf("pipeline: %s gave %d position ids in %d rows for %d tokens", p.Spec.Family, len(full), dims, L)
	}
	// origin[k]: the prompt index whose ids element k of the spliced
	// sequence keeps (splice's slot order).
	from := make(map[int]int, len(sel.Source))
	inOrder := sel.Positions == pruning.KeepOriginal || sel.Ascending()
	for row, src := range sel.Source {
		slot, orig := prompt.ImagePos[row], prompt.ImagePos[row]
		if inOrder {
			slot = prompt.ImagePos[src]
		}
		if src >= 0 {
			orig = prompt.ImagePos[src]
		}
		from[slot] = orig
	}
	isImg := make(map[int]bool, len(prompt.ImagePos))
	for _, j := range prompt.ImagePos {
		isImg[j] = true
	}
	origin := make([]int, 0, len(in.Positions))
	for i := 0; i < L; i++ {
		if !isImg[i] {
			origin = append(origin, i)
		} else if o, ok := from[i]; ok {
			origin = append(origin, o)
		}
	}
	if len(origin) != len(in.Positions) {
		return fmt.Errorf("pipeline: %d spliced tokens, %d position origins", len(in.Positions), len(origin))
	}
	pos := make([]int64, 0, dims*len(origin))
	for d := 0; d < dims; d++ {
		for _, o := range origin {
			pos = append(pos, full[d*L+o])
		}
	}
	in.Positions, in.PosDims, in.NextPos = pos, dims, next
	return nil
}

// textRows returns the embeddings of the prompt's non-visual tokens.
func textRows(hidden int, prompt models.Prompt, embeds []float32) pruning.Matrix {
	isImg := make(map[int]bool, len(prompt.ImagePos))
	for _, j := range prompt.ImagePos {
		isImg[j] = true
	}
	m := pruning.Matrix{Cols: hidden}
	for i := range prompt.IDs {
		if !isImg[i] {
			m.Data = append(m.Data, embeds[i*hidden:(i+1)*hidden]...)
			m.Rows++
		}
	}
	return m
}

// splice builds the decoder input: the prompt embeddings with the visual
// placeholders replaced by the selected visual tokens, and position ids
// following the method's policy.
//
// With original positions, each kept token takes its source placeholder's
// slot and position id, and dropped placeholders are removed (gaps in the
// ids). With renumbered positions and ascending sources the same slots are
// used; a result in another order (VisionZip's and ToMe's official order, or
// one holding the CLS token, source -1) fills the placeholder slots in result
// order. Either way renumbered ids are 0..L'-1.
func splice(hidden int, prompt models.Prompt, embeds []float32, sel pruning.Result) decoder.Input {
	L := len(prompt.IDs)
	rowAt := make(map[int]int, len(sel.Source)) // prompt index -> selected row
	if sel.Positions == pruning.KeepOriginal || sel.Ascending() {
		for row, src := range sel.Source {
			rowAt[prompt.ImagePos[src]] = row
		}
	} else {
		for row := range sel.Source {
			rowAt[prompt.ImagePos[row]] = row
		}
	}
	isImg := make(map[int]bool, len(prompt.ImagePos))
	for _, j := range prompt.ImagePos {
		isImg[j] = true
	}
	var in decoder.Input
	for i := 0; i < L; i++ {
		if isImg[i] {
			row, ok := rowAt[i]
			if !ok {
				continue
			}
			in.ImageIdx = append(in.ImageIdx, len(in.Positions))
			in.Embeds = append(in.Embeds, sel.Features.Row(row)...)
		} else {
			in.Embeds = append(in.Embeds, embeds[i*hidden:(i+1)*hidden]...)
		}
		in.Positions = append(in.Positions, int64(i))
	}
	in.NextPos = int64(L)
	if sel.Positions == pruning.Renumber {
		for i := range in.Positions {
			in.Positions[i] = int64(i)
		}
		in.NextPos = int64(len(in.Positions))
	}
	return in
}
