package llavaonevision

import (
	"fmt"
	"strings"

	"github.com/vlmrun/vlmrun/chattemplate"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/tokenizer"
)

// DefaultPrompt is the user text when none is given.
const DefaultPrompt = "Describe this image."

// BuiltinTemplate is llava-hf/llava-onevision-qwen2-0.5b-ov-hf's chat
// template (chat_template.json), used for a folder without one: per message
// "<|im_start|>ROLE ", its images as "<image>" (videos as "<video>"), its
// texts each after "\n", then "<|im_end|>"; "<|im_start|>assistant\n" as
// the generation prompt.
const BuiltinTemplate = "{% for message in messages %}{{'<|im_start|>' + message['role'] + ' '}}{# Render all images first #}" +
	"{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>' }}{% endfor %}" +
	"{# Render all video then #}{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}" +
	"{{ '<video>' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}" +
	"{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ '\n' + content['text'] }}" +
	"{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}" +
	"{% generation %}{{ '\n' + content['text'] }}{% endgeneration %}{% endfor %}{% endif %}{{'<|im_end|>'}}" +
	"{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

// prompter builds LLaVA-OneVision prompts.
type prompter struct {
	tok     *tokenizer.Tokenizer
	imageID int
	layout  Layout
	tmpl    *chattemplate.Chat // the folder's template, or BuiltinTemplate
	// newline, when set, is image_newline for Python's anyres layout: the
	// counts then come from each image's Pixels.Layout.
	newline []float32
}

// imageCount is what one image puts into the prompt: slots image tokens,
// of which visual carry the vision graph's (packed) rows; in Python's
// layout the others are newline rows (layout's IsNewline).
type imageCount struct {
	visual, slots int
	layout        *Anyres
}

// counts returns what each image of pxs puts into the prompt: the
// squashed grid of every image (transformers.js's layout), or each image's
// anyres layout (Python's: the full layout for an image alone, BaseOnly for
// each of several). A Pixels of several images without a layout
// (pipeline.CaptionFrames' concatenation) is that many BaseOnly images.
func (p *prompter) counts(pxs []models.Pixels) ([]imageCount, error) {
	var n []imageCount
	for _, px := range pxs {
		if p.newline == nil {
			for range max(px.Images, 1) {
				n = append(n, imageCount{visual: p.layout.Tokens(), slots: p.layout.Tokens()})
			}
			continue
		}
		a, ok := px.Layout.(Anyres)
		switch {
		case !ok && px.Layout == nil && px.Images > 1:
			a = BaseOnly(p.layout.GridH)
			for range px.Images {
				n = append(n, imageCount{visual: a.Visual(), slots: a.Tokens(), layout: &a})
			}
			continue
		case !ok:
			return nil, fmt.Errorf("llavaonevision: an image without its anyres layout")
		}
		n = append(n, imageCount{visual: a.Visual(), slots: a.Tokens(), layout: &a})
	}
	for _, c := range n {
		if p.newline != nil && c.layout.Several() != (len(n) > 1) {
			return nil, fmt.Errorf("llavaonevision: %d images in the prompt, but an image was preprocessed for %s (Python's layout differs: the full anyres layout for an image alone, the base and one newline for each of several)",
				len(n), map[bool]string{true: "a prompt of several", false: "a prompt of its own"}[c.layout.Several()])
		}
	}
	return n, nil
}

// place tokenizes an expanded prompt and finds its image slots: in order,
// each image's slots are visual rows (Prompt.ImagePos) or, in Python's
// layout, newline rows (Prompt.Fixed: image_newline, never pruned).
func (p *prompter) place(text string, counts []imageCount) (models.Prompt, error) {
	ids, err := p.tok.Encode(text, true)
	if err != nil {
		return models.Prompt{}, fmt.Errorf("llavaonevision: prompt: %w", err)
	}
	var slots []int
	for i, id := range ids {
		if id == p.imageID {
			slots = append(slots, i)
		}
	}
	want := 0
	for _, c := range counts {
		want += c.slots
	}
	pr := models.Prompt{IDs: ids}
	if len(slots) != want {
		return pr, fmt.Errorf("llavaonevision: the prompt has %d %s tokens, want %d for %d images",
			len(slots), p.layout.ImageToken, want, len(counts))
	}
	for _, c := range counts {
		for k, pos := range slots[:c.slots] {
			if c.layout != nil && c.layout.IsNewline(k) {
				pr.Fixed = append(pr.Fixed, models.FixedRow{Pos: pos, Embed: p.newline})
			} else {
				pr.ImagePos = append(pr.ImagePos, pos)
			}
		}
		slots = slots[c.slots:]
	}
	return pr, nil
}

