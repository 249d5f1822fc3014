// Package pruning selects or merges visual tokens of a vision-language model.
//
// It is pure Go over float32 slices and knows nothing about ONNX Runtime. The
// runner calls it at two places:
//
//   - before the decoder, on the encoder's output (a PreDecoder), and
//   - inside the decoder at a layer boundary chosen at run time (an InDecoder),
//     from the hidden states and the attention row of the last prompt token.
//
// Every method declares the inputs it needs (Needs) so the runner can refuse
// clearly when a model does not provide them. Selections are returned as
// ascending, unique indices into the visual tokens the method was given,
// together with the position-id policy the method's reference code uses
// (merging methods that keep their official output order are the documented
// exception, see Result).
//
// Conventions shared by every method in this package:
//
//   - Ties are broken by the lowest index (torch.topk/argsort give no stable
//     order; torch.argmax returns the first maximum).
//   - Budgets that the reference code rounds with Python's round() use
//     math.RoundToEven (half-to-even); int() truncation is kept where the
//     reference code truncates (PyramidDrop).
//   - Scores are accumulated in float64; vectors with an L2 norm below 1e-12
//     are treated as zero vectors (cosine 0 with everything) instead of
//     producing NaN as the reference code would.
//   - No method panics on malformed input: shapes, index lists and non-finite
//     values are checked and reported as errors prefixed "pruning: " that
//     wrap one of the Err* values below. (Methods that only copy or average
//     feature rows — random, stride, pool, fastervlm, fopru — check their
//     shape but do not scan them for NaN.)
//   - A pre-decoder method asked to keep all N tokens returns them unchanged
//     (the adaptive budget, whose keep is only an upper bound, excepted,
//     and the content-adaptive temporal methods dtd, dycoke and prunevid,
//     whose keep caps their own rule: their keep-all settings are
//     documented in temporal.go).
//
// See ../shared/reference/pruning-methods.md for the sources of every rule.
package pruning

import (
	"errors"
	"fmt"
)

// Matrix is a dense row-major float32 matrix (Rows × Cols).
type Matrix struct {
	Rows, Cols int
	Data       []float32
}

// Row returns row i as a slice aliasing m.Data.
func (m Matrix) Row(i int) []float32 { return m.Data[i*m.Cols : (i+1)*m.Cols] }

// Need is a bit set of the inputs a method reads.
type Need uint32

// Inputs a method may need.
const (
	NeedFeatures    Need = 1 << iota // post-projector visual tokens X (N × D)
	NeedPreProj                      // pre-projector patch features Z (N × Dz)
	NeedCLSAttn                      // vision encoder's CLS attention row over patches (N)
	NeedKeys                         // vision encoder's last-layer key vectors (N × Dk)
	NeedText                         // text (prompt) token embeddings (T × D)
	NeedDecoderAttn                  // decoder attention row of the last prompt token
	NeedHidden                       // decoder hidden states at the boundary
	NeedDecoderKeys                  // decoder key vectors of the boundary layer (Boundary.Keys)
	NeedCLSToken                     // the encoder's CLS token itself (Visual.CLSFeatures)
	NeedPreRoPEQK                    // a decoder layer's query and key projections before RoPE (Boundary.Q, Boundary.K)
)

// String lists the needs by name.
func (n Need) String() string {
	names := []string{"features", "pre-projector features", "CLS attention", "encoder keys",
		"text embeddings", "decoder attention", "decoder hidden states", "decoder keys",
		"CLS token", "pre-RoPE decoder queries and keys"}
	s := ""
	for i, name := range names {
		if n&(1<<i) != 0 {
			if s != "" {
				s += ", "
			}
			s += name
		}
	}
	if s == "" {
		return "nothing"
	}
	return s
}

// PositionPolicy says how kept tokens are numbered after a drop.
type PositionPolicy int

const (
	// KeepOriginal: kept tokens keep the position ids they had in the unpruned
	// sequence (gaps allowed); later tokens continue after the unpruned length.
	KeepOriginal PositionPolicy = iota
	// Renumber: the shortened sequence gets contiguous position ids.
	Renumber
)

func (p PositionPolicy) String() string {
	if p == Renumber {
		return "renumber"
	}
	return "original"
}

