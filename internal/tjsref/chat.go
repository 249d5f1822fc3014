package tjsref

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"
)

// ChatCase is one conversation for chat.js (scripts/transformersjs-ref).
type ChatCase struct {
	Name         string           `json:"name"`
	Model        string           `json:"model"`
	Messages     []map[string]any `json:"messages"`
	Images       []string         `json:"images,omitempty"`
	ChatTemplate string           `json:"chat_template,omitempty"`
	ImagesFirst  bool             `json:"images_first,omitempty"`
	TextOnly     string           `json:"text_only,omitempty"`
	PythonRope   bool             `json:"python_rope,omitempty"`
	ExpandToken  string           `json:"expand_token,omitempty"`
	Compose      string           `json:"compose,omitempty"`
	MaxNew       int              `json:"max_new_tokens"`
}

// ChatResult is chat.js's output for one case.
type ChatResult struct {
	PromptText   string `json:"prompt_text"`
	InputIDs     []int  `json:"input_ids"`
	GeneratedIDs []int  `json:"generated_ids"`
	// Set by the compose path only (ChatCase.Compose).
	PixelShape       []int    `json:"pixel_shape,omitempty"`
	PixelSHA256      string   `json:"pixel_sha256,omitempty"`
	FeaturesPerImage []int    `json:"features_per_image,omitempty"`
	ImageGridTHW     [][3]int `json:"image_grid_thw,omitempty"`
	PositionIDs      []int64  `json:"position_ids,omitempty"`
	RopeDelta        []int64  `json:"rope_delta,omitempty"`
}

// Messages is c as apply_chat_template's messages: every content a list
// of {type: "image"} and {type: "text", text} parts (what
// models.Conversation.Template gives the Go template engine).
func Messages(c models.Conversation) []map[string]any {
	out := make([]map[string]any, len(c))
	for i, m := range c {
		parts := make([]map[string]any, len(m.Parts))
		for j, p := range m.Parts {
			if p.Image {
				parts[j] = map[string]any{"type": "image"}
			} else {
				parts[j] = map[string]any{"type": "text", "text": p.Text}
			}
		}
		out[i] = map[string]any{"role": m.Role, "content": parts}
	}
	return out
}

// RunChat runs chat.js on the cases and returns each case's result.
func RunChat(t testing.TB, cases []ChatCase) map[string]ChatResult {
	t.Helper()
	dir := filepath.Join(testenv.Repo(t), "scripts", "transformersjs-ref")
	tmp := t.TempDir()
	data, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	casesPath := filepath.Join(tmp, "cases.json")
	if err := os.WriteFile(casesPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "chat.js", casesPath, filepath.Join(tmp, "out"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("transformers.js chat reference run failed: %v\n%s", err, out)
	}
	res := map[string]ChatResult{}
	for _, c := range cases {
		raw, err := os.ReadFile(filepath.Join(tmp, "out", c.Name+".json"))
		if err != nil {
			t.Fatalf("%s: reference result: %v", c.Name, err)
		}
		var r ChatResult
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("%s: reference result: %v", c.Name, err)
		}
		res[c.Name] = r
	}
	return res
}

// NamedConversation is one of the conversations the chat differential
// tests run.
type NamedConversation struct {
	Name string
	Conv models.Conversation
}

// Conversations are issue 19's conversations: (a) system + user with an
// image, (b) an image in the first turn and a text-only follow-up, (c)
// text only, and text only with a system message and earlier turns; with
// two, also an image in each of two user turns.
func Conversations(two bool) []NamedConversation {
	sys := models.Message{Role: models.RoleSystem, Parts: []models.Part{models.TextPart("You are a concise assistant.")}}
	user := func(parts ...models.Part) models.Message { return models.Message{Role: models.RoleUser, Parts: parts} }
	asst := func(s string) models.Message {
		return models.Message{Role: models.RoleAssistant, Parts: []models.Part{models.TextPart(s)}}
	}
	img, txt := models.ImagePart, models.TextPart
	cs := []NamedConversation{
		{"system-image", models.Conversation{sys, user(img(), txt("Describe the image in one sentence."))}},
		{"multiturn-image-first", models.Conversation{user(img(), txt("What is in the picture?")),
			asst("A red circle and a blue square."), user(txt("Where is the circle?"))}},
		{"text-only", models.Conversation{user(txt("Write one short sentence about shapes."))}},
		{"text-only-system-multiturn", models.Conversation{sys, user(txt("Name a shape.")), asst("A circle."),
			user(txt("Name another one."))}},
	}
	if two {
		cs = append(cs, NamedConversation{"two-images", models.Conversation{user(img(), txt("What is in the picture?")),
			asst("Some shapes."), user(img(), txt("And in this one?"))}})
	}
	return cs
}

// ChatTwin is one twin folder for ChatDiff and how transformers.js's
// processor is called for it.
type ChatTwin struct {
	Name   string   // case-name prefix
	Dir    string   // the twin folder
	Images []string // image files, taken in order by a conversation's image parts
	// TwoImages adds the two-image conversation (only where
	// transformers.js's processor takes several images in one call).
	TwoImages    bool
	ImagesFirst  bool   // ChatCase.ImagesFirst
	TextOnly     string // ChatCase.TextOnly
	ChatTemplate string // ChatCase.ChatTemplate
	ExpandToken  string // ChatCase.ExpandToken
	// PythonRope: text-only generated ids are compared with transformers.js
	// run with Python's text-only rope_delta (ChatCase.PythonRope), and
	// with unmodified transformers.js only the first generated token
	// (decided by the prefill, before any rope_delta).
	PythonRope bool
}