// text returns the prompt string before expansion for images images: user
// text holding the image token (once per image) is the whole prompt, as
// given; other text (empty: the default) becomes one user message holding
// the images then the text, rendered with the chat template and the
// generation prompt (what transformers.js's tokenizer.apply_chat_template
// renders from tokenizer_config.json's template).
func (p *prompter) text(user string, images int) (string, error) {
	it := p.layout.ImageToken
	if n := strings.Count(user, it); n > 0 {
		if n != images {
			return "", fmt.Errorf("llavaonevision: the prompt has %d %s tokens for %d images", n, it, images)
		}
		return user, nil
	}
	if strings.TrimSpace(user) == "" {
		user = DefaultPrompt
	}
	parts := make([]chattemplate.Part, 0, images+1)
	for range images {
		parts = append(parts, chattemplate.ImagePart())
	}
	s, err := p.tmpl.Apply([]chattemplate.Message{{Role: "user", Parts: append(parts, chattemplate.TextPart(user))}},
		chattemplate.Options{AddGenerationPrompt: true})
	if err != nil {
		return "", fmt.Errorf("llavaonevision: %s: %w", p.tmpl.Source, err)
	}
	if n := strings.Count(s, it); n != images {
		return "", fmt.Errorf("llavaonevision: %s rendered %d %s placeholders for %d images", p.tmpl.Source, n, it, images)
	}
	return s, nil
}

// Expand is the caller's expansion transformers.js 4.3.1 leaves to the
// user: every image token becomes n copies (n: the features one image
// gives).
func Expand(text, imageToken string, n int) string {
	return strings.ReplaceAll(text, imageToken, strings.Repeat(imageToken, n))
}

// build tokenizes the prompt for the images of px whose vision graph gave
// nVisual features in all: each image's block of image tokens in prompt
// order.
func (p *prompter) build(user string, px models.Pixels, nVisual int) (models.Prompt, error) {
	l := p.layout
	if px.Images < 1 {
		return models.Prompt{}, fmt.Errorf("llavaonevision: no image")
	}
	counts, err := p.counts([]models.Pixels{px})
	if err != nil {
		return models.Prompt{}, err
	}
	want := 0
	for _, c := range counts {
		want += c.visual
	}
	if nVisual != want {
		return models.Prompt{}, fmt.Errorf("llavaonevision: the vision encoder gave %d features for %d images; each image should give %d (%d×%d patches of %d px)",
			nVisual, len(counts), counts[0].visual, l.GridH, l.GridW, l.Patch)
	}
	s, err := p.text(user, len(counts))
	if err != nil {
		return models.Prompt{}, err
	}
	return p.place(models.ExpandEach(s, l.ImageToken, func(i int) string { return strings.Repeat(l.ImageToken, counts[i].slots) }), counts)
}

// buildChat builds a conversation's prompt (models.Spec.BuildChat): the
// chat template's rendering with the generation prompt (images render as
// the template places them: first in their message, as llava-hf's
// template does), every image token, in order, expanded to its image's
// feature count. transformers.js 4.3.1 has no LlavaOnevisionProcessor, so
// this is what its caller does: the tokenizer's apply_chat_template, then
// the expansion (scripts/transformersjs-ref/chat.js, expand_token).
// Without images the rendering is only tokenized.
func (p *prompter) buildChat(c models.Conversation, pxs []models.Pixels, nVisual []int) (models.Prompt, error) {
	l := p.layout
	if len(nVisual) != c.Images() || len(pxs) != len(nVisual) {
		return models.Prompt{}, fmt.Errorf("llavaonevision: %d images, %d encoded (%d preprocessed)", c.Images(), len(nVisual), len(pxs))
	}
	counts, err := p.counts(pxs)
	if err != nil {
		return models.Prompt{}, err
	}
	for i, n := range nVisual {
		if n != counts[i].visual {
			return models.Prompt{}, fmt.Errorf("llavaonevision: the vision encoder gave %d features for image %d; each image should give %d (%d×%d patches of %d px)",
				n, i+1, counts[i].visual, l.GridH, l.GridW, l.Patch)
		}
	}
	if err := c.CheckText(l.ImageToken); err != nil {
		return models.Prompt{}, fmt.Errorf("llavaonevision: %w", err)
	}
	s, err := c.WithDefault(DefaultPrompt).Render(p.tmpl, l.ImageToken)
	if err != nil {
		return models.Prompt{}, fmt.Errorf("llavaonevision: %w", err)
	}
	s = models.ExpandEach(s, l.ImageToken, func(i int) string { return strings.Repeat(l.ImageToken, counts[i].slots) })
	return p.place(s, counts)
}
