package qwen2vl

import (
	"encoding/json"
	"fmt"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/onnx/visinstr"
)

func init() { models.RegisterExtras(extras, ModelType, ModelType25) }

// extras is how a Qwen2-VL vision graph is instrumented for the pruning
// extras. The encoder has no CLS token, so the score is the attention each
// patch receives in the last block (mean over heads and query rows;
// reference §3.4: what forks do for CLS-free encoders), and each merged
// token — merge² consecutive patches in the processor's order — gets the
// mean of its patches' scores and keys and their last-block outputs side by
// side (the PatchMerger's input layout, before its ln_q). A graph that
// reorders patches into windows (Qwen2.5-VL's window attention) has its
// extras put back in the features' order by the analysis (visinstr: the
// Gather by argsort(window_index) after the merger).
func extras(dir string, raw []byte) (encoder.Instrument, error) {
	var c struct {
		Vision struct {
			Depth *int `json:"depth"`
			Merge int  `json:"spatial_merge_size"`
		} `json:"vision_config"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return encoder.Instrument{}, fmt.Errorf("qwen2vl: parse %s/config.json: %w", dir, err)
	}
	m := c.Vision.Merge
	if m == 0 {
		m = 2
	}
	in := encoder.Instrument{Attention: visinstr.Received, Layer: -1, Rows: encoder.ExtraRows{Group: m * m}}
	if c.Vision.Depth != nil {
		in.Layer = *c.Vision.Depth - 1
	}
	return in, nil
}