// ChatDiff runs every conversation on every twin through
// pipeline.Pipeline.Chat and requires the input ids and the generated ids
// (12 new tokens, greedy) to equal transformers.js 4.3.1's (chat.js, live,
// or the golden file when transformers.js is not installed; update rewrites
// the golden file from a live run). It also requires Chat on one user
// message (the image, then text) to give the same ids as Caption.
func ChatDiff(t *testing.T, golden string, update bool, twins []ChatTwin) {
	testenv.ORT(t)
	type goCase struct {
		twin ChatTwin
		conv models.Conversation
		tjs  string // the reference case its ids are compared with
		// plain, when set, is unmodified transformers.js's case (PythonRope)
		plain string
	}
	var cases []ChatCase
	gos := map[string]goCase{}
	for _, tw := range twins {
		for _, nc := range Conversations(tw.TwoImages) {
			c := ChatCase{Name: tw.Name + "-" + nc.Name, Model: tw.Dir, Messages: Messages(nc.Conv),
				ChatTemplate: tw.ChatTemplate, ImagesFirst: tw.ImagesFirst, ExpandToken: tw.ExpandToken, MaxNew: 12}
			c.Images = tw.Images[:nc.Conv.Images()]
			if len(c.Images) == 0 {
				c.TextOnly = tw.TextOnly
			}
			g := goCase{twin: tw, conv: nc.Conv, tjs: c.Name}
			if len(c.Images) == 0 && tw.PythonRope {
				plain := c
				plain.Name += "-tjs-rope"
				cases = append(cases, plain)
				c.PythonRope = true
				c.Name += "-python-rope"
				g.tjs, g.plain = c.Name, plain.Name
			}
			cases = append(cases, c)
			gos[tw.Name+"-"+nc.Name] = g
		}
	}
	var ref map[string]ChatResult
	if Available(t, update) {
		ref = RunChat(t, cases)
	} else {
		ref = LoadGolden[ChatResult](t, golden)
	}
	opened := map[string]*pipeline.Pipeline{}
	defer func() {
		for _, p := range opened {
			p.Close()
		}
	}()
	open := func(t *testing.T, dir string) *pipeline.Pipeline {
		if p, ok := opened[dir]; ok {
			return p
		}
		p, err := pipeline.Open(dir, pipeline.Options{ORT: ortx.Options{Threads: 1}})
		if err != nil {
			t.Fatal(err)
		}
		opened[dir] = p
		return p
	}
	names := make([]string, 0, len(gos))
	for n := range gos {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		g := gos[name]
		t.Run(name, func(t *testing.T) {
			p := open(t, g.twin.Dir)
			res, err := p.Chat(context.Background(), g.conv, frames(t, g.twin.Images[:g.conv.Images()]),
				pipeline.Request{MaxNewTokens: 12}, nil)
			if err != nil {
				t.Fatal(err)
			}
			r, ok := ref[g.tjs]
			if !ok {
				t.Fatalf("no reference result for %s (run with -update and transformers.js installed)", g.tjs)
			}
			if !slices.Equal(res.PromptIDs, r.InputIDs) {
				t.Errorf("input_ids differ (transformers.js prompt %q):\n vlmrun %v\n tjs    %v", r.PromptText, res.PromptIDs, r.InputIDs)
			}
			if !slices.Equal(res.GeneratedIDs, r.GeneratedIDs) {
				t.Errorf("generated ids differ:\n vlmrun %v\n tjs    %v", res.GeneratedIDs, r.GeneratedIDs)
			}
			if g.plain != "" {
				plain := ref[g.plain]
				if len(plain.GeneratedIDs) == 0 || len(res.GeneratedIDs) == 0 || plain.GeneratedIDs[0] != res.GeneratedIDs[0] {
					t.Errorf("first generated token differs from unmodified transformers.js: vlmrun %v, tjs %v", res.GeneratedIDs, plain.GeneratedIDs)
				}
				t.Logf("unmodified transformers.js (text-only rope_delta max+1+S) generates %v", plain.GeneratedIDs)
			}
			if len(res.GeneratedIDs) == 0 {
				t.Errorf("nothing generated")
			}
		})
	}
	for _, tw := range twins {
		t.Run(tw.Name+"-chat-equals-caption", func(t *testing.T) {
			p := open(t, tw.Dir)
			const text = "What is in the picture?"
			conv := models.UserTurn("", text, 1)
			a, err := p.Chat(context.Background(), conv, frames(t, tw.Images[:1]), pipeline.Request{MaxNewTokens: 12}, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := p.Caption(context.Background(), "image", frames(t, tw.Images[:1])[0].R, pipeline.Request{Prompt: text, MaxNewTokens: 12}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a.PromptIDs, b.PromptIDs) || !slices.Equal(a.GeneratedIDs, b.GeneratedIDs) {
				t.Errorf("Chat and Caption differ:\n chat    %v → %v\n caption %v → %v", a.PromptIDs, a.GeneratedIDs, b.PromptIDs, b.GeneratedIDs)
			}
		})
	}
	if update && ref != nil {
		var all []string
		for _, c := range cases {
			all = append(all, c.Name)
		}
		WriteGolden(t, golden, all, ref)
	}
}

// frames opens the image files (closed when the test ends).
func frames(t *testing.T, paths []string) []pipeline.Frame {
	var fs []pipeline.Frame
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		fs = append(fs, pipeline.Frame{Name: p, R: f})
	}
	return fs
}
