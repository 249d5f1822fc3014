// Package models maps a model folder to the description the rest of vlmrun
// runs: which ONNX files, how images are preprocessed, how the prompt is
// built and where visual tokens go. Each model family lives in its own
// package (models/scenes, ...) and registers itself by the config.json
// model_type it handles; nothing outside the family package special-cases it.
package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/pruning"
	"github.com/vlmrun/vlmrun/tokenizer"
)

// Family builds a Spec from a model folder whose config.json names one of
// the family's model types.
type Family interface {
	// Load reads the family-specific files of dir; config is config.json.
	Load(dir string, config []byte) (*Spec, error)
}

// LoadOptions are the user's choices when opening a model folder.
type LoadOptions struct {
	// DTypes picks the ONNX file variant (by file-name suffix) per file;
	// zero means the model's default (config.json transformers.js_config,
	// else fp32).
	DTypes DTypes
}

// OptionsFamily is a Family that honours LoadOptions. Families that only
// implement Family have one set of files and refuse a dtype.
type OptionsFamily interface {
	Family
	LoadWithOptions(dir string, config []byte, o LoadOptions) (*Spec, error)
}

// Pixels is one image preprocessed for a vision graph that takes several
// images or tiles per call: Images tiles of 3×Height×Width (Spec.Preprocess
// gives Height and Width), CHW each, in the order their visual tokens
// appear in the prompt. Rows×Cols is the tile grid of a split image (0×0:
// not split).
//
// Skip, when not nil, has one flag per tile of the full layout (Rows×Cols
// grid tiles, row-major, then the global image): a skipped tile was not
// encoded, Data and Images hold only the kept tiles, and the prompt leaves
// out the skipped tiles' visual tokens and their row/column markers (tile
// pruning, package tiles).
type Pixels struct {
	Data       []float32
	Images     int
	Rows, Cols int
	Skip       []bool
	// Grids, when not nil, says that Data holds flattened patches for a
	// vision graph that takes them with their (t, h, w) patch grid, one
	// per image (Qwen2-VL's pixel_values [patches, C·T·P·P] and grid_thw):
	// Data has sum(t·h·w) rows of PatchDim values.
	Grids    [][3]int
	PatchDim int
	// Video says that Grids[0] is one video's (t, h, w) grid, t temporal
	// patches of several frames each (Qwen2-VL's pixel_values_videos and
	// video_grid_thw, placed at the prompt's video tokens), not an image's.
	// SecondsPerGrid is the time one temporal patch spans
	// (Qwen2.5-VL's second_per_grid_ts: temporal_patch_size / fps).
	Video          bool
	SecondsPerGrid float64
	// GridVideo, when not nil, tells for each of Grids whether it is a
	// video's (a conversation mixing images and videos, in prompt order),
	// and GridSeconds its SecondsPerGrid; Video is then unset.
	GridVideo   []bool
	GridSeconds []float64
	// Layout, when not nil, is the family's own description of how this
	// image's tiles become visual tokens (LLaVA-OneVision's anyres
	// layout), read by its PackVisual and prompt hooks.
	Layout any
}

// ImageOptions bound the visual tokens a tiling family makes from one
// image; zero fields are unbounded.
type ImageOptions struct {
	MaxImageTokens int // visual tokens of the image (all tiles together)
	MaxTiles       int // tiles of the split grid, the global image not counted
	// NoSplit asks a tiling family for one unsplit image (the frames of a
	// multi-image prompt, as SmolVLM2 processes video frames).
	NoSplit bool
	// VideoFrame says the image is a frame of a video placed by the
	// family's video prompt (Spec.BuildVideoPrompt): a family with its own
	// video processor resizes it as that processor does (SmolVLM2's
	// SmolVLMVideoProcessor); others treat it as NoSplit.
	VideoFrame bool
	// PromptImages is the number of images of the prompt (conversation)
	// the image belongs to; 0 or 1: it is alone. A family whose layout
	// depends on it reads it (LLaVA-OneVision's Python layout gives each
	// of several images its base only, as Python's batch_num_images does).
	PromptImages int
}

// VisionOutputs names the vision graph's outputs. Features is required;
// the extras are "" when the model does not provide them.
type VisionOutputs struct {
	Features string // post-projector visual tokens (1, N, D)
	PreProj  string // pre-projector patch features (1, N, Dz)
	CLSAttn  string // CLS attention over patches (1, N)
	Keys     string // last-layer key vectors (1, N, Dk)
}

