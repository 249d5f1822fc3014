package llavaonevision_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/models"
)

// BuildChat refuses what it cannot place, with the reason: an <image> typed
// into text, a wrong number of encoded images, a feature count that is not
// the image's grid.
func TestBuildChatErrors(t *testing.T) {
	spec, err := models.Load(testdata(t, twin))
	if err != nil {
		t.Fatal(err)
	}
	if spec.BuildChat == nil {
		t.Fatal("no BuildChat")
	}
	one := models.UserTurn("", "Describe.", 1)
	for _, bad := range []struct {
		name    string
		conv    models.Conversation
		nVisual []int
		want    string
	}{
		{"image token in text", models.UserTurn("", "look <image>", 1), []int{25}, "the text holds <image>"},
		{"fewer encoded", one, nil, "1 images, 0 encoded"},
		{"more encoded", one, []int{25, 25}, "1 images, 2 encoded"},
		{"wrong count", one, []int{24}, "gave 24 features for image 1; each image should give 25"},
	} {
		_, err := spec.BuildChat(bad.conv, pixelsFor(bad.nVisual), bad.nVisual)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.name, err, bad.want)
		}
		if bad.name == "image token in text" && !errors.Is(err, models.ErrConversation) {
			t.Errorf("%s: %v does not wrap ErrConversation", bad.name, err)
		}
	}
	// A blank user text after an image gets the family default, as --prompt "" does.
	pr, err := spec.BuildChat(models.UserTurn("", " ", 1), pixelsFor([]int{25}), []int{25})
	if err != nil {
		t.Fatal(err)
	}
	s, err := spec.Tokenizer.Decode(pr.IDs, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := "<|im_start|>user " + strings.Repeat("<image>", 25) + "\nDescribe this image.<|im_end|><|im_start|>assistant\n"; s != want {
		t.Errorf("prompt %q, want %q", s, want)
	}
}

// pixelsFor is one preprocessed (unsplit) image per count.
func pixelsFor(nVisual []int) []models.Pixels {
	pxs := make([]models.Pixels, len(nVisual))
	for i := range pxs {
		pxs[i].Images = 1
	}
	return pxs
}
