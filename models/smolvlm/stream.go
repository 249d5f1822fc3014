package smolvlm

import (
	"fmt"
	"math"
	"strings"

	"github.com/vlmrun/vlmrun/models"
)

// The streamed video prompt (models.StreamPrompt, vlmrun caption
// --stream-video) is SmolVLM2's video prompt (video.go) without its intro
// sentence, which names the frame count and the video's length — neither
// is known while frames arrive:
//
//	<|im_start|>User:  |  \nFrame from MM:SS:<fake_token_around_image><global-img><image>×seq<fake_token_around_image>  (per frame)  |  \n\n{question}<end_of_utterance>\nAssistant:
//
// Each piece is tokenized on its own (the prefix with the tokenizer's
// special tokens, the others without), so the ids of the frames seen so
// far never change as frames are added. Decided: Idefics3 folders (SmolVLM
// v1, no video prompt) stream with the same layout; an empty question is
// DefaultVideoPrompt.

// streamPrefix is the text before the first frame: the video template's
// role line for a message that starts with a video ("User" then ": ").
const streamPrefix = "<|im_start|>User: "

func (p *prompter) streamPrompt() (*models.StreamPrompt, error) {
	prefix, err := p.tok.Encode(streamPrefix, true)
	if err != nil {
		return nil, fmt.Errorf("smolvlm: stream prompt: %w", err)
	}
	return &models.StreamPrompt{Prefix: prefix, Frame: p.streamFrame, Suffix: p.streamSuffix}, nil
}

// streamFrame is one frame's block: its timestamp line and one unsplit
// image of nVisual <image> tokens.
func (p *prompter) streamFrame(t float64, nVisual int) ([]int, error) {
	if t < 0 || math.IsNaN(t) || math.IsInf(t, 0) {
		return nil, fmt.Errorf("smolvlm: frame time %v", t)
	}
	if nVisual < 0 {
		return nil, fmt.Errorf("smolvlm: %d visual tokens in a frame", nVisual)
	}
	text := fmt.Sprintf("\nFrame from %02d:%02d:%s", int(math.Floor(t/60)), int(math.Mod(t, 60)), expand(nVisual, 0, 0))
	ids, err := p.tok.Encode(text, false)
	if err != nil {
		return nil, fmt.Errorf("smolvlm: stream frame: %w", err)
	}
	n := 0
	for _, id := range ids {
		if id == p.imageID {
			n++
		}
	}
	if n != nVisual {
		return nil, fmt.Errorf("smolvlm: a frame block has %d %s tokens, want %d", n, imageToken, nVisual)
	}
	return ids, nil
}

// streamSuffix is the text after the last frame: the video prompt's
// outtro, the question, the end of the turn and the answer's role.
func (p *prompter) streamSuffix(question string) ([]int, error) {
	for _, tok := range []string{imageToken, videoToken} {
		if strings.Contains(question, tok) {
			return nil, fmt.Errorf("smolvlm: the prompt text must not contain %s", tok)
		}
	}
	if strings.TrimSpace(question) == "" {
		question = DefaultVideoPrompt
	}
	ids, err := p.tok.Encode("\n\n"+question+"<end_of_utterance>\nAssistant:", false)
	if err != nil {
		return nil, fmt.Errorf("smolvlm: stream suffix: %w", err)
	}
	return ids, nil
}
