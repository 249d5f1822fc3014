package models

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vlmrun/vlmrun/chattemplate"
)

// The roles of a conversation's messages.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// ErrConversation is returned (wrapped) for a conversation that is
// malformed (Conversation.Validate) or that the model cannot take (no chat
// format, no image where the model needs one).
var ErrConversation = errors.New("conversation not supported")

// ErrNeedsImage is returned (wrapped, with ErrConversation) for a
// conversation without images to a model that cannot answer text alone.
var ErrNeedsImage = errors.New("the model needs an image")

// ErrTooManyImages is returned (wrapped, with ErrConversation) for more
// images than the model takes in one prompt.
var ErrTooManyImages = errors.New("too many images")

// Part is one piece of a message's content, in order: text, an image
// (Image set; Text is then empty) or a video (Video set, for a family
// whose chat format takes videos: Spec.ChatVideo).
type Part struct {
	Text  string
	Image bool
	Video bool
}

// TextPart, ImagePart and VideoPart build the three part kinds.
func TextPart(s string) Part { return Part{Text: s} }
func ImagePart() Part        { return Part{Image: true} }
func VideoPart() Part        { return Part{Video: true} }

// visual reports whether the part is an image or a video.
func (p Part) visual() bool { return p.Image || p.Video }

// Message is one turn of a conversation.
type Message struct {
	Role  string
	Parts []Part
}

// Conversation is a chat to be answered: system, user and assistant turns
// in order, the last one the user's. Its images are its image parts in
// conversation order; a family maps each to its own image tokens (Spec.
// BuildChat).
type Conversation []Message

// UserTurn is the conversation of one user message holding the images (n
// image parts) then text (none when empty), after a system message when
// system is not empty: what `vlmrun caption --system` and `vlmrun chat`
// send.
func UserTurn(system, text string, n int) Conversation {
	var c Conversation
	if system != "" {
		c = append(c, Message{Role: RoleSystem, Parts: []Part{TextPart(system)}})
	}
	u := Message{Role: RoleUser}
	for range n {
		u.Parts = append(u.Parts, ImagePart())
	}
	if text != "" {
		u.Parts = append(u.Parts, TextPart(text))
	}
	return append(c, u)
}

// Validate checks the conversation's shape: at least one message; roles
// system, user or assistant; images only in user messages; the last
// message the user's; every message with some content (an assistant turn
// may not be empty). Errors wrap ErrConversation.
func (c Conversation) Validate() error {
	if len(c) == 0 {
		return fmt.Errorf("%w: no messages", ErrConversation)
	}
	for i, m := range c {
		switch m.Role {
		case RoleSystem, RoleUser, RoleAssistant:
		default:
			return fmt.Errorf("%w: messages[%d]: unknown role %q (want system, user or assistant)", ErrConversation, i, m.Role)
		}
		if len(m.Parts) == 0 {
			return fmt.Errorf("%w: messages[%d] (%s) has no content", ErrConversation, i, m.Role)
		}
		for _, p := range m.Parts {
			if p.Image && p.Video {
				return fmt.Errorf("%w: messages[%d] has a part that is both an image and a video", ErrConversation, i)
			}
			if p.visual() && m.Role != RoleUser {
				return fmt.Errorf("%w: messages[%d] (%s) holds an image or a video; they go in user messages", ErrConversation, i, m.Role)
			}
		}
	}
	if last := c[len(c)-1].Role; last != RoleUser {
		return fmt.Errorf("%w: the last message must be the user's (got %s)", ErrConversation, last)
	}
	return nil
}

// Images counts the image parts.
func (c Conversation) Images() int {
	n := 0
	for _, m := range c {
		for _, p := range m.Parts {
			if p.Image {
				n++
			}
		}
	}
	return n
}

// Videos counts the video parts.
func (c Conversation) Videos() int {
	n := 0
	for _, m := range c {
		for _, p := range m.Parts {
			if p.Video {
				n++
			}
		}
	}
	return n
}

// Single reports whether the conversation is one user message, and
// returns its text (the text parts joined by newlines, trimmed) and its
// image count: the only shape a family without a chat format takes (a
// video part is not: ok is false).
func (c Conversation) Single() (text string, images int, ok bool) {
	if len(c) != 1 || c[0].Role != RoleUser {
		return "", 0, false
	}
	var texts []string
	for _, p := range c[0].Parts {
		switch {
		case p.Video:
			return "", 0, false
		case p.Image:
			images++
		default:
			texts = append(texts, p.Text)
		}
	}
	return strings.TrimSpace(strings.Join(texts, "\n")), images, true
}

