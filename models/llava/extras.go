package llava

import (
	"fmt"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
)

func init() { models.RegisterExtras(extras, ModelType) }

// extras is how a LLaVA vision graph (vision tower + projector) is
// instrumented for the pruning extras: models.TowerExtras with
// LlavaConfig's default vision_feature_layer, −2 (a CLIP tower's CLS row,
// a SigLIP tower's received attention, of the feature layer).
func extras(dir string, raw []byte) (encoder.Instrument, error) {
	in, err := models.TowerExtras(dir, raw, -2)
	if err != nil {
		return in, fmt.Errorf("llava: %w", err)
	}
	return in, nil
}