// Files are the ONNX graphs of a decoder-only VLM, as absolute paths.
type Files struct {
	Vision string
	Embed  string
	// Decoder is the merged decoder (all layers, logits, KV cache). The
	// stage graphs in-decoder pruning needs are derived from it.
	Decoder string
	// Encoder is the text encoder of an encoder-decoder model
	// (encoder_model); "" for decoder-only models.
	Encoder string
}

// Seq2Seq are the generation settings of an encoder-decoder model: the
// decoder start token and transformers.js's logits processors (a negative
// id or zero size disables one).
type Seq2Seq struct {
	DecoderStart  int
	ForcedBOS     int
	ForcedEOS     int
	NoRepeatNGram int
}

// Text describes the decoder's dimensions.
type Text struct {
	Hidden, Layers, Heads, KVHeads, HeadDim, Vocab int
}

// Prompt is a tokenized prompt with ImageTokens placeholders for the visual
// tokens, at sequence indices ImagePos (ascending).
type Prompt struct {
	IDs      []int
	ImagePos []int
	// Fixed are prompt rows whose input embedding the family gives
	// instead of the token's (LLaVA-OneVision video's image_newline after
	// the frames' tokens): structure, not visual tokens — no pruning
	// method sees or removes them.
	Fixed []FixedRow
}

// FixedRow is one row of Prompt.Fixed: the prompt index and its embedding
// (the text model's hidden size).
type FixedRow struct {
	Pos   int
	Embed []float32
}

// Spec is everything the runner needs to know about one model folder.
type Spec struct {
	Dir        string
	Family     string // model_type
	Files      Files
	Preprocess encoder.Preprocess
	Outputs    VisionOutputs
	// TokensPerImage is the number of visual tokens the vision graph returns
	// for one image; GridH × GridW is their layout.
	TokensPerImage int
	GridH, GridW   int
	Text           Text
	ImageTokenID   int
	MaxNewTokens   int
	EOS            []int
	Tokenizer      *tokenizer.Tokenizer
	// BuildPrompt turns the user's text (may be empty: the family's default
	// task) into ids with nImage placeholder tokens.
	BuildPrompt func(user string, nImage int) (Prompt, error)

	// Seq2Seq is set for encoder-decoder models (Files.Encoder): the prompt
	// with its visual tokens is the encoder input and generation starts
	// from the decoder start token. Text.Layers is then the decoder's.
	Seq2Seq *Seq2Seq

	// The optional hooks below are for families whose image becomes several
	// vision inputs (tiles) and whose prompt depends on the tiling.
	//
	// PreprocessImage, when set, replaces Preprocess.Tensor: it turns the
	// decoded image into the vision graph's batch of tiles.
	PreprocessImage func(img *image.NRGBA) (Pixels, error)
	// PreprocessImageWith, when set, is PreprocessImage under an image-token
	// or tile budget: it picks the split (or a downscale) that fits.
	PreprocessImageWith func(img *image.NRGBA, o ImageOptions) (Pixels, error)
	// BuildImagePrompt, when set, replaces BuildPrompt: it builds the prompt
	// for a preprocessed image whose tiles gave nVisual visual tokens.
	BuildImagePrompt func(user string, px Pixels, nVisual int) (Prompt, error)

	// PackVisual, when set, turns what the vision graph returned for one
	// preprocessed image into the image's visual tokens, in prompt order
	// (LLaVA-OneVision's anyres packing: unpadding, pooling, newline rows);
	// BuildImagePrompt and BuildChat then count the packed rows.
	PackVisual func(px Pixels, v *pruning.Visual) (*pruning.Visual, error)

	// BuildChat, when set, builds the prompt of a conversation: the
	// folder's chat template (or the family's built-in one) rendered with
	// the generation prompt, image part i expanded to the family's image
	// tokens for px[i], which gave nVisual[i] visual tokens (both in
	// conversation order; none: a text-only prompt). A family without it
	// takes one user message only (Conversation.Single), through
	// BuildPrompt or BuildImagePrompt.
	BuildChat func(c Conversation, px []Pixels, nVisual []int) (Prompt, error)

	// VideoFramePixels, when set, recovers from a video's PreprocessVideo
	// pixels the frames DTD's pixel mode compares, one per frame the
	// pruning methods see (Qwen2-VL: a temporal patch's first and last raw
	// frames, pruning.FramePixels.Last), with the token grid gh × gw.
	VideoFramePixels func(px Pixels, gh, gw int) (*pruning.FramePixels, error)

	// ChatVideo says that BuildChat also takes video parts: px[i] is then
	// the video's (Pixels.Video, from PreprocessVideo), images and videos
	// in conversation order (Qwen2-VL).
	ChatVideo bool

	// BuildVideoPrompt, when set, builds the prompt of one user message
	// holding a video then the user's text (may be empty: the family's
	// default), with the family's video markup (SmolVLM2: the frame count,
	// the length and each frame's timestamp); the video's frames, each one
	// unsplit image, gave nVisual visual tokens in all. Without it the
	// frames are placed as images (BuildImagePrompt with Pixels.Images =
	// the frame count).
	BuildVideoPrompt func(user string, v Video, nVisual int) (Prompt, error)
	// StreamPrompt, when set, is the family's prompt for a video streamed
	// frame by frame (see StreamPrompt); nil: the family cannot stream.
	StreamPrompt *StreamPrompt
	// PreprocessVideo, when set, turns a video's sampled frames (in time
	// order, all the same size) into one vision input, as the family's
	// video processor does (Qwen2-VL: frames paired into temporal patches,
	// one (t, h, w) grid, Pixels.Video set); the video's tokens then come
	// from one vision call, and BuildVideoPrompt (Video.Pixels) and
	// Positions get this result. Without it every frame is an image.
	PreprocessVideo func(frames []*image.NRGBA, v Video, o ImageOptions) (Pixels, error)
	// PackVideo, when set, turns what the vision graph returned for
	// PreprocessVideo's pixels into the video's visual tokens, instead of
	// PackVisual (LLaVA-OneVision: each frame's grid pooled, frames and
	// their token grid set for the temporal methods).
	PackVideo func(px Pixels, v *pruning.Visual) (*pruning.Visual, error)

	// Positions, when set, gives the decoder's position ids for a prompt
	// and its preprocessed image instead of 0..L−1: dims rows of
	// len(pr.IDs) ids, row-major (3 for M-RoPE: temporal, height, width),
	// and the position of the first generated token (every row). Visual
	// tokens kept by pruning keep their ids.
	Positions func(pr Prompt, px Pixels) (pos []int64, dims int, next int64, err error)
}

