package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"

	_ "github.com/vlmrun/vlmrun/models/smolvlm"
)

// A family without a chat format (the embedded model) answers one user
// message as Caption does, and refuses system messages, earlier turns and
// text alone with models.ErrConversation.
func TestChatWithoutChatFormat(t *testing.T) {
	p := open(t)
	img, _ := scenePNG(t, 7, 0, 64)
	res, err := p.Chat(context.Background(), models.UserTurn("", "", 1),
		[]pipeline.Frame{{Name: "a", R: bytes.NewReader(img)}}, pipeline.Request{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := p.Caption(context.Background(), "a", bytes.NewReader(img), pipeline.Request{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.PromptIDs, want.PromptIDs) || res.Caption != want.Caption {
		t.Errorf("Chat %v %q, Caption %v %q", res.PromptIDs, res.Caption, want.PromptIDs, want.Caption)
	}
	u := func(p ...models.Part) models.Message { return models.Message{Role: models.RoleUser, Parts: p} }
	for _, tc := range []struct {
		name string
		conv models.Conversation
		imgs int
		msg  string
	}{
		{"system", models.UserTurn("be brief", "", 1), 1, "no chat format"},
		{"earlier turns", models.Conversation{u(models.ImagePart()),
			{Role: models.RoleAssistant, Parts: []models.Part{models.TextPart("x")}}, u(models.TextPart("y"))}, 1, "no chat format"},
		{"text only", models.UserTurn("", "hello", 0), 0, "cannot answer text alone"},
		{"assistant last", models.Conversation{u(models.ImagePart()), {Role: models.RoleAssistant, Parts: []models.Part{models.TextPart("x")}}}, 1, "last message"},
		{"video part", models.Conversation{u(models.ImagePart(), models.VideoPart())}, 1, "does not take a video inside a conversation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fr []pipeline.Frame
			for range tc.imgs {
				fr = append(fr, pipeline.Frame{Name: "a", R: bytes.NewReader(img)})
			}
			_, err := p.Chat(context.Background(), tc.conv, fr, pipeline.Request{}, nil)
			if !errors.Is(err, models.ErrConversation) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want an ErrConversation saying %q", err, tc.msg)
			}
		})
	}
}

// A pruning budget applies across all images of a conversation, and a
// text-only conversation runs no pruning method (SmolVLM twin).
func TestChatBudgetAcrossImages(t *testing.T) {
	testenv.ORT(t)
	twin := filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata")
	p, err := pipeline.Open(filepath.Join(twin, "smolvlm-twin"), pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	frames := func(names ...string) []pipeline.Frame {
		var fr []pipeline.Frame
		for _, n := range names {
			data, err := os.ReadFile(filepath.Join(twin, "images", n))
			if err != nil {
				t.Fatal(err)
			}
			fr = append(fr, pipeline.Frame{Name: n, R: bytes.NewReader(data)})
		}
		return fr
	}
	req := pipeline.Request{MaxNewTokens: 4}
	if err := (pipeline.PruneSpec{Method: "divprune", Keep: "0.25"}).Apply(&req); err != nil {
		t.Fatal(err)
	}
	conv := models.Conversation{{Role: models.RoleUser, Parts: []models.Part{models.ImagePart(), models.TextPart("What is this?")}},
		{Role: models.RoleAssistant, Parts: []models.Part{models.TextPart("Shapes.")}},
		{Role: models.RoleUser, Parts: []models.Part{models.ImagePart(), models.TextPart("And this?")}}}
	both, err := p.Chat(context.Background(), conv, frames("land64x48.png", "sq32.png"), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	one, err := p.Chat(context.Background(), models.UserTurn("", "x", 1), frames("land64x48.png"), pipeline.Request{MaxNewTokens: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	two, err := p.Chat(context.Background(), models.UserTurn("", "x", 1), frames("sq32.png"), pipeline.Request{MaxNewTokens: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := one.Visual.Before + two.Visual.Before
	if both.Visual.Before != n || both.Visual.AfterPre != n/4 || both.Visual.PreMethod != "divprune" {
		t.Errorf("two images of %d and %d tokens at keep 0.25: visual %+v, want %d before, %d after", one.Visual.Before,
			two.Visual.Before, both.Visual, n, n/4)
	}
	text, err := p.Chat(context.Background(), models.UserTurn("", "Name a shape.", 0), nil, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if text.Visual.Before != 0 || text.Visual.AfterPre != 0 || text.Visual.PreMethod != "" || len(text.GeneratedIDs) == 0 {
		t.Errorf("text only: visual %+v, generated %v", text.Visual, text.GeneratedIDs)
	}
	if _, err := p.Chat(context.Background(), conv, frames("sq32.png"), req, nil); err == nil {
		t.Errorf("two image parts with one image given: no error")
	}
}
