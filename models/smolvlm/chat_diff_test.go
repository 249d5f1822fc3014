package smolvlm_test

import (
	"testing"

	"github.com/vlmrun/vlmrun/chattemplate"
	"github.com/vlmrun/vlmrun/internal/tjsref"
	"github.com/vlmrun/vlmrun/models/smolvlm"
)

// TestChatDifferentialTransformersJS: conversations (system + image,
// multi-turn with the image in the first turn, text only, an image in each
// of two turns) give the input ids and generated ids of transformers.js
// 4.3.1's processor.apply_chat_template + processor + generate, on every
// SmolVLM twin. Idefics3Processor cannot be called without images, so
// text-only prompts are compared with its tokenizer's ids (chat.js).
func TestChatDifferentialTransformersJS(t *testing.T) {
	var twins []tjsref.ChatTwin
	for _, name := range []string{"smolvlm-twin", "smolvlm-twin-legacy", "smolvlm-twin-torch", "smolvlm-twin-torch-legacy"} {
		im := []string{testdata(t, "images", "land64x48.png"), testdata(t, "images", "sq64.png")}
		if name == "smolvlm-twin-legacy" || name == "smolvlm-twin-torch-legacy" {
			im = []string{testdata(t, "images", "land32x24.png"), testdata(t, "images", "sq32.png")}
		}
		twins = append(twins, tjsref.ChatTwin{Name: name, Dir: testdata(t, name), Images: im, TwoImages: true, TextOnly: "tokenizer"})
	}
	tjsref.ChatDiff(t, testdata(t, "chat_golden.json"), *update, twins)
}

// The built-in template (for folders without one) is the twins' template,
// SmolVLM's published one.
func TestBuiltinTemplateIsPublished(t *testing.T) {
	c, err := chattemplate.Load(testdata(t, "smolvlm-twin"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Default != smolvlm.BuiltinTemplate {
		t.Errorf("built-in template differs from the twin's:\n%q\n%q", smolvlm.BuiltinTemplate, c.Default)
	}
}
