package llavaonevision

import (
	"fmt"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
)

func init() { models.RegisterExtras(extras, ModelType) }

// extras is how a LLaVA-OneVision vision graph (SigLIP + projector) is
// instrumented for the pruning extras: models.TowerExtras with
// LlavaOnevisionConfig's default vision_feature_layer, −1 (the exported
// tower's last layer). SigLIP has no CLS token, and FasterVLM's and
// VisionZip's code read the CLS query's row, so the score of fastervlm,
// visionzip, fopru, adaptive, flowcut and mustdrop-merge is the attention
// each patch receives in the feature layer, mean over heads and query
// rows: the reference's rule for CLS-free encoders (pruning-methods.md
// §3.4), the rule vlmrun uses for Qwen2-VL, and the SigLIP score of the
// OneVision code of HoliTom (pruning-methods-2.md §3) and of VFlowOpt's
// first step (received_j, pruning-methods.md §3.12). One extras row per
// feature row: no CLS row to drop, no merger (strategy "full", checked
// when the folder loads).
//
// In Python's anyres layout the same graph runs on the base and the crops,
// one extras row per crop row; the layout's PackVisual (pyLayout.pack)
// carries them to the packed tokens.
func extras(dir string, raw []byte) (encoder.Instrument, error) {
	if _, err := readLayout(dir); err != nil {
		return encoder.Instrument{}, fmt.Errorf("llavaonevision: %s: %w", dir, err)
	}
	in, err := models.TowerExtras(dir, raw, -1)
	if err != nil {
		return in, fmt.Errorf("llavaonevision: %w", err)
	}
	return in, nil
}
