package llava

import (
	"encoding/json"
	"fmt"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/onnx/visinstr"
)

func init() { models.RegisterExtras(extras, ModelType) }

// extras is how a LLaVA vision graph (vision tower + projector) is
// instrumented for the pruning extras. The layer is the one whose output
// vision_feature_layer selects (hidden_states[k], k < 0 counted from the
// end of the L+1 hidden states: layer L+k, 0-based; k > 0: layer k−1), as
// FasterVLM and VisionZip read attentions[k] of that same layer. A CLIP
// tower (vision_config.model_type clip_vision_model, transformers'
// default) has a CLS token first: the score is the CLS query's row, and
// the CLS row is dropped when the features leave it out (576 of 577); a
// SigLIP tower has none: the score is the attention each patch receives
// (reference §3.4, what forks do for CLS-free encoders).
func extras(dir string, raw []byte) (encoder.Instrument, error) {
	var c struct {
		Vision struct {
			ModelType string `json:"model_type"`
			Layers    *int   `json:"num_hidden_layers"`
		} `json:"vision_config"`
		FeatureLayer json.RawMessage `json:"vision_feature_layer"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return encoder.Instrument{}, fmt.Errorf("llava: parse %s/config.json: %w", dir, err)
	}
	in := encoder.Instrument{Layer: -1}
	switch c.Vision.ModelType {
	case "", "clip_vision_model":
		in.Attention, in.Rows = visinstr.CLS, encoder.ExtraRows{CLSFirst: true}
	case "siglip_vision_model":
		in.Attention = visinstr.Received
	default:
		return in, fmt.Errorf("llava: %s: vision tower %q: whether it has a CLS token is not known, so its attention is not instrumented",
			dir, c.Vision.ModelType)
	}
	k := -2 // LlavaConfig's default
	if len(c.FeatureLayer) > 0 && string(c.FeatureLayer) != "null" {
		if err := json.Unmarshal(c.FeatureLayer, &k); err != nil {
			return in, fmt.Errorf("llava: %s/config.json: vision_feature_layer %s is not one layer (several layers' features are concatenated; one layer's attention does not describe them)",
				dir, c.FeatureLayer)
		}
	}
	switch {
	case k == 0:
		return in, fmt.Errorf("llava: %s/config.json: vision_feature_layer 0 selects the embeddings, which no attention layer produces", dir)
	case k > 0:
		in.Layer = k - 1
	case c.Vision.Layers != nil:
		in.Layer = *c.Vision.Layers + k
		if in.Layer < 0 {
			return in, fmt.Errorf("llava: %s/config.json: vision_feature_layer %d of %d layers", dir, k, *c.Vision.Layers)
		}
	}
	return in, nil
}