var (
	mu       sync.RWMutex
	families = map[string]Family{}
)

// Register makes a family available for the given model types. Registering
// a type twice is a programming error and is reported by Types.
func Register(f Family, modelTypes ...string) {
	mu.Lock()
	defer mu.Unlock()
	for _, t := range modelTypes {
		families[t] = f
	}
}

// Types lists the registered model types.
func Types() []string {
	mu.RLock()
	defer mu.RUnlock()
	var t []string
	for k := range families {
		t = append(t, k)
	}
	sort.Strings(t)
	return t
}

// ErrUnknownFamily is returned (wrapped) for a model_type no family handles.
var ErrUnknownFamily = errors.New("unsupported model type")

// Load reads dir/config.json and hands the folder to the family registered
// for its model_type.
func Load(dir string) (*Spec, error) { return LoadWith(dir, LoadOptions{}) }

// LoadWith is Load with the user's options.
func LoadWith(dir string, o LoadOptions) (*Spec, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("models: %s: %w", dir, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("models: open model folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("models: %s is not a model folder", dir)
	}
	cfgPath := filepath.Join(abs, "config.json")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("models: read %s: %w", cfgPath, err)
	}
	var head struct {
		ModelType string `json:"model_type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("models: parse %s: %w", cfgPath, err)
	}
	mu.RLock()
	f, ok := families[head.ModelType]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("models: %s: model_type %q: %w (supported: %v)",
			cfgPath, head.ModelType, ErrUnknownFamily, Types())
	}
	var spec *Spec
	if of, ok := f.(OptionsFamily); ok {
		spec, err = of.LoadWithOptions(abs, data, o)
	} else if !o.DTypes.IsZero() {
		return nil, fmt.Errorf("models: %s: model_type %q has a single set of ONNX files; a dtype cannot be chosen",
			abs, head.ModelType)
	} else {
		spec, err = f.Load(abs, data)
	}
	if err != nil {
		return nil, err
	}
	spec.Dir = abs
	spec.Family = head.ModelType
	return spec, nil
}

// RequireFiles checks that every named file exists, naming the first that
// does not.
func RequireFiles(paths ...string) error {
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("models: model file missing: %w", err)
		}
		if st.IsDir() {
			return fmt.Errorf("models: model file %s is a directory", p)
		}
	}
	return nil
}

// ReadJSON decodes dir/name into v.
func ReadJSON(dir, name string, v any) error {
	p := filepath.Join(dir, name)
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("models: read %s: %w", p, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("models: parse %s: %w", p, err)
	}
	return nil
}
