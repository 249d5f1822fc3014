package qwen2vl

import (
	"fmt"

	"github.com/vlmrun/vlmrun/models"
)

// A conversation may mix images and videos, as Python's Qwen2VLProcessor
// takes them together: the chat template renders each image part as
// <|vision_start|><|image_pad|><|vision_end|> and each video part as
// <|vision_start|><|video_pad|><|vision_end|>, the processor expands the
// i-th <|image_pad|> for the i-th image's grid and the j-th <|video_pad|>
// for the j-th video's, and get_rope_index lays out every vision block in
// prompt order, whichever kind comes first (RopeVideoIndex).

// buildMixed builds the prompt of a conversation holding videos (and
// possibly images): px in conversation order, each an image's (one grid)
// or a video's (Pixels.Video). The visual tokens (Prompt.ImagePos) are the
// image and video tokens in prompt order, nVisual[i] for px[i].
func (p *prompter) buildMixed(c models.Conversation, px []models.Pixels, nVisual []int) (models.Prompt, error) {
	if p.videoID < 0 {
		return models.Prompt{}, fmt.Errorf("qwen2vl: config.json has no video_token_id")
	}
	if len(px) != c.Images()+c.Videos() || len(nVisual) != len(px) {
		return models.Prompt{}, fmt.Errorf("qwen2vl: %d images and %d videos, %d inputs, %d encoded", c.Images(), c.Videos(), len(px), len(nVisual))
	}
	var imgs, vids []Grid
	for i, q := range px {
		if len(q.Grids) != 1 {
			return models.Prompt{}, fmt.Errorf("qwen2vl: input %d has %d grids, want 1", i, len(q.Grids))
		}
		if q.Video {
			vids = append(vids, Grid(q.Grids[0]))
		} else {
			imgs = append(imgs, Grid(q.Grids[0]))
		}
	}
	if len(imgs) != c.Images() || len(vids) != c.Videos() {
		return models.Prompt{}, fmt.Errorf("qwen2vl: %d image and %d video inputs for %d image and %d video parts", len(imgs), len(vids), c.Images(), c.Videos())
	}
	if err := c.CheckText(ImageToken, VideoToken, VisionStartToken, VisionEndToken); err != nil {
		return models.Prompt{}, fmt.Errorf("qwen2vl: %w", err)
	}
	s, err := c.WithDefault(DefaultPrompt).Render(p.conv, ImageToken)
	if err != nil {
		return models.Prompt{}, fmt.Errorf("qwen2vl: %w", err)
	}
	if s, err = Expand(s, imgs, p.merge); err != nil {
		return models.Prompt{}, err
	}
	if s, err = ExpandVideo(s, vids, p.merge); err != nil {
		return models.Prompt{}, err
	}
	pr, err := models.TokenizePrompt(p.tok, s, p.imageID, p.videoID)
	if err != nil {
		return models.Prompt{}, fmt.Errorf("qwen2vl: %w", err)
	}
	// every input's tokens, in conversation order, are one run of its kind
	want := 0
	for _, n := range nVisual {
		want += n
	}
	if len(pr.ImagePos) != want {
		return pr, fmt.Errorf("qwen2vl: the prompt has %d image and video tokens but the vision encoder gave %d features", len(pr.ImagePos), want)
	}
	at := 0
	for i, n := range nVisual {
		kind := p.imageID
		if px[i].Video {
			kind = p.videoID
		}
		for _, pos := range pr.ImagePos[at : at+n] {
			if pr.IDs[pos] != kind {
				return pr, fmt.Errorf("qwen2vl: input %d's tokens are not in conversation order in the rendered prompt", i)
			}
		}
		at += n
	}
	return pr, nil
}

// mixedPositions is get_rope_index for a prompt mixing images and videos
// (Pixels.GridVideo): the image grids and the video grids, each in prompt
// order, with each video's seconds per temporal patch.
func mixedPositions(ids []int, px models.Pixels, rope RopeTokens) ([]int64, int64, error) {
	if len(px.GridVideo) != len(px.Grids) || len(px.GridSeconds) != len(px.Grids) {
		return nil, 0, fmt.Errorf("qwen2vl: %d grids, %d kinds, %d durations", len(px.Grids), len(px.GridVideo), len(px.GridSeconds))
	}
	var imgs []Grid
	var vids []VideoGrid
	for i, g := range px.Grids {
		if px.GridVideo[i] {
			vids = append(vids, VideoGrid{Grid: Grid(g), Seconds: px.GridSeconds[i]})
		} else {
			imgs = append(imgs, Grid(g))
		}
	}
	return RopeVideoIndex(ids, imgs, vids, rope)
}
