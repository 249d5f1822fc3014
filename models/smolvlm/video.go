package smolvlm

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/vlmrun/vlmrun/chattemplate"
	"github.com/vlmrun/vlmrun/models"
)

// SmolVLM2's video prompt, as transformers' Python SmolVLMProcessor builds
// it (transformers.js 4.3.1 has no SmolVLM video processor). Sources:
// src/transformers/models/smolvlm/processing_smolvlm.py (process_video,
// apply_chat_template, DEFAULT_CHAT_TEMPLATE) and video_processing_smolvlm.py
// (DEFAULT_VIDEO_INTRO, FRAME_TIMESTAMP_MESSAGE, DEFAULT_MEDIA_OUTTRO), read
// at huggingface/transformers commits 00964605 and 06053b84.
//
//   - A conversation with a video is rendered with the processor's
//     DEFAULT_CHAT_TEMPLATE whatever the folder's template (Python's
//     apply_chat_template does so when no template is passed): the message
//     starts with a video, not an image, so its role is followed by ": ",
//     and the video part is "<video>".
//   - "<video>" becomes "You are provided the following series of
//     {num2words(F)} frames from a {H:MM:SS} [H:MM:SS] video.\n", then per
//     frame "\nFrame from {MM}:{SS}:" and the single-image block
//     <fake_token_around_image><global-img><image>×seq<fake_token_around_image>,
//     then "\n\n". The length is str(timedelta(seconds=int(duration))); a
//     frame at t seconds is int(t // 60):int(t % 60), each at least two
//     digits.
//
// Decided: a video of unknown length (0) is given its last frame's time;
// an empty question becomes DefaultVideoPrompt.

// videoTemplate is the processor's DEFAULT_CHAT_TEMPLATE ("the correct chat
// template to be used for videos").
const videoTemplate = "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}" +
	"{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}" +
	"{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}" +
	"{% elif line['type'] == 'image' %}{{ '<image>' }}{% elif line['type'] == 'video' %}{{ '<video>' }}{% endif %}" +
	"{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"

// videoToken is the placeholder the template renders for a video.
const videoToken = "<video>"

// DefaultVideoPrompt is the user text of a video prompt when none is given.
const DefaultVideoPrompt = "Can you describe this video?"

// videoChat renders video conversations (videoTemplate).
var videoChat = &chattemplate.Chat{Default: videoTemplate, Source: "SmolVLM2's processor (DEFAULT_CHAT_TEMPLATE)"}

// takesVideo reports whether config.json (raw) is a SmolVLM2 folder
// (model_type smolvlm), whose processor has the video prompt; Idefics3
// folders (SmolVLM) have none.
func takesVideo(raw []byte) bool {
	var c struct {
		ModelType string `json:"model_type"`
	}
	return json.Unmarshal(raw, &c) == nil && c.ModelType == "smolvlm"
}

// buildVideo builds the prompt of one user message holding a video and
// then the text (models.Spec.BuildVideoPrompt).
func (p *prompter) buildVideo(user string, v models.Video, nVisual int) (models.Prompt, error) {
	text, err := p.videoText(user, v)
	if err != nil {
		return models.Prompt{}, err
	}
	pr, err := models.TokenizePrompt(p.tok, text, p.imageID)
	if err != nil {
		return models.Prompt{}, fmt.Errorf("smolvlm: %w", err)
	}
	if len(pr.ImagePos) != nVisual {
		return pr, fmt.Errorf("smolvlm: the video prompt has %d %s tokens (%d frames × %d) but the vision encoder gave %d features",
			len(pr.ImagePos), imageToken, len(v.Times), p.seqLen, nVisual)
	}
	return pr, nil
}

// videoText is the video prompt's text, before tokenization.
func (p *prompter) videoText(user string, v models.Video) (string, error) {
	n := len(v.Times)
	if n == 0 {
		return "", fmt.Errorf("smolvlm: a video without frames")
	}
	for _, tok := range []string{imageToken, videoToken} {
		if strings.Contains(user, tok) {
			return "", fmt.Errorf("smolvlm: the prompt text must not contain %s", tok)
		}
	}
	if strings.TrimSpace(user) == "" {
		user = DefaultVideoPrompt
	}
	s, err := videoChat.Apply([]chattemplate.Message{{Role: "user",
		Parts: []chattemplate.Part{{Type: "video"}, chattemplate.TextPart(user)}}},
		chattemplate.Options{AddGenerationPrompt: true})
	if err != nil {
		return "", fmt.Errorf("smolvlm: %s: %w", videoChat.Source, err)
	}
	words, err := cardinal(n)
	if err != nil {
		return "", fmt.Errorf("smolvlm: %w", err)
	}
	dur := v.Duration
	if !(dur > 0) {
		dur = v.Times[n-1]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "You are provided the following series of %s frames from a %s [H:MM:SS] video.\n", words, timedelta(int(dur)))
	for _, t := range v.Times {
		if t < 0 || math.IsNaN(t) || math.IsInf(t, 0) {
			return "", fmt.Errorf("smolvlm: frame time %v", t)
		}
		fmt.Fprintf(&b, "\nFrame from %02d:%02d:%s", int(math.Floor(t/60)), int(math.Mod(t, 60)), expand(p.seqLen, 0, 0))
	}
	b.WriteString("\n\n")
	return strings.Replace(s, videoToken, b.String(), 1), nil
}

// timedelta is Python's str(timedelta(seconds=s)) for s >= 0: "H:MM:SS",
// preceded by "D day(s), " from one day on.
func timedelta(s int) string {
	days, s := s/86400, s%86400
	hms := fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	switch {
	case days == 1:
		return "1 day, " + hms
	case days > 1:
		return fmt.Sprintf("%d days, %s", days, hms)
	}
	return hms
}

// cardinal is num2words(n) in English (num2words' lang_EN merge rules:
// "twenty-one", "one hundred and one", "one thousand and twenty-four",
// "one thousand, one hundred") for 0 <= n < 1,000,000.
func cardinal(n int) (string, error) {
	if n < 0 || n >= 1_000_000 {
		return "", fmt.Errorf("num2words: %d is out of range", n)
	}
	return cardinalWords(n), nil
}

var (
	smallWords = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
		"eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"}
	tensWords = []string{"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}
)

func cardinalWords(n int) string {
	// join is num2words' merge of a high part (>= 100) with the rest: " and "
	// before a rest under 100, ", " otherwise
	join := func(high string, rest int) string {
		switch {
		case rest == 0:
			return high
		case rest < 100:
			return high + " and " + cardinalWords(rest)
		}
		return high + ", " + cardinalWords(rest)
	}
	switch {
	case n < 20:
		return smallWords[n]
	case n < 100:
		if n%10 == 0 {
			return tensWords[n/10]
		}
		return tensWords[n/10] + "-" + smallWords[n%10]
	case n < 1000:
		return join(smallWords[n/100]+" hundred", n%100)
	}
	return join(cardinalWords(n/1000)+" thousand", n%1000)
}
