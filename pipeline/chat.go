package pipeline

import (
	"context"
	"fmt"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pruning"
)

// CheckChat reports whether spec's family takes the conversation: a valid
// one (models.Conversation.Validate) for a family with a chat format
// (models.Spec.BuildChat), with or without images; otherwise one user
// message with at least one image (several only where the family takes
// several images in one prompt, as CaptionFrames). Its errors wrap
// models.ErrConversation, so that a server can refuse a request before it
// waits for the model.
func CheckChat(spec *models.Spec, c models.Conversation) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if n := c.Videos(); n > 0 && (spec.BuildChat == nil || !spec.ChatVideo || spec.PreprocessVideo == nil) {
		return fmt.Errorf("%w: model_type %s does not take a video inside a conversation (got %d)",
			models.ErrConversation, spec.Family, n)
	}
	if spec.BuildChat != nil {
		return nil
	}
	_, n, ok := c.Single()
	switch {
	case !ok:
		return fmt.Errorf("%w: model_type %s has no chat format: it takes one user message (images, then text), not system messages or earlier turns",
			models.ErrConversation, spec.Family)
	case n == 0:
		return fmt.Errorf("%w: %w: model_type %s cannot answer text alone",
			models.ErrConversation, models.ErrNeedsImage, spec.Family)
	case n > 1 && (spec.BuildImagePrompt == nil || spec.Seq2Seq != nil || (spec.PreprocessImage != nil && spec.PreprocessImageWith == nil)):
		return fmt.Errorf("%w: %w: model_type %s takes one image per prompt (got %d)",
			models.ErrConversation, models.ErrTooManyImages, spec.Family, n)
	}
	return nil
}

// Chat answers a conversation (models.Conversation) whose image parts are
// images, in conversation order. For a family with a chat format the
// prompt is its chat template's rendering (models.Spec.BuildChat); every
// image is decoded, preprocessed (split into tiles where the family does),
// tile-pruned and encoded on its own, and their visual tokens are
// concatenated in conversation order, so that pre-decoder pruning and its
// budget see all images' tokens at once. Several images that are one
// encoder image each with the same number of tokens are also the temporal
// methods' frames, in order (pruning.Visual.Frames), as CaptionFrames
// gives a frame-sequence family's images; others are one token set. A conversation without images is
// a text-only prompt: nothing to prune, so the request's methods are not
// run (Result.Visual names none). Timings add up over the images;
// Result.Image is the first image's.
//
// A family without a chat format takes what CheckChat allows, as Caption
// (one image) or CaptionFrames (several) with the message's text as the
// prompt.
func (p *Pipeline) Chat(ctx context.Context, c models.Conversation, images []Frame, req Request,
	stream func(string) error) (*Result, error) {
	return p.ChatVideo(ctx, c, images, nil, req, stream)
}

