package llava_test

import (
	"testing"

	"github.com/vlmrun/vlmrun/chattemplate"
	"github.com/vlmrun/vlmrun/models/llava"
)

// The prompt vlmrun builds for user text is what the twin's
// chat_template.json (llava-hf's LLaVA-1.5 template) renders for one user
// message holding the image then the text, with the generation prompt.
func TestChatMatchesFolderTemplate(t *testing.T) {
	c, err := chattemplate.Load(testdata(t, twin))
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{llava.DefaultPrompt, "What is in the picture?"} {
		got, err := c.Apply([]chattemplate.Message{{Role: "user",
			Parts: []chattemplate.Part{chattemplate.ImagePart(), chattemplate.TextPart(text)}}},
			chattemplate.Options{AddGenerationPrompt: true})
		if err != nil {
			t.Fatal(err)
		}
		if want := llava.Chat("<image>", text); got != want {
			t.Errorf("template %q, vlmrun %q", got, want)
		}
	}
}
