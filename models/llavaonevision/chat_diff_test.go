package llavaonevision_test

import (
	"testing"

	"github.com/vlmrun/vlmrun/internal/tjsref"
)

// TestChatDifferentialTransformersJS: conversations (system + image,
// multi-turn with the image in the first turn and a text-only follow-up,
// text only, text only with a system message and earlier turns, and an
// image in each of two user turns) give the input ids and generated ids of
// transformers.js 4.3.1 on the twin. 4.3.1 has no LlavaOnevisionProcessor
// (AutoProcessor is the bare image processor), so the reference is what a
// transformers.js caller must compose (chat.js's expand_token path): the
// tokenizer's apply_chat_template (tokenizer_config.json's template), the
// image processor over all images of the conversation in one call, each
// <image> repeated once per feature encode_image gives an image, the
// tokenizer, generate.
func TestChatDifferentialTransformersJS(t *testing.T) {
	tjsref.ChatDiff(t, testdata(t, "chat_golden.json"), *update, []tjsref.ChatTwin{{
		Name: twin, Dir: testdata(t, twin),
		Images:    []string{testdata(t, "images", "sq70.png"), testdata(t, "images", "sq70b.png")},
		TwoImages: true, ExpandToken: "<image>"}})
}