// WithDefault returns the conversation with def as the last message's text
// when that message has images and no text that is not blank (its blank
// text parts are dropped and def follows its images): a family's default
// task, as an empty --prompt gives.
func (c Conversation) WithDefault(def string) Conversation {
	if len(c) == 0 {
		return c
	}
	last := c[len(c)-1]
	hasImage := false
	for _, p := range last.Parts {
		if !p.visual() && strings.TrimSpace(p.Text) != "" {
			return c
		}
		hasImage = hasImage || p.visual()
	}
	if !hasImage {
		return c
	}
	m := Message{Role: last.Role}
	for _, p := range last.Parts {
		if p.visual() {
			m.Parts = append(m.Parts, p)
		}
	}
	m.Parts = append(m.Parts, TextPart(def))
	out := append(Conversation(nil), c[:len(c)-1]...)
	return append(out, m)
}

// CheckText refuses text parts that hold one of the given token strings
// (a family's image placeholder: it would add visual-token slots no image
// fills).
func (c Conversation) CheckText(tokens ...string) error {
	for i, m := range c {
		for _, p := range m.Parts {
			for _, t := range tokens {
				if !p.visual() && strings.Contains(p.Text, t) {
					return fmt.Errorf("%w: messages[%d]: the text holds %s; images are image parts", ErrConversation, i, t)
				}
			}
		}
	}
	return nil
}

// Template returns the conversation as chat-template messages, every
// content a list of parts ({type: "image"} and {type: "text", text}), as
// transformers.js processors' apply_chat_template takes them.
func (c Conversation) Template() []chattemplate.Message {
	out := make([]chattemplate.Message, len(c))
	for i, m := range c {
		parts := make([]chattemplate.Part, len(m.Parts))
		for j, p := range m.Parts {
			switch {
			case p.Image:
				parts[j] = chattemplate.ImagePart()
			case p.Video:
				parts[j] = chattemplate.Part{Type: "video"}
			default:
				parts[j] = chattemplate.TextPart(p.Text)
			}
		}
		out[i] = chattemplate.Message{Role: m.Role, Parts: parts}
	}
	return out
}

// Render renders the conversation with the chat template and the
// generation prompt, and checks that it holds one imageToken per image.
func (c Conversation) Render(t *chattemplate.Chat, imageToken string) (string, error) {
	s, err := t.Apply(c.Template(), chattemplate.Options{AddGenerationPrompt: true})
	if err != nil {
		return "", fmt.Errorf("chat template %s: %w", t.Source, err)
	}
	if got, want := strings.Count(s, imageToken), c.Images(); got != want {
		return "", fmt.Errorf("chat template %s rendered %d %s placeholders for %d images", t.Source, got, imageToken, want)
	}
	return s, nil
}

// ExpandEach replaces the i-th occurrence of token in s by expand(i), for
// every occurrence in order (the text an expansion inserts is not searched
// again).
func ExpandEach(s, token string, expand func(i int) string) string {
	pieces := strings.Split(s, token)
	var b strings.Builder
	b.WriteString(pieces[0])
	for i, p := range pieces[1:] {
		b.WriteString(expand(i))
		b.WriteString(p)
	}
	return b.String()
}

// Encoder tokenizes text (special tokens added when asked).
type Encoder interface {
	Encode(string, bool) ([]int, error)
}

// TokenizePrompt tokenizes a rendered, expanded prompt (special tokens
// added) and records in ImagePos where the visual-token ids (any of
// visualIDs) are, in order; the caller checks their number.
func TokenizePrompt(tok Encoder, text string, visualIDs ...int) (Prompt, error) {
	ids, err := tok.Encode(text, true)
	if err != nil {
		return Prompt{}, fmt.Errorf("prompt: %w", err)
	}
	pr := Prompt{IDs: ids}
	for i, id := range ids {
		if slices.Contains(visualIDs, id) {
			pr.ImagePos = append(pr.ImagePos, i)
		}
	}
	return pr, nil
}

// PlaceImages tokenizes a rendered, expanded prompt and records where the
// image tokens (id imageID) are; it checks that they number sum(nVisual).
func PlaceImages(tok Encoder, text string, imageID int, nVisual []int) (Prompt, error) {
	pr, err := TokenizePrompt(tok, text, imageID)
	if err != nil {
		return Prompt{}, err
	}
	want := 0
	for _, n := range nVisual {
		want += n
	}
	if len(pr.ImagePos) != want {
		return pr, fmt.Errorf("the prompt has %d image tokens but the vision encoder gave %d features (%d images)",
			len(pr.ImagePos), want, len(nVisual))
	}
	return pr, nil
}

// ChatTemplate returns the folder's chat template (chattemplate.Load), or,
// when it has none, the family's built-in template text builtin, named
// source in errors.
func ChatTemplate(dir, builtin, source string) (*chattemplate.Chat, error) {
	c, err := chattemplate.Load(dir)
	if errors.Is(err, chattemplate.ErrNoTemplate) {
		return &chattemplate.Chat{Default: builtin, Source: source}, nil
	}
	return c, err
}