// Visual is what the encoder provides for one image (or one tile): the N
// visual tokens and the optional extras. Optional fields are zero-valued
// when the model does not provide them.
type Visual struct {
	Features Matrix    // post-projector tokens X, N × D (always present)
	PreProj  Matrix    // pre-projector features Z, N × Dz
	CLSAttn  []float32 // CLS attention over the N patches
	Keys     Matrix    // encoder key vectors, N × Dk
	Text     Matrix    // prompt text embeddings, T × D
	GridH    int       // token grid height (GridH*GridW == N when known)
	GridW    int

	// CLSFeatures is the encoder's CLS token after the projector (length D)
	// and CLSPreProj the same token before it (length Dz). Only VisionZip
	// reads them: its dominant set includes the CLS token. Nil when the
	// model does not provide them.
	CLSFeatures []float32
	CLSPreProj  []float32

	// Frames is the number of images (video frames, in time order) whose
	// tokens Features holds, concatenated frame by frame with the same
	// number of tokens each (N = Frames × tokens per frame, raster order
	// inside a frame). 0 or 1: one image. Only the temporal methods
	// (dtd, dycoke, fastvid, prunevid, holitom) read it; a budget given to
	// any method counts the tokens of all frames together.
	Frames int
	// FramePixels, when the runner provides it, holds every frame's input
	// pixels (DTD's pixel mode reads it). Nil otherwise.
	FramePixels *FramePixels

	// Views is the number of encoder images the N tokens come from, N/Views
	// tokens each, in the encoder's order: for a split image the tiles row
	// by row and then the global image (SmolVLM's 4×4 + global: 17). 0 or 1:
	// one image. TileRows×TileCols is the tile grid when the runner knows
	// it (Views−1 tiles); 0 when unknown. Only GlobalCom² reads them.
	Views              int
	TileRows, TileCols int
}

// Has reports which inputs v provides.
func (v *Visual) Has() Need {
	var n Need
	if v.Features.Rows > 0 {
		n |= NeedFeatures
	}
	if v.PreProj.Rows > 0 {
		n |= NeedPreProj
	}
	if len(v.CLSAttn) > 0 {
		n |= NeedCLSAttn
	}
	if v.Keys.Rows > 0 {
		n |= NeedKeys
	}
	if v.Text.Rows > 0 {
		n |= NeedText
	}
	if len(v.CLSFeatures) > 0 {
		n |= NeedCLSToken
	}
	return n
}

// Result is the output of a PreDecoder: the tokens to splice into the prompt,
// in the order they are to be spliced.
//
// Source[i] is the index (into the input tokens) that output token i stands
// for. For a merging method it is the representative token whose position
// the merged token takes. Features holds the output tokens (len(Source) × D);
// for pure selection it is a gather of the input rows.
//
// Source is ascending and unique for every selection method and for pooling.
// Merging methods that keep their reference output order (VisionZip:
// dominant tokens then contextual tokens; ToMe/AIM merge: unmerged tokens in
// score order then destination tokens) return Source in that order unless
// their parameter order=spatial is given; Source stays unique, and these
// methods always declare Renumber, so the runner must splice Features in the
// returned order. Source[i] == -1 marks a token that is none of the N inputs:
// VisionZip's CLS token (only when Visual.CLSFeatures is provided).
type Result struct {
	Source    []int
	Features  Matrix
	Positions PositionPolicy

	// Sizes[i] is the number of input tokens output token i stands for (1 for
	// a kept token). Nil for pure selection.
	Sizes []int
	// Groups, when the method groups its outputs by time (prunevid),
	// places output token i in that grouping (len(Source) entries); nil
	// otherwise. An in-decoder stage that continues the method's rule
	// (prunevid-inner) takes it through GroupUser.
	Groups []TokenGroup
	// PreProj holds the output tokens in pre-projector space
	// (len(Source) × Dz) when a merging method was given Visual.PreProj: the
	// same merge applied to Z. A runner able to run the projector alone may
	// project these instead of using Features (VisionZip's reference path
	// merges before the projector). Empty otherwise.
	PreProj Matrix
}

// Ascending reports whether r.Source is strictly ascending (and so free of
// the -1 CLS marker).
func (r Result) Ascending() bool {
	for i, s := range r.Source {
		if s < 0 || (i > 0 && s <= r.Source[i-1]) {
			return false
		}
	}
	return true
}

