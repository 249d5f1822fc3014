package qwen2vl_test

import (
	"testing"

	"github.com/vlmrun/vlmrun/chattemplate"
	"github.com/vlmrun/vlmrun/internal/tjsref"
	"github.com/vlmrun/vlmrun/models/qwen2vl"
)

// TestChatDifferentialTransformersJS: conversations (system + image,
// multi-turn with the image in the first turn, text only) give the input
// ids and generated ids of transformers.js 4.3.1's
// processor.apply_chat_template + processor + generate on both twins.
// Text-only generation follows Python's get_rope_index (the first
// generated token at position L); transformers.js 4.3.1 puts it at 3L
// (model-formats.md §5.3), so text-only generated ids are compared with
// transformers.js run with Python's rope_delta, and with unmodified
// transformers.js only the first token (from the prefill) must agree.
// Qwen2VLProcessor fails on two images in one call: two images are
// compared with transformers.js composed as Python's processor lays them
// out (several_diff_test.go).
func TestChatDifferentialTransformersJS(t *testing.T) {
	var twins []tjsref.ChatTwin
	for _, name := range []string{twin, twin25} {
		twins = append(twins, tjsref.ChatTwin{Name: name, Dir: testdata(t, name),
			Images: []string{testdata(t, "images", "sq56.png")}, TextOnly: "processor", PythonRope: true})
	}
	tjsref.ChatDiff(t, testdata(t, "chat_golden.json"), *update, twins)
}

// The built-in template (for folders without one) is the twins' template,
// the published one.
func TestBuiltinTemplateIsPublished(t *testing.T) {
	c, err := chattemplate.Load(testdata(t, twin))
	if err != nil {
		t.Fatal(err)
	}
	if c.Default != qwen2vl.BuiltinTemplate {
		t.Errorf("built-in template differs from the twin's:\n%q\n%q", qwen2vl.BuiltinTemplate, c.Default)
	}
}
