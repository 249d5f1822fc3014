package qwen2vl

import (
	"fmt"
	"strings"

	"github.com/vlmrun/vlmrun/chattemplate"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/tokenizer"
)

// DefaultPrompt is the user text when none is given.
const DefaultPrompt = "Describe this image."

// The token strings of Qwen2VLProcessor and its chat template.
const (
	ImageToken       = "<|image_pad|>"
	VisionStartToken = "<|vision_start|>"
	VisionEndToken   = "<|vision_end|>"
)

// Chat is the rendering of Qwen2-VL-2B-Instruct's chat template for one
// user message holding an image then text, with the generation prompt
// (used when the folder has no template).
func Chat(text string) string {
	return "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n" +
		VisionStartToken + ImageToken + VisionEndToken + text + "<|im_end|>\n<|im_start|>assistant\n"
}

// Expand is Qwen2VLProcessor's expansion: the image token (one per image,
// in order) becomes grid_t·grid_h·grid_w / merge² copies.
func Expand(text string, grids []Grid, merge int) (string, error) {
	return expand(text, ImageToken, grids, merge)
}

// expand replaces each token (one per grid, in order) with its grid's
// visual-token count of copies.
func expand(text, token string, grids []Grid, merge int) (string, error) {
	if c := strings.Count(text, token); c != len(grids) {
		return "", fmt.Errorf("qwen2vl: the prompt has %d %s tokens for %d grids", c, token, len(grids))
	}
	var b strings.Builder
	for _, g := range grids {
		i := strings.Index(text, token)
		b.WriteString(text[:i])
		b.WriteString(strings.Repeat(token, g.Tokens(merge)))
		text = text[i+len(token):]
	}
	b.WriteString(text)
	return b.String(), nil
}

// prompter builds Qwen2-VL prompts.
type prompter struct {
	tok     *tokenizer.Tokenizer
	imageID int
	videoID int // -1: the folder has no video token
	merge   int
	tmpl    *chattemplate.Chat // nil: the folder has none (Chat)
	conv    *chattemplate.Chat // tmpl, or BuiltinTemplate
}

// text returns the prompt string before expansion: user text holding the
// image token is the whole prompt, as given; other text (empty: the
// default) goes through the chat template as one user message holding the
// image then the text, with the generation prompt.
func (p *prompter) text(user string) (string, error) {
	if strings.Contains(user, ImageToken) {
		return user, nil
	}
	if strings.TrimSpace(user) == "" {
		user = DefaultPrompt
	}
	if p.tmpl == nil {
		return Chat(user), nil
	}
	s, err := p.tmpl.Apply([]chattemplate.Message{{Role: "user",
		Parts: []chattemplate.Part{chattemplate.ImagePart(), chattemplate.TextPart(user)}}},
		chattemplate.Options{AddGenerationPrompt: true})
	if err != nil {
		return "", fmt.Errorf("qwen2vl: %s: %w", p.tmpl.Source, err)
	}
	return s, nil
}

// build tokenizes the prompt for the image grids (one image: transformers.js
// 4.3.1's processor takes one image per call, model-formats.md §12.5) and
// checks it holds one image token per visual token.
func (p *prompter) build(user string, grids []Grid, nVisual int) (models.Prompt, error) {
	if len(grids) != 1 {
		return models.Prompt{}, fmt.Errorf("qwen2vl: one image per prompt (got %d)", len(grids))
	}
	s, err := p.text(user)
	if err != nil {
		return models.Prompt{}, err
	}
	if s, err = Expand(s, grids, p.merge); err != nil {
		return models.Prompt{}, err
	}
	pr, err := models.TokenizePrompt(p.tok, s, p.imageID)
	if err != nil {
		return models.Prompt{}, fmt.Errorf("qwen2vl: %w", err)
	}
	if len(pr.ImagePos) != nVisual {
		return pr, fmt.Errorf("qwen2vl: the prompt has %d %s tokens but the vision encoder gave %d features",
			len(pr.ImagePos), ImageToken, nVisual)
	}
	return pr, nil
}

