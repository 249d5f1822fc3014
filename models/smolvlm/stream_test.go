package smolvlm

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/models"
)

// The streamed layout's pieces, tokenized on their own, concatenate to the
// tokenization of the whole text (on the SmolVLM2 twin's tokenizer: the
// cuts fall before "\n" and at special tokens), and that text is
// SmolVLM2's video prompt without its intro sentence.
func TestStreamPromptPieces(t *testing.T) {
	spec, err := models.Load(filepath.Join("testdata", "smolvlm-twin-legacy"))
	if err != nil {
		t.Fatal(err)
	}
	sp := spec.StreamPrompt
	if sp == nil {
		t.Fatal("no stream prompt")
	}
	ids := slices.Clone(sp.Prefix)
	for _, tm := range []float64{0, 4.5, 61.9} {
		b, err := sp.Frame(tm, 16)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b...)
	}
	suffix, err := sp.Suffix("What changes?")
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, suffix...)
	img := "<fake_token_around_image><global-img>" + strings.Repeat("<image>", 16) + "<fake_token_around_image>"
	text := "<|im_start|>User: " + "\nFrame from 00:00:" + img + "\nFrame from 00:04:" + img + "\nFrame from 01:01:" + img +
		"\n\nWhat changes?<end_of_utterance>\nAssistant:"
	want, err := spec.Tokenizer.Encode(text, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("pieces %v\nwhole  %v", ids, want)
	}
	if _, err := sp.Suffix("a <image> here"); err == nil {
		t.Error("an <image> in the question: no error")
	}
	if _, err := sp.Frame(-1, 16); err == nil {
		t.Error("a negative time: no error")
	}
	def, err := sp.Suffix(" ")
	if err != nil {
		t.Fatal(err)
	}
	wantDef, _ := spec.Tokenizer.Encode("\n\n"+DefaultVideoPrompt+"<end_of_utterance>\nAssistant:", false)
	if !slices.Equal(def, wantDef) {
		t.Errorf("default question %v, want %v", def, wantDef)
	}
}
