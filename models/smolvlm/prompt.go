package smolvlm

import (
	"fmt"
	"strings"

	"github.com/vlmrun/vlmrun/chattemplate"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/tokenizer"
)

// DefaultPrompt is the user text when none is given.
const DefaultPrompt = "Can you describe this image?"

// The token strings of the Idefics3 processor (looked up by name in the
// vocabulary when the folder is loaded).
const (
	imageToken  = "<image>"
	fakeToken   = "<fake_token_around_image>"
	globalToken = "<global-img>"
)

// prompter builds SmolVLM prompts.
type prompter struct {
	tok         *tokenizer.Tokenizer
	imageID     int
	seqLen      int // visual tokens per tile (processor_config image_seq_len)
	defaultText string
	// tmpl is the folder's chat template (nil: the folder has none and
	// the prompt is the hard-coded rendering of SmolVLM's template).
	tmpl *chattemplate.Chat
	// conv renders conversations: tmpl, or BuiltinTemplate.
	conv *chattemplate.Chat
}

// BuiltinTemplate is the chat template of HuggingFaceTB/SmolVLM-256M-Instruct's
// tokenizer_config.json, which renders conversations for a folder without
// one: "<|im_start|>" once, then per message "Role:" (": " when the
// content does not start with an image), its parts in order (an image as
// <image>) and "<end_of_utterance>\n"; "Assistant:" as the generation
// prompt. A system message is rendered as a "System: ..." turn.
const BuiltinTemplate = "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}" +
	"{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}" +
	"{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}" +
	"{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n" +
	"{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"

// buildChat builds a conversation's prompt (models.Spec.BuildChat): the
// template's rendering, each <image> expanded for its image's tiles (and
// skipped tiles) as the Idefics3Processor expands them; a last user
// message with images and no text gets the default text.
func (p *prompter) buildChat(c models.Conversation, px []models.Pixels, nVisual []int) (models.Prompt, error) {
	if len(px) != c.Images() || len(nVisual) != len(px) {
		return models.Prompt{}, fmt.Errorf("smolvlm: %d images, %d preprocessed, %d encoded", c.Images(), len(px), len(nVisual))
	}
	if err := c.CheckText(imageToken); err != nil {
		return models.Prompt{}, fmt.Errorf("smolvlm: %w", err)
	}
	for _, q := range px {
		if q.Skip != nil && (len(q.Skip) != q.Rows*q.Cols+1 || q.Skip[len(q.Skip)-1]) {
			return models.Prompt{}, fmt.Errorf("smolvlm: %d tile skip flags for a %d×%d grid plus the global image (never skipped)",
				len(q.Skip), q.Rows, q.Cols)
		}
	}
	s, err := c.WithDefault(p.defaultText).Render(p.conv, imageToken)
	if err != nil {
		return models.Prompt{}, fmt.Errorf("smolvlm: %w", err)
	}
	text := models.ExpandEach(s, imageToken, func(i int) string {
		return expandSkip(p.seqLen, px[i].Rows, px[i].Cols, px[i].Skip)
	})
	pr, err := models.PlaceImages(p.tok, text, p.imageID, nVisual)
	if err != nil {
		return pr, fmt.Errorf("smolvlm: %w", err)
	}
	return pr, nil
}

// chat is the rendering of SmolVLM's chat template (tokenizer_config.json)
// for one user message holding an image followed by text, with the
// generation prompt, used when the folder has no template: "<|im_start|>User:<image>TEXT<end_of_utterance>\nAssistant:".
// (The role is capitalized and followed by ":" alone because the message
// starts with an image.)
func chat(text string) string {
	return "<|im_start|>User:" + imageToken + text + "<end_of_utterance>\nAssistant:"
}

// expand is the Idefics3Processor's image-token expansion for one image
// with a rows×cols tile grid (0×0: a single image).
func expand(seqLen, rows, cols int) string { return expandSkip(seqLen, rows, cols, nil) }

// expandSkip is expand with tile pruning: a grid tile whose skip flag is
// set contributes nothing, neither its <fake_token_around_image><row_r_col_c>
// marker nor its <image> tokens; each row still ends with its newline, so
// the kept tiles keep their own markers and the rows their count (the
// documented rule, models/smolvlm/README.md "Tile pruning"). The global
// image is never skipped.
func expandSkip(seqLen, rows, cols int, skip []bool) string {
	img := strings.Repeat(imageToken, seqLen)
	if rows == 0 && cols == 0 {
		return fakeToken + globalToken + img + fakeToken
	}
	var b strings.Builder
	for r := 1; r <= rows; r++ {
		for c := 1; c <= cols; c++ {
			if i := (r-1)*cols + c - 1; i < len(skip) && skip[i] {
				continue
			}
			fmt.Fprintf(&b, "%s<row_%d_col_%d>%s", fakeToken, r, c, img)
		}
		b.WriteByte('\n')
	}
	b.WriteString("\n" + fakeToken + globalToken + img + fakeToken)
	return b.String()
}

