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
// clearly when a model does not provide them. Selections are always returned
// as ascending, unique indices into the visual tokens the method was given,
// together with the position-id policy the method's reference code uses.
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
)

// String lists the needs by name.
func (n Need) String() string {
	names := []string{"features", "pre-projector features", "CLS attention", "encoder keys",
		"text embeddings", "decoder attention", "decoder hidden states"}
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
	return n
}

// Result is the output of a PreDecoder: the tokens to splice into the prompt.
//
// Source[i] is the index (into the input tokens) that output token i stands
// for; it is ascending. For a merging method it is the representative token
// whose position the merged token takes. Features holds the output tokens
// (len(Source) × D); for pure selection it is a gather of the input rows.
type Result struct {
	Source    []int
	Features  Matrix
	Positions PositionPolicy
}

// PreDecoder acts on the encoder output before the decoder.
type PreDecoder interface {
	Name() string
	Needs() Need
	// Apply returns the kept (or merged) tokens; keep is the number of output
	// tokens wanted (1 <= keep <= N). Methods that cannot hit the budget
	// exactly document their rule.
	Apply(v *Visual, keep int) (Result, error)
}

// Boundary is what an InDecoder sees at a layer boundary of the prefill.
type Boundary struct {
	Layer     int    // the boundary is after this decoder layer (0-based)
	Hidden    Matrix // hidden states of the whole current sequence, L × D
	Attn      Matrix // attention probabilities of the last query, heads × L
	ImageIdx  []int  // sequence indices of the visual tokens still present, ascending
	LastToken int    // sequence index of the last prompt token
}

// InDecoder drops visual tokens inside the decoder at run-time chosen layers.
type InDecoder interface {
	Name() string
	Needs() Need
	// Layers lists the boundaries (after layer l) where Select is called.
	Layers() []int
	// Select returns, for the boundary, which of b.ImageIdx to keep (indices
	// into b.ImageIdx, ascending). total is the original visual-token count.
	Select(b *Boundary, total int) ([]int, error)
	Positions() PositionPolicy
}

// ErrMissingInput is returned (wrapped) when a method needs an input the
// model does not provide.
var ErrMissingInput = errors.New("missing input")

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
	src := make([]int, v.Features.Rows)
	for i := range src {
		src[i] = i
	}
	return Result{Source: src, Features: v.Features, Positions: KeepOriginal}, nil
}

// Gather returns the rows idx of m as a new matrix.
func Gather(m Matrix, idx []int) Matrix {
	out := Matrix{Rows: len(idx), Cols: m.Cols, Data: make([]float32, len(idx)*m.Cols)}
	for i, j := range idx {
		copy(out.Data[i*m.Cols:(i+1)*m.Cols], m.Row(j))
	}
	return out
}
