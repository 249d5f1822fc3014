package llava

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/vlmrun/vlmrun/chattemplate"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/tokenizer"
)

// DefaultPrompt is the user text when none is given.
const DefaultPrompt = "Describe this image."

// Chat is LLaVA-1.5's conversation format for one user turn with an image
// (the "USER: <image>\n... ASSISTANT:" prompt of transformers.js's LLaVA
// examples, and what llava-hf's chat_template.json renders for a user
// message holding an image then text, with the generation prompt).
func Chat(imageToken, text string) string {
	return "USER: " + imageToken + "\n" + text + " ASSISTANT:"
}

// Counts are the numbers of <image> tokens one image takes.
//
// LlavaProcessor in transformers.js 4.3.1 replaces the first image_token of
// the prompt with floor(H/patch_size)·floor(W/patch_size) +
// num_additional_image_tokens copies (H×W: pixel_values after the crop):
// TJS. Python's LlavaProcessor subtracts one more for
// vision_feature_select_strategy "default" (the CLS row the model drops):
// Python. With llava-hf's published values (patch 14, 336 px, 1 additional
// token, "default") that is 577 against 576; the vision graph's feature
// count decides which one a given export needs (model-formats.md §12.6).
type Counts struct {
	ImageToken   string
	Patches      int // floor(H/p)·floor(W/p)
	TJS, Python  int
	GridH, GridW int // the patch grid
}

func newCounts(c config, pc processorConfig, W, H int) (Counts, error) {
	var k Counts
	if pc.ImageToken == nil || *pc.ImageToken == "" {
		return k, fmt.Errorf("processor_config.json: no image_token")
	}
	k.ImageToken = *pc.ImageToken
	p := c.Vision.PatchSize
	if pc.PatchSize != nil {
		p = *pc.PatchSize
	}
	if p <= 0 {
		return k, fmt.Errorf("processor_config.json: no patch_size (nor vision_config.patch_size)")
	}
	if pc.Additional == nil {
		// JavaScript would add undefined: NaN copies, i.e. the image
		// token disappears; refuse instead.
		return k, fmt.Errorf("processor_config.json: no num_additional_image_tokens")
	}
	k.GridH, k.GridW = H/p, W/p
	k.Patches = k.GridH * k.GridW
	k.TJS = k.Patches + *pc.Additional
	k.Python = k.TJS
	strategy := pc.SelectStrategy
	if strategy == "" {
		strategy = c.SelectStrategy
	}
	if strategy == "default" {
		k.Python--
	}
	if k.Patches <= 0 || k.Python <= 0 {
		return k, fmt.Errorf("processor_config.json: %d×%d pixels with patch_size %d give no image tokens", W, H, p)
	}
	if len(c.FeatureLayer) > 0 {
		var one int
		var many []int
		if json.Unmarshal(c.FeatureLayer, &one) != nil && json.Unmarshal(c.FeatureLayer, &many) != nil {
			return k, fmt.Errorf("config.json: vision_feature_layer %s is neither a layer nor a list", c.FeatureLayer)
		}
		// The layer (or the concatenated layers) only changes the features'
		// values, computed inside vision_encoder; their count stays.
	}
	return k, nil
}

// prompter builds LLaVA prompts.
type prompter struct {
	tok     *tokenizer.Tokenizer
	imageID int
	counts  Counts
	conv    *chattemplate.Chat // the folder's chat template, or BuiltinTemplate
}

// text returns the prompt string before expansion: user text holding the
// image token is the whole prompt, as given; other text (empty: the
// default) goes into LLaVA-1.5's conversation format.
func (p *prompter) text(user string) (string, error) {
	it := p.counts.ImageToken
	switch n := strings.Count(user, it); {
	case n > 1:
		return "", fmt.Errorf("llava: the prompt has %d %s tokens; one image takes one", n, it)
	case n == 1:
		return user, nil
	}
	if strings.TrimSpace(user) == "" {
		user = DefaultPrompt
	}
	return Chat(it, user), nil
}

// Expand is LlavaProcessor's expansion: the first image token of text
// becomes n copies.
func Expand(text, imageToken string, n int) string {
	return strings.Replace(text, imageToken, strings.Repeat(imageToken, n), 1)
}

// build tokenizes the prompt for an image whose vision graph gave nVisual
// features: one <image> per feature. nVisual must be one of the processor's
// counts (Counts): transformers.js's, or Python's where an export drops the
// CLS row as the Python model does (transformers.js then fails with
// "Number of tokens and features do not match").
func (p *prompter) build(user string, nVisual int) (models.Prompt, error) {
	k := p.counts
	if nVisual != k.TJS && nVisual != k.Python {
		return models.Prompt{}, fmt.Errorf("llava: the vision encoder gave %d features; LlavaProcessor expands %s to %d (transformers.js) or %d (Python) for %d patches",
			nVisual, k.ImageToken, k.TJS, k.Python, k.Patches)
	}
	s, err := p.text(user)
	if err != nil {
		return models.Prompt{}, err
	}
	pr, err := models.TokenizePrompt(p.tok, Expand(s, k.ImageToken, nVisual), p.imageID)
	if err != nil {
		return models.Prompt{}, fmt.Errorf("llava: %w", err)
	}
	if len(pr.ImagePos) != nVisual {
		return pr, fmt.Errorf("llava: the prompt has %d %s tokens but the vision encoder gave %d features",
			len(pr.ImagePos), k.ImageToken, nVisual)
	}
	return pr, nil
}

// BuiltinTemplate is llava-hf/llava-1.5-7b-hf's chat template
// (chat_template.json), which renders conversations for a folder without
// one: per message "ROLE: " (none for a system message, whose text comes
// bare), its images as "<image>\n", then its texts each followed by a
// space; "ASSISTANT:" as the generation prompt.
const BuiltinTemplate = "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}" +
	"{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}" +
	"{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}" +
	"{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}" +
	"{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}" +
	"{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}" +
	"{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"

// buildChat builds a conversation's prompt (models.Spec.BuildChat): the
// template's rendering with every image token, in order, expanded to its
// image's feature count. (transformers.js 4.3.1's LlavaProcessor expands
// only the first image token of a text; with one image that is the same,
// and several images follow Python's LlavaProcessor, which expands each.)
func (p *prompter) buildChat(c models.Conversation, nVisual []int) (models.Prompt, error) {
	k := p.counts
	if len(nVisual) != c.Images() {
		return models.Prompt{}, fmt.Errorf("llava: %d images, %d encoded", c.Images(), len(nVisual))
	}
	for _, n := range nVisual {
		if n != k.TJS && n != k.Python {
			return models.Prompt{}, fmt.Errorf("llava: the vision encoder gave %d features; LlavaProcessor expands %s to %d (transformers.js) or %d (Python) for %d patches",
				n, k.ImageToken, k.TJS, k.Python, k.Patches)
		}
	}
	if err := c.CheckText(k.ImageToken); err != nil {
		return models.Prompt{}, fmt.Errorf("llava: %w", err)
	}
	s, err := c.WithDefault(DefaultPrompt).Render(p.conv, k.ImageToken)
	if err != nil {
		return models.Prompt{}, fmt.Errorf("llava: %w", err)
	}
	s = models.ExpandEach(s, k.ImageToken, func(i int) string { return strings.Repeat(k.ImageToken, nVisual[i]) })
	pr, err := models.PlaceImages(p.tok, s, p.imageID, nVisual)
	if err != nil {
		return pr, fmt.Errorf("llava: %w", err)
	}
	return pr, nil
}