// PreDecoder acts on the encoder output before the decoder.
type PreDecoder interface {
	Name() string
	Needs() Need
	// Apply returns the kept (or merged) tokens; keep is the number of output
	// tokens wanted (1 <= keep <= N). Methods that cannot hit the budget
	// exactly document their rule (Info.Count). keep == N returns every
	// token unchanged, except for the adaptive budget.
	Apply(v *Visual, keep int) (Result, error)
}

// Boundary is what an InDecoder sees at a layer boundary of the prefill.
//
// All sequence indices refer to the current (possibly already shortened)
// sequence of length L. Attn is the softmax attention (fp32, over all L keys,
// after RoPE, GQA mapped) of layer Layer for the last prompt token's query.
type Boundary struct {
	Layer     int    // the boundary is after this decoder layer (0-based)
	Hidden    Matrix // hidden states of the whole current sequence, L × D
	Attn      Matrix // attention probabilities of the last query, heads × L
	ImageIdx  []int  // sequence indices of the visual tokens still present, ascending
	LastToken int    // sequence index of the last prompt token

	// Optional inputs; zero when the runner does not provide them.

	// Keys are the post-RoPE key vectors of layer Layer, heads concatenated
	// (L × Dk). DART ranks its pivots by their L1 norm (NeedDecoderKeys).
	Keys Matrix
	// NormWeight is the decoder's final RMSNorm weight (length D). DART
	// measures cosine similarity on final-normed hidden states; without it
	// the weight is taken as all ones (the RMS scale itself cancels).
	NormWeight []float32
	// Queries and QueryAttn give the attention rows (heads × L each) of
	// further queries, as asked for by a RowRequester (SparseVLM's raters).
	Queries   []int
	QueryAttn []Matrix
	// Q and K are layer Layer's query and key projections before RoPE
	// (bias applied, not yet split into heads) for every row of the
	// current sequence: L × (Heads·HeadDim) and L × (KVHeads·HeadDim), a
	// head's HeadDim columns contiguous (NeedPreRoPEQK). Heads and KVHeads
	// give the split.
	Q, K           Matrix
	Heads, KVHeads int
}

// InDecoder drops visual tokens inside the decoder at run-time chosen layers.
type InDecoder interface {
	Name() string
	Needs() Need
	// Layers lists the boundaries (after layer l) where Select is called.
	Layers() []int
	// Select returns, for the boundary, which of b.ImageIdx to keep (indices
	// into b.ImageIdx, ascending; possibly empty — AIM drops every visual
	// token at its last layer). total is the original visual-token count
	// (the count the decoder started with). Selections are made once, at
	// the prefill; decode steps do not re-select.
	Select(b *Boundary, total int) ([]int, error)
	Positions() PositionPolicy
}

// Optional interfaces an InDecoder may implement. The runner checks for them
// with a type assertion; a runner that ignores them gets the documented
// fallback of each method.

// Budgeted is implemented by in-decoder methods whose token counts can be set
// from a --keep budget. WithBudget returns a configured copy; the budget's
// meaning per method is documented on the method (e.g. FastV: the count kept
// at its boundary; PyramidDrop: the count after the last stage).
type Budgeted interface {
	WithBudget(b Budget) (InDecoder, error)
}

// Scheduler is implemented by in-decoder methods whose visual-token count
// after each boundary of Layers() follows from the original count alone.
type Scheduler interface {
	Schedule(total int) ([]int, error)
}

// RowRequester is implemented by methods that read the attention rows of
// queries other than the last prompt token. Before Select the runner calls
// QueryRows (b has Hidden, Attn, ImageIdx and LastToken set), computes those
// rows as for Attn (§1.3 of the reference: one softmax row per query and
// head) and stores them in b.Queries / b.QueryAttn.
type RowRequester interface {
	QueryRows(b *Boundary) ([]int, error)
}

// Recycler is implemented by methods that, besides dropping tokens, add
// merged tokens (SparseVLM's recycling). SelectRecycle returns the kept
// indices (as Select) and the merged hidden-state rows (R × D) to insert
// right after the last kept visual token; from then on they count as visual
// tokens. Runners that do not call it get Select's result (no recycling).
type Recycler interface {
	SelectRecycle(b *Boundary, total int) (keep []int, merged Matrix, err error)
}

