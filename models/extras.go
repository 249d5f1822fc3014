package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/onnx/visinstr"
)

// ExtrasFunc tells, from a model folder and its config.json, how vlmrun
// may instrument the folder's vision graph for the pruning extras it does
// not output itself (encoder.OpenInstrumented): which attention score,
// from which encoder layer, and how the extras' rows map to the features.
// An error says why this folder's graph cannot be instrumented.
type ExtrasFunc func(dir string, config []byte) (encoder.Instrument, error)

// ErrNoExtras is returned (wrapped) for a family that registered no
// ExtrasFunc.
var ErrNoExtras = errors.New("the family does not say how to instrument its vision graph")

var (
	extrasMu sync.RWMutex
	extras   = map[string]ExtrasFunc{}
)

// RegisterExtras makes f the instrumentation rule of the given model types.
func RegisterExtras(f ExtrasFunc, modelTypes ...string) {
	extrasMu.Lock()
	defer extrasMu.Unlock()
	for _, t := range modelTypes {
		extras[t] = f
	}
}

// VisionExtras returns how to instrument spec's vision graph for the
// pruning extras.
func VisionExtras(spec *Spec) (encoder.Instrument, error) {
	extrasMu.RLock()
	f := extras[spec.Family]
	extrasMu.RUnlock()
	if f == nil {
		return encoder.Instrument{}, fmt.Errorf("models: %s (%s): %w", spec.Dir, spec.Family, ErrNoExtras)
	}
	p := filepath.Join(spec.Dir, "config.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		return encoder.Instrument{}, fmt.Errorf("models: read %s: %w", p, err)
	}
	return f(spec.Dir, raw)
}

// TowerExtras is the instrumentation rule of a LLaVA-style vision graph:
// a vision tower whose hidden_states[vision_feature_layer] go through a
// projector (LLaVA, LLaVA-OneVision). The layer is the one whose output
// vision_feature_layer selects — hidden_states[k] of the L+1 hidden states
// (embeddings first): layer L+k (0-based) for k < 0, k−1 for k > 0 —
// since FasterVLM and VisionZip read attentions[k] of that same layer;
// defaultLayer is the family's config default for k when config.json has
// none (LlavaConfig −2, LlavaOnevisionConfig −1). A CLIP tower
// (vision_config.model_type clip_vision_model, or none: transformers'
// default) has a CLS token first: the score is the CLS query's row, and
// the CLS row is dropped when the features leave it out; a SigLIP tower
// (siglip_vision_model) has none: the score is the attention each patch
// receives, mean over heads and query rows (reference §3.4: what the
// forks do for CLS-free encoders; HoliTom and VFlowOpt score SigLIP
// patches so on LLaVA-OneVision). Other towers, a list of layers (their
// features concatenated: one layer's attention does not describe them)
// and layer 0 (the embeddings) are refused.
func TowerExtras(dir string, raw []byte, defaultLayer int) (encoder.Instrument, error) {
	var c struct {
		Vision struct {
			ModelType string `json:"model_type"`
			Layers    *int   `json:"num_hidden_layers"`
		} `json:"vision_config"`
		FeatureLayer json.RawMessage `json:"vision_feature_layer"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return encoder.Instrument{}, fmt.Errorf("parse %s/config.json: %w", dir, err)
	}
	in := encoder.Instrument{Layer: -1}
	switch c.Vision.ModelType {
	case "", "clip_vision_model":
		in.Attention, in.Rows = visinstr.CLS, encoder.ExtraRows{CLSFirst: true}
	case "siglip_vision_model":
		in.Attention = visinstr.Received
	default:
		return in, fmt.Errorf("%s: vision tower %q: whether it has a CLS token is not known, so its attention is not instrumented",
			dir, c.Vision.ModelType)
	}
	k := defaultLayer
	if len(c.FeatureLayer) > 0 && string(c.FeatureLayer) != "null" {
		if err := json.Unmarshal(c.FeatureLayer, &k); err != nil {
			return in, fmt.Errorf("%s/config.json: vision_feature_layer %s is not one layer (several layers' features are concatenated; one layer's attention does not describe them)",
				dir, c.FeatureLayer)
		}
	}
	switch {
	case k == 0:
		return in, fmt.Errorf("%s/config.json: vision_feature_layer 0 selects the embeddings, which no attention layer produces", dir)
	case k > 0:
		in.Layer = k - 1
	case c.Vision.Layers != nil:
		in.Layer = *c.Vision.Layers + k
		if in.Layer < 0 {
			return in, fmt.Errorf("%s/config.json: vision_feature_layer %d of %d layers", dir, k, *c.Vision.Layers)
		}
	}
	return in, nil
}