// ChatVideo is Chat for a conversation that may also hold video parts
// (models.Part.Video; a family with models.Spec.ChatVideo): videos[i] is
// the i-th video part's frames. Images and videos are preprocessed and
// encoded one by one (each video as one vision input, as CaptionVideo
// does) and their visual tokens concatenated in conversation order; with
// a video and anything else, pruning sees one token set without a grid or
// frames.
func (p *Pipeline) ChatVideo(ctx context.Context, c models.Conversation, images []Frame, videos []Video, req Request,
	stream func(string) error) (*Result, error) {
	if err := CheckChat(p.Spec, c); err != nil {
		return nil, err
	}
	if n := c.Images(); n != len(images) {
		return nil, fmt.Errorf("pipeline: the conversation has %d images but %d were given", n, len(images))
	}
	if n := c.Videos(); n != len(videos) {
		return nil, fmt.Errorf("pipeline: the conversation has %d videos but %d were given", n, len(videos))
	}
	if p.Spec.BuildChat == nil {
		req.Prompt, _, _ = c.Single()
		return p.CaptionFrames(ctx, images, req, stream)
	}
	alone := p.active.Add(1) == 1
	start := p.starts.Add(1)
	defer p.active.Add(-1)
	var err error
	if req, err = p.FitRequest(req); err != nil {
		return nil, err
	}
	rec := newRecorder(p.sessions)
	res := &Result{}
	var pxs []models.Pixels
	var nVis []int
	var vis *pruning.Visual
	if len(videos) == 0 {
		pxs, nVis, vis, err = p.encodeImages(rec, res, images, req)
	} else {
		pxs, nVis, vis, err = p.encodeMedia(rec, res, c, images, videos, req)
	}
	if err != nil {
		return nil, err
	}
	all := models.Pixels{}
	for _, px := range pxs {
		all.Images += px.Images
		all.Grids = append(all.Grids, px.Grids...)
		all.PatchDim = px.PatchDim
		if len(videos) > 0 {
			for range px.Grids {
				all.GridVideo = append(all.GridVideo, px.Video)
				all.GridSeconds = append(all.GridSeconds, px.SecondsPerGrid)
			}
		}
	}
	if len(pxs) == 1 {
		all = pxs[0]
	}
	if vis.Features.Rows == 0 {
		req.Pre, req.Keep, req.In = nil, nil, nil // text only: no visual tokens to prune
	}
	res.Visual.Before = vis.Features.Rows
	prompt, err := p.Spec.BuildChat(c, pxs, nVis)
	if err != nil {
		return nil, err
	}
	embeds, err := p.embed(prompt.IDs)
	if err != nil {
		return nil, err
	}
	if err := p.fixRows(embeds, prompt); err != nil {
		return nil, err
	}
	return p.generate(ctx, rec, res, all, vis, prompt, embeds, req, stream, alone, start)
}

// encodeImages decodes, preprocesses, tile-prunes and encodes each image,
// adding each stage's time to rec, and returns the images' pixels, their
// visual-token counts and their tokens concatenated (no rows for no
// images).
func (p *Pipeline) encodeImages(rec *recorder, res *Result, images []Frame, req Request) ([]models.Pixels, []int, *pruning.Visual, error) {
	var pxs []models.Pixels
	var nVis []int
	var vis *pruning.Visual
	for i, f := range images {
		img, info, err := encoder.DecodeImage(f.Name, f.R, p.opt.Limits)
		if err != nil {
			return nil, nil, nil, err
		}
		if i == 0 {
			res.Image = info
		}
		rec.t.ImageDecode += rec.since()
		o := req.Image
		o.PromptImages = len(images) // the conversation's images (Python's batch_num_images)
		px, err := p.preprocess(img, o)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("encoder: preprocess %s: %w", f.Name, err)
		}
		rec.t.Preprocess += rec.since()
		if px, err = p.pruneTiles(px, req.Tiles); err != nil {
			return nil, nil, nil, fmt.Errorf("%w (image %s)", err, f.Name)
		}
		rec.t.TilesEncoded += px.Images
		for _, s := range px.Skip {
			if s {
				rec.t.TilesSkipped++
			}
		}
		rec.t.TilePrune += rec.since()
		v, err := p.encodeFor(rec, px, req)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w (image %s)", err, f.Name)
		}
		rec.t.Encode += rec.since()
		pxs = append(pxs, px)
		nVis = append(nVis, v.Features.Rows)
		vis = appendVisual(vis, v)
	}
	switch {
	case vis == nil:
		vis = &pruning.Visual{Features: pruning.Matrix{Cols: p.Spec.Text.Hidden}}
	case len(images) > 1:
		// several images: no single token grid nor tile layout
		vis.GridH, vis.GridW = 0, 0
		vis.Views, vis.TileRows, vis.TileCols = 0, 0, 0
		if asFrames(pxs, nVis) {
			vis.Frames = len(images) // the temporal methods see them as frames in order
		}
	}
	return pxs, nVis, vis, nil
}

// asFrames reports whether several images can be the temporal methods'
// frames (pruning.Visual.Frames): each one encoder image (not split into
// tiles) giving the same number of visual tokens, as frames of one video
// do. Images of different sizes (Qwen2-VL's grids follow each image) or
// split into tiles stay one token set.
func asFrames(pxs []models.Pixels, nVis []int) bool {
	for i, px := range pxs {
		if px.Images > 1 || nVis[i] == 0 || nVis[i] != nVis[0] {
			return false
		}
	}
	return len(pxs) > 1
}
