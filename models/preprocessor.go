package models

import (
	"fmt"

	"github.com/vlmrun/vlmrun/encoder"
)

// hfImageProcessor is the subset of a Hugging Face preprocessor_config.json
// that fixed-size image processors use.
type hfImageProcessor struct {
	DoResize *bool `json:"do_resize"`
	Size     struct {
		Height       int `json:"height"`
		Width        int `json:"width"`
		ShortestEdge int `json:"shortest_edge"`
	} `json:"size"`
	Resample      *int      `json:"resample"`
	DoRescale     *bool     `json:"do_rescale"`
	RescaleFactor *float64  `json:"rescale_factor"`
	DoNormalize   *bool     `json:"do_normalize"`
	ImageMean     []float64 `json:"image_mean"`
	ImageStd      []float64 `json:"image_std"`
}

// ReadFixedPreprocess reads dir/preprocessor_config.json for a processor
// that resizes every image to one fixed size, then rescales and normalizes.
func ReadFixedPreprocess(dir string) (encoder.Preprocess, error) {
	const name = "preprocessor_config.json"
	var c hfImageProcessor
	if err := ReadJSON(dir, name, &c); err != nil {
		return encoder.Preprocess{}, err
	}
	p := encoder.Preprocess{Width: c.Size.Width, Height: c.Size.Height, Resample: encoder.Resample(3),
		RescaleFactor: 1.0 / 255, Mean: [3]float32{0, 0, 0}, Std: [3]float32{1, 1, 1}}
	if c.Size.ShortestEdge > 0 && p.Width == 0 {
		p.Width, p.Height = c.Size.ShortestEdge, c.Size.ShortestEdge
	}
	if p.Width <= 0 || p.Height <= 0 {
		return p, fmt.Errorf("models: %s/%s: size must give height and width", dir, name)
	}
	if c.DoResize != nil && !*c.DoResize {
		return p, fmt.Errorf("models: %s/%s: do_resize=false is not supported", dir, name)
	}
	if c.Resample != nil {
		p.Resample = encoder.Resample(*c.Resample)
	}
	if c.RescaleFactor != nil {
		p.RescaleFactor = float32(*c.RescaleFactor)
	}
	if c.DoRescale != nil && !*c.DoRescale {
		p.RescaleFactor = 1
	}
	if c.DoNormalize == nil || *c.DoNormalize {
		if len(c.ImageMean) != 3 || len(c.ImageStd) != 3 {
			return p, fmt.Errorf("models: %s/%s: image_mean and image_std need 3 values", dir, name)
		}
		for i := 0; i < 3; i++ {
			if c.ImageStd[i] == 0 {
				return p, fmt.Errorf("models: %s/%s: image_std has a zero", dir, name)
			}
			p.Mean[i], p.Std[i] = float32(c.ImageMean[i]), float32(c.ImageStd[i])
		}
	}
	return p, nil
}