// Merger is implemented by methods that also rewrite the hidden states of
// the visual tokens they keep (HoliTom's inner-LLM merge folds every dropped
// token into its most similar kept one). SelectMerge returns the kept
// indices (as Select) and the kept tokens' new hidden-state rows
// (len(keep) × D, in keep's order), which replace those rows before the
// next layer (no rows: none rewritten). Runners that do not call it get
// Select's result (no merge).
type Merger interface {
	SelectMerge(b *Boundary, total int) (keep []int, rows Matrix, err error)
}

// DecodeSelector is implemented by methods that act at every decode step
// (DyCoke's dynamic KV selection): after layer DecodeLayer() of each decode
// step the runner passes the new token's attention row of that layer to
// the request's DecodeStepper, and the layers after it attend, for that
// step, only to the visual rows the stepper returns (plus every text row);
// nothing is removed from any cache. The method's prefill boundaries
// (Layers) must keep every visual token; NewDecoding is called once per
// request, so state never leaks between requests.
type DecodeSelector interface {
	DecodeLayer() int
	NewDecoding() DecodeStepper
}

// DecodeStepper is one request's decode-time selection state.
type DecodeStepper interface {
	// Step takes the new token's attention row (heads × T over the T rows
	// cached in the layer, the new token's own row last) and the cache rows
	// of the visual tokens (ascending), and returns the visual tokens the
	// later layers attend to this step (ascending indices into imageIdx),
	// or nil for all of them.
	Step(attn Matrix, imageIdx []int) ([]int, error)
}

// NextLayerAttention is implemented by methods whose reference code scores
// with the next layer's query/key projections (PyramidDrop): when it returns
// true, the faithful b.Attn is the attention row computed with layer
// Layer+1's input norm, Q/K projections and RoPE on b.Hidden. With layer
// Layer's own attention the method is an approximation.
type NextLayerAttention interface {
	AttnFromNextLayer() bool
}

// KeptCounter is implemented by methods whose kept count varies per image
// (the adaptive budgets): the number of calls and the mean kept count so far.
type KeptCounter interface {
	KeptStats() (calls int, mean float64)
}

// Errors returned (wrapped) by this package; test with errors.Is.
var (
	// ErrMissingInput: a method needs an input the model does not provide.
	ErrMissingInput = errors.New("missing input")
	// ErrBadInput: inputs of the wrong shape, non-finite values, bad indices.
	ErrBadInput = errors.New("invalid input")
	// ErrBudget: an invalid budget or keep count.
	ErrBudget = errors.New("invalid budget")
	// ErrUnknownMethod, ErrUnknownParam, ErrBadValue: Parse errors.
	ErrUnknownMethod = errors.New("unknown method")
	ErrUnknownParam  = errors.New("unknown parameter")
	ErrBadValue      = errors.New("bad value")
)

// Check returns an error naming the missing inputs when v lacks what m needs.
func Check(m interface {
	Name() string
	Needs() Need
}, has Need) error {
	if miss := m.Needs() &^ has; miss != 0 {
		return fmt.Errorf("pruning: method %s needs %s, which the model does not provide: %w",
			m.Name(), miss, ErrMissingInput)
	}
	return nil
}

// Identity keeps every token. It is the hook's default.
type Identity struct{}

// Name implements PreDecoder.
func (Identity) Name() string { return "none" }

// Needs implements PreDecoder.
func (Identity) Needs() Need { return NeedFeatures }

// Apply implements PreDecoder; keep is ignored.
func (Identity) Apply(v *Visual, keep int) (Result, error) {
	if v == nil {
		return Result{}, fmt.Errorf("pruning: none: nil visual input: %w", ErrBadInput)
	}
	src := make([]int, v.Features.Rows)
	for i := range src {
		src[i] = i
	}
	return Result{Source: src, Features: v.Features, Positions: KeepOriginal}, nil
}

// Gather returns the rows idx of m as a new matrix. It panics if an index is
// out of range; the methods of this package validate indices first.
func Gather(m Matrix, idx []int) Matrix {
	out := Matrix{Rows: len(idx), Cols: m.Cols, Data: make([]float32, len(idx)*m.Cols)}
	for i, j := range idx {
		copy(out.Data[i*m.Cols:(i+1)*m.Cols], m.Row(j))
	}
	return out
}
