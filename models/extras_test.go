package models_test

import (
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/onnx/visinstr"
)

// TowerExtras maps vision_feature_layer to the 0-based layer (hidden_states
// counted from the embeddings), picks the score by tower, and refuses what
// one layer's attention cannot describe.
func TestTowerExtras(t *testing.T) {
	cls := encoder.Instrument{Attention: visinstr.CLS, Rows: encoder.ExtraRows{CLSFirst: true}}
	siglip := encoder.Instrument{Attention: visinstr.Received}
	at := func(in encoder.Instrument, layer int) encoder.Instrument { in.Layer = layer; return in }
	for _, c := range []struct {
		name, config string
		def          int
		want         encoder.Instrument
		err          string
	}{
		{"llava-1.5: -2 of 24", `{"vision_config": {"model_type": "clip_vision_model", "num_hidden_layers": 24}, "vision_feature_layer": -2}`, -2, at(cls, 22), ""},
		{"no tower type: CLIP", `{"vision_config": {"num_hidden_layers": 24}}`, -2, at(cls, 22), ""},
		{"onevision: -1 of 26", `{"vision_config": {"model_type": "siglip_vision_model", "num_hidden_layers": 26}, "vision_feature_layer": -1}`, -1, at(siglip, 25), ""},
		{"onevision default -1", `{"vision_config": {"model_type": "siglip_vision_model", "num_hidden_layers": 26}}`, -1, at(siglip, 25), ""},
		{"null layer: default", `{"vision_config": {"model_type": "siglip_vision_model", "num_hidden_layers": 26}, "vision_feature_layer": null}`, -1, at(siglip, 25), ""},
		{"positive layer", `{"vision_config": {"model_type": "siglip_vision_model"}, "vision_feature_layer": 3}`, -1, at(siglip, 2), ""},
		{"no layer count: unchecked", `{"vision_config": {"model_type": "siglip_vision_model"}}`, -1, at(siglip, -1), ""},
		{"layer 0", `{"vision_config": {}, "vision_feature_layer": 0}`, -2, encoder.Instrument{}, "selects the embeddings"},
		{"list of layers", `{"vision_config": {}, "vision_feature_layer": [-2, -5]}`, -2, encoder.Instrument{}, "is not one layer"},
		{"too deep", `{"vision_config": {"num_hidden_layers": 2}, "vision_feature_layer": -3}`, -2, encoder.Instrument{}, "-3 of 2 layers"},
		{"unknown tower", `{"vision_config": {"model_type": "dinov2"}}`, -2, encoder.Instrument{}, `vision tower "dinov2"`},
		{"bad json", `{`, -2, encoder.Instrument{}, "parse d/config.json"},
	} {
		got, err := models.TowerExtras("d", []byte(c.config), c.def)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want an error with %q", c.name, err, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case got != c.want:
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