// text returns the full prompt string for user text (empty: the default)
// and a rows×cols grid.
func (p *prompter) text(user string, rows, cols int) string { return p.textSkip(user, rows, cols, nil) }

// textSkip is text with skipped tiles (see expandSkip).
func (p *prompter) textSkip(user string, rows, cols int, skip []bool) string {
	s, _ := p.render(user, rows, cols, skip)
	return s
}

// render renders the conversation (one user message: the image, then the
// text) with the folder's chat template as transformers.js's
// processor.apply_chat_template does, or with chat where the folder has
// none, and expands the image placeholder.
func (p *prompter) render(user string, rows, cols int, skip []bool) (string, error) {
	if strings.TrimSpace(user) == "" {
		user = p.defaultText
	}
	s := chat(user)
	if p.tmpl != nil {
		var err error
		s, err = p.tmpl.Apply([]chattemplate.Message{{Role: "user",
			Parts: []chattemplate.Part{chattemplate.ImagePart(), chattemplate.TextPart(user)}}},
			chattemplate.Options{AddGenerationPrompt: true})
		if err != nil {
			return "", fmt.Errorf("smolvlm: %s: %w", p.tmpl.Source, err)
		}
	}
	i := strings.Index(s, imageToken)
	if i < 0 || strings.Count(s, imageToken) != 1 {
		return "", fmt.Errorf("smolvlm: the chat template rendered %d %s placeholders for one image", strings.Count(s, imageToken), imageToken)
	}
	return s[:i] + expandSkip(p.seqLen, rows, cols, skip) + s[i+len(imageToken):], nil
}

// build tokenizes the prompt and checks that it holds one placeholder per
// visual token.
func (p *prompter) build(user string, px models.Pixels, nVisual int) (models.Prompt, error) {
	if strings.Contains(user, imageToken) {
		return models.Prompt{}, fmt.Errorf("smolvlm: the prompt text must not contain %s (the image goes first)", imageToken)
	}
	if px.Images > 1 && px.Rows == 0 && px.Cols == 0 && px.Skip == nil {
		return p.buildImages(user, px.Images, nVisual)
	}
	if px.Skip != nil {
		if len(px.Skip) != px.Rows*px.Cols+1 {
			return models.Prompt{}, fmt.Errorf("smolvlm: %d tile skip flags for a %d×%d grid plus the global image",
				len(px.Skip), px.Rows, px.Cols)
		}
		if px.Skip[len(px.Skip)-1] {
			return models.Prompt{}, fmt.Errorf("smolvlm: the global image cannot be skipped")
		}
	}
	text, err := p.render(user, px.Rows, px.Cols, px.Skip)
	if err != nil {
		return models.Prompt{}, err
	}
	pr, err := models.TokenizePrompt(p.tok, text, p.imageID)
	if err != nil {
		return models.Prompt{}, fmt.Errorf("smolvlm: %w", err)
	}
	if len(pr.ImagePos) != nVisual {
		return pr, fmt.Errorf("smolvlm: the prompt has %d %s tokens (%d tiles × %d) but the vision encoder gave %d features",
			len(pr.ImagePos), imageToken, px.Images, p.seqLen, nVisual)
	}
	return pr, nil
}

// buildImages is build for several unsplit images in one user message (the
// frames of a sequence): the message holds n image parts, then the text, as
// transformers.js's processor.apply_chat_template renders them, and every
// <image> placeholder becomes one single-image block
// (<fake_token_around_image><global-img><image>×seq<fake_token_around_image>).
func (p *prompter) buildImages(user string, n, nVisual int) (models.Prompt, error) {
	if strings.TrimSpace(user) == "" {
		user = p.defaultText
	}
	s := "<|im_start|>User:" + strings.Repeat(imageToken, n) + user + "<end_of_utterance>\nAssistant:"
	if p.tmpl != nil {
		parts := make([]chattemplate.Part, 0, n+1)
		for range n {
			parts = append(parts, chattemplate.ImagePart())
		}
		var err error
		s, err = p.tmpl.Apply([]chattemplate.Message{{Role: "user", Parts: append(parts, chattemplate.TextPart(user))}},
			chattemplate.Options{AddGenerationPrompt: true})
		if err != nil {
			return models.Prompt{}, fmt.Errorf("smolvlm: %s: %w", p.tmpl.Source, err)
		}
	}
	if c := strings.Count(s, imageToken); c != n {
		return models.Prompt{}, fmt.Errorf("smolvlm: the chat template rendered %d %s placeholders for %d images", c, imageToken, n)
	}
	text := strings.ReplaceAll(s, imageToken, expand(p.seqLen, 0, 0))
	pr, err := models.TokenizePrompt(p.tok, text, p.imageID)
	if err != nil {
		return models.Prompt{}, fmt.Errorf("smolvlm: %w", err)
	}
	if len(pr.ImagePos) != nVisual {
		return pr, fmt.Errorf("smolvlm: the prompt has %d %s tokens (%d images × %d) but the vision encoder gave %d features",
			len(pr.ImagePos), imageToken, n, p.seqLen, nVisual)
	}
	return pr, nil
}
