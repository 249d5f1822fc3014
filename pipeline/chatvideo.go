package pipeline

import (
	"fmt"
	"image"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pruning"
)

// encodeMedia is encodeImages for a conversation holding videos too: its
// image and video parts in conversation order, each image through
// encodeImages, each video decoded, made into the family's one vision
// input (models.Spec.PreprocessVideo) and encoded; the pixels (a video's
// with Video set), visual-token counts and the tokens concatenated.
func (p *Pipeline) encodeMedia(rec *recorder, res *Result, c models.Conversation, images []Frame, videos []Video,
	req Request) ([]models.Pixels, []int, *pruning.Visual, error) {
	var pxs []models.Pixels
	var nVis []int
	var vis *pruning.Visual
	ni, nv := 0, 0
	for _, m := range c {
		for _, part := range m.Parts {
			var px models.Pixels
			var v *pruning.Visual
			switch {
			case part.Image:
				first := res.Image
				ps, _, vi, err := p.encodeImages(rec, res, images[ni:ni+1], req)
				if err != nil {
					return nil, nil, nil, err
				}
				if ni > 0 || nv > 0 {
					res.Image = first // Result.Image is the first input's
				}
				ni++
				px, v = ps[0], vi
			case part.Video:
				var err error
				if px, v, err = p.encodeChatVideo(rec, res, videos[nv], req, ni == 0 && nv == 0); err != nil {
					return nil, nil, nil, fmt.Errorf("%w (video %d)", err, nv+1)
				}
				nv++
			default:
				continue
			}
			pxs = append(pxs, px)
			nVis = append(nVis, v.Features.Rows)
			vis = appendVisual(vis, v)
		}
	}
	if len(pxs) > 1 {
		// several inputs: no single token grid, tile layout or frames
		vis.GridH, vis.GridW, vis.Frames, vis.FramePixels = 0, 0, 0, nil
		vis.Views, vis.TileRows, vis.TileCols = 0, 0, 0
	}
	return pxs, nVis, vis, nil
}

// encodeChatVideo decodes one video's frames, preprocesses them into the
// family's video input and encodes it (CaptionVideo's steps for a family
// with models.Spec.PreprocessVideo, without a PackVideo): a video alone in
// a conversation gives the temporal methods its temporal patches as
// frames, as CaptionVideo does.
func (p *Pipeline) encodeChatVideo(rec *recorder, res *Result, v Video, req Request, first bool) (models.Pixels, *pruning.Visual, error) {
	if p.Spec.PackVideo != nil {
		return models.Pixels{}, nil, fmt.Errorf("pipeline: %s packs its video tokens; a video inside a conversation is not supported", p.Spec.Family)
	}
	if len(v.Frames) == 0 {
		return models.Pixels{}, nil, fmt.Errorf("pipeline: a video without frames")
	}
	imgs := make([]*image.NRGBA, len(v.Frames))
	for i, f := range v.Frames {
		img, info, err := encoder.DecodeImage(f.Name, f.R, p.opt.Limits)
		if err != nil {
			return models.Pixels{}, nil, err
		}
		if i == 0 && first {
			res.Image = info
		}
		imgs[i] = img
	}
	rec.t.ImageDecode += rec.since()
	px, err := p.Spec.PreprocessVideo(imgs, models.Video{Times: v.Times, Duration: v.Duration}, req.Image)
	if err != nil {
		return models.Pixels{}, nil, fmt.Errorf("encoder: preprocess the video: %w", err)
	}
	if !px.Video || len(px.Grids) != 1 {
		return models.Pixels{}, nil, fmt.Errorf("pipeline: %s made %d grids (video %v) of one video", p.Spec.Family, len(px.Grids), px.Video)
	}
	rec.t.Preprocess += rec.since()
	vis, err := p.encodeFor(rec, px, req)
	if err == nil {
		err = p.videoFrames(vis, px) // (cleared again when other inputs join it)
	}
	if err != nil {
		return models.Pixels{}, nil, err
	}
	rec.t.Encode += rec.since()
	rec.t.TilesEncoded++
	return px, vis, nil
}
