package llava_test

import (
	"os"
	"testing"

	"github.com/vlmrun/vlmrun/chattemplate"
	"github.com/vlmrun/vlmrun/internal/tjsref"
	"github.com/vlmrun/vlmrun/models/llava"
)

// TestChatDifferentialTransformersJS: conversations (system + image,
// multi-turn with the image in the first turn, text only) give the input
// ids and generated ids of transformers.js 4.3.1's
// processor.apply_chat_template + processor(images, text) + generate on
// the twin. transformers.js does not read chat_template.json, so the
// folder's template text is passed to apply_chat_template; LlavaProcessor
// cannot be called without images, so text-only prompts are compared with
// its tokenizer's ids; it expands only the first <image> of a text, so
// two-image conversations are compared with transformers.js composed as
// Python's processor expands them (several_diff_test.go).
func TestChatDifferentialTransformersJS(t *testing.T) {
	c, err := chattemplate.Load(testdata(t, twin))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(testdata(t, twin, "chat_template.json")); err != nil {
		t.Fatal(err)
	}
	tjsref.ChatDiff(t, testdata(t, "chat_golden.json"), *update, []tjsref.ChatTwin{{
		Name: twin, Dir: testdata(t, twin), Images: []string{testdata(t, "images", "sq56.png")},
		ImagesFirst: true, TextOnly: "tokenizer", ChatTemplate: c.Default}})
}

// The built-in template (for folders without one) is the twins' template,
// the published one.
func TestBuiltinTemplateIsPublished(t *testing.T) {
	c, err := chattemplate.Load(testdata(t, twin))
	if err != nil {
		t.Fatal(err)
	}
	if c.Default != llava.BuiltinTemplate {
		t.Errorf("built-in template differs from the twin's:\n%q\n%q", llava.BuiltinTemplate, c.Default)
	}
}
