package pipeline

import (
	"fmt"
	"image"

	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/tiles"
)

// preprocess turns the decoded image into the vision graph's input: one
// tensor, or the family's tiles, under the image budget o (and, for a
// family whose layout depends on it, o.PromptImages).
func (p *Pipeline) preprocess(img *image.NRGBA, o models.ImageOptions) (models.Pixels, error) {
	spec := p.Spec
	budget := o.MaxImageTokens > 0 || o.MaxTiles > 0 || o.NoSplit || o.PromptImages > 1
	switch {
	case budget && spec.PreprocessImageWith != nil:
		return spec.PreprocessImageWith(img, o)
	case o.MaxImageTokens > 0 && spec.TokensPerImage > o.MaxImageTokens:
		return models.Pixels{}, fmt.Errorf("pipeline: the model makes %d visual tokens per image and cannot fit --max-image-tokens %d",
			spec.TokensPerImage, o.MaxImageTokens)
	case spec.PreprocessImage != nil:
		return spec.PreprocessImage(img)
	}
	px := models.Pixels{Images: 1}
	var err error
	px.Data, err = spec.Preprocess.Tensor(img)
	return px, err
}

// pruneTiles drops the grid tiles o finds uninformative from a split
// image's pixels and records which in px.Skip; an unsplit image, or o off,
// is returned as is.
func (p *Pipeline) pruneTiles(px models.Pixels, o tiles.Options) (models.Pixels, error) {
	grid := px.Rows * px.Cols
	if !o.Enabled() || grid == 0 || px.Skip != nil {
		return px, nil
	}
	if p.Spec.BuildImagePrompt == nil {
		return px, fmt.Errorf("pipeline: tile pruning needs a family whose prompt follows its tiles")
	}
	s := tiles.Shape{Tiles: px.Images, Grid: grid, C: 3, H: p.Spec.Preprocess.Height, W: p.Spec.Preprocess.Width}
	if px.Images != grid+1 {
		return px, fmt.Errorf("pipeline: %d tiles for a %d×%d grid plus the global image", px.Images, px.Rows, px.Cols)
	}
	d, err := tiles.Select(px.Data, s, o)
	if err != nil {
		return px, err
	}
	if d.Skipped() == 0 {
		return px, nil
	}
	data, err := tiles.Compact(px.Data, s, d.Keep)
	if err != nil {
		return px, err
	}
	px.Skip = make([]bool, len(d.Keep))
	for i, k := range d.Keep {
		px.Skip[i] = !k
	}
	px.Data, px.Images = data, px.Images-d.Skipped()
	return px, nil
}

// MergedLogitsAll reports whether the merged decoder computes logits for
// every prefill position (its file has no num_logits_to_keep input); false
// for encoder-decoder models, which are not asked.
func (p *Pipeline) MergedLogitsAll() bool { return p.lm != nil && !p.lm.MergedLogitsLastOnly() }
