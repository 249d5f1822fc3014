package smolvlm

import (
	"fmt"
	"image"

	"github.com/vlmrun/vlmrun/models"
)

// layout is the tile grid and visual-token count the processor gives an
// image of w×h when its longest edge is resized to edge.
func (p imageProcessor) layout(w, h, edge, seqLen int) (rows, cols, tokens int) {
	nw, nh := resizeTarget(w, h, edge)
	if !p.Split {
		return 0, 0, seqLen
	}
	H, W := visionResize(nh, nw, p.Tile)
	if H <= p.Tile && W <= p.Tile {
		return 0, 0, seqLen
	}
	rows, cols = ceilDiv(H, p.Tile), ceilDiv(W, p.Tile)
	return rows, cols, (rows*cols + 1) * seqLen
}

// chooseEdge returns the longest edge to resize a w×h image to so that its
// visual tokens fit o: the configured edge when it fits, else the largest
// multiple of the tile size below it that does (fewer tiles: the
// "downsample to the same budget" baseline). One tile-sized image (seqLen
// tokens, no split) is the smallest layout; a budget below it is an error.
func (p imageProcessor) chooseEdge(w, h, seqLen int, o models.ImageOptions) (int, error) {
	fits := func(edge int) bool {
		rows, cols, tokens := p.layout(w, h, edge, seqLen)
		return (o.MaxImageTokens <= 0 || tokens <= o.MaxImageTokens) &&
			(o.MaxTiles <= 0 || rows*cols <= o.MaxTiles)
	}
	if fits(p.LongestEdge) {
		return p.LongestEdge, nil
	}
	for edge := (p.LongestEdge - 1) / p.Tile * p.Tile; edge >= p.Tile; edge -= p.Tile {
		if fits(edge) {
			return edge, nil
		}
	}
	if o.MaxImageTokens > 0 && o.MaxImageTokens < seqLen {
		return 0, fmt.Errorf("smolvlm: an image needs at least %d visual tokens (one %d px tile), the budget is %d",
			seqLen, p.Tile, o.MaxImageTokens)
	}
	return p.Tile, nil
}

// processBudget is Process under a token or tile budget.
func (p imageProcessor) processBudget(img *image.NRGBA, seqLen int, o models.ImageOptions) (models.Pixels, error) {
	if img == nil || img.Rect.Empty() {
		return models.Pixels{}, fmt.Errorf("smolvlm: empty image")
	}
	if o.NoSplit {
		p.Split = false // one image resized to the tile size (do_image_splitting=False)
	}
	edge, err := p.chooseEdge(img.Rect.Dx(), img.Rect.Dy(), seqLen, o)
	if err != nil {
		return models.Pixels{}, err
	}
	p.LongestEdge = edge
	return p.Process(img)
}