// BuiltinTemplate is Qwen/Qwen2-VL-2B-Instruct's chat template, which
// renders conversations for a folder without one: "You are a helpful
// assistant." as the system message unless the conversation starts with
// its own, then "<|im_start|>ROLE\n", the parts in order (an image as
// <|vision_start|><|image_pad|><|vision_end|>) and "<|im_end|>\n" per
// message; "<|im_start|>assistant\n" as the generation prompt.
const BuiltinTemplate = "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}" +
	"{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
	"{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}" +
	"<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in " +
	"content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}" +
	"Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] " +
	"== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}" +
	"Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content " +
	"%}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}" +
	"<|im_start|>assistant\n{% endif %}"

// buildChat builds a conversation's prompt (models.Spec.BuildChat): the
// template's rendering with each <|image_pad|>, in order, expanded for its
// image's grid as Qwen2VLProcessor does. Several images take one grid
// each, in conversation order (Python's processor; transformers.js 4.3.1's
// fails on two images in one call); none is a text-only prompt.
func (p *prompter) buildChat(c models.Conversation, grids []Grid, nVisual []int) (models.Prompt, error) {
	if len(grids) != c.Images() || len(nVisual) != len(grids) {
		return models.Prompt{}, fmt.Errorf("qwen2vl: %d images, %d grids, %d encoded", c.Images(), len(grids), len(nVisual))
	}
	if err := c.CheckText(ImageToken, VisionStartToken, VisionEndToken); err != nil {
		return models.Prompt{}, fmt.Errorf("qwen2vl: %w", err)
	}
	s, err := c.WithDefault(DefaultPrompt).Render(p.conv, ImageToken)
	if err != nil {
		return models.Prompt{}, fmt.Errorf("qwen2vl: %w", err)
	}
	if s, err = Expand(s, grids, p.merge); err != nil {
		return models.Prompt{}, err
	}
	pr, err := models.PlaceImages(p.tok, s, p.imageID, nVisual)
	if err != nil {
		return pr, fmt.Errorf("qwen2vl: %w", err)
	}
	return pr, nil
}

// VideoChat is the rendering of Qwen2-VL-2B-Instruct's chat template for
// one user message holding a video then text, with the generation prompt
// (used when the folder has no template).
func VideoChat(text string) string {
	return "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n" +
		VisionStartToken + VideoToken + VisionEndToken + text + "<|im_end|>\n<|im_start|>assistant\n"
}

// buildVideo builds the prompt of one user message holding a video (grid
// g) then the user's text (models.Spec.BuildVideoPrompt): the chat
// template with a video part (Qwen2VLProcessor's chat template renders it
// <|vision_start|><|video_pad|><|vision_end|>), the video token expanded
// to g's visual-token count, tokenized; the video's tokens are the
// prompt's visual tokens (Prompt.ImagePos). User text holding the video
// token is the whole prompt, as given.
func (p *prompter) buildVideo(user string, g Grid, nVisual int) (models.Prompt, error) {
	if p.videoID < 0 {
		return models.Prompt{}, fmt.Errorf("qwen2vl: config.json has no video_token_id")
	}
	var s string
	switch {
	case strings.Contains(user, VideoToken):
		s = user
	case p.tmpl == nil:
		s = VideoChat(orDefault(user, DefaultVideoPrompt))
	default:
		var err error
		s, err = p.tmpl.Apply([]chattemplate.Message{{Role: "user",
			Parts: []chattemplate.Part{{Type: "video"}, chattemplate.TextPart(orDefault(user, DefaultVideoPrompt))}}},
			chattemplate.Options{AddGenerationPrompt: true})
		if err != nil {
			return models.Prompt{}, fmt.Errorf("qwen2vl: %s: %w", p.tmpl.Source, err)
		}
	}
	if strings.Contains(s, ImageToken) {
		return models.Prompt{}, fmt.Errorf("qwen2vl: a video prompt with an image token %s", ImageToken)
	}
	s, err := ExpandVideo(s, []Grid{g}, p.merge)
	if err != nil {
		return models.Prompt{}, err
	}
	pr, err := models.TokenizePrompt(p.tok, s, p.videoID)
	if err != nil {
		return models.Prompt{}, fmt.Errorf("qwen2vl: %w", err)
	}
	if len(pr.ImagePos) != nVisual {
		return pr, fmt.Errorf("qwen2vl: the video prompt has %d %s tokens but the vision encoder gave %d features",
			len(pr.ImagePos), VideoToken, nVisual)
	}
	return pr, nil
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
