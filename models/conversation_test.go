package models

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestConversationValidate(t *testing.T) {
	u := func(p ...Part) Message { return Message{Role: RoleUser, Parts: p} }
	a := Message{Role: RoleAssistant, Parts: []Part{TextPart("ok")}}
	for _, tc := range []struct {
		name string
		c    Conversation
		err  string // "" = valid
	}{
		{"user with image", Conversation{u(ImagePart(), TextPart("hi"))}, ""},
		{"system, turns", UserTurn("be brief", "hi", 2), ""},
		{"multi-turn", Conversation{u(ImagePart()), a, u(TextPart("more"))}, ""},
		{"text only", Conversation{u(TextPart("hi"))}, ""},
		{"empty", nil, "no messages"},
		{"unknown role", Conversation{{Role: "tool", Parts: []Part{TextPart("x")}}, u(TextPart("hi"))}, `unknown role "tool"`},
		{"image in assistant", Conversation{u(TextPart("hi")), {Role: RoleAssistant, Parts: []Part{ImagePart()}}, u(TextPart("x"))}, "(assistant) holds an image"},
		{"image in system", Conversation{{Role: RoleSystem, Parts: []Part{ImagePart()}}, u(TextPart("x"))}, "(system) holds an image"},
		{"last not user", Conversation{u(TextPart("hi")), a}, "last message must be the user's"},
		{"no content", Conversation{{Role: RoleUser}}, "has no content"},
		{"image and video", Conversation{u(VideoPart(), ImagePart(), TextPart("hi"))}, ""},
		{"video in assistant", Conversation{u(TextPart("hi")), {Role: RoleAssistant, Parts: []Part{VideoPart()}}, u(TextPart("x"))}, "(assistant) holds an image or a video"},
		{"image and video at once", Conversation{u(Part{Image: true, Video: true})}, "both an image and a video"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrConversation) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want an ErrConversation saying %q", err, tc.err)
			}
		})
	}
}

func TestConversationHelpers(t *testing.T) {
	c := Conversation{{Role: RoleUser, Parts: []Part{ImagePart(), TextPart(" "), ImagePart()}}}
	got := c.WithDefault("Describe.")
	want := Conversation{{Role: RoleUser, Parts: []Part{ImagePart(), ImagePart(), TextPart("Describe.")}}}
	if !reflect.DeepEqual(got, want) || c[0].Parts[1].Text != " " {
		t.Errorf("WithDefault: %v (input %v)", got, c)
	}
	if text := UserTurn("", "no image", 0).WithDefault("x"); text[0].Parts[0].Text != "no image" || len(text[0].Parts) != 1 {
		t.Errorf("WithDefault changed a text-only message: %v", text)
	}
	if s, n, ok := UserTurn("", "a", 2).Single(); !ok || s != "a" || n != 2 {
		t.Errorf("Single: %q %d %v", s, n, ok)
	}
	if _, _, ok := UserTurn("sys", "a", 1).Single(); ok {
		t.Errorf("Single accepted a system message")
	}
	mixed := Conversation{{Role: RoleUser, Parts: []Part{VideoPart(), TextPart(""), ImagePart()}}}
	if got, want := mixed.WithDefault("Describe."), (Conversation{{Role: RoleUser, Parts: []Part{VideoPart(), ImagePart(), TextPart("Describe.")}}}); !reflect.DeepEqual(got, want) {
		t.Errorf("WithDefault with a video: %v", got)
	}
	if mixed.Videos() != 1 || mixed.Images() != 1 {
		t.Errorf("%d videos, %d images, want 1 and 1", mixed.Videos(), mixed.Images())
	}
	if _, _, ok := mixed.Single(); ok {
		t.Errorf("Single accepted a video part")
	}
	if tm := mixed.Template(); len(tm) != 1 || tm[0].Parts[0].Type != "video" || tm[0].Parts[2].Type != "image" {
		t.Errorf("Template: %+v", tm)
	}
	if err := mixed.CheckText("<v>"); err != nil {
		t.Errorf("CheckText on a video part: %v", err)
	}
	if got := ExpandEach("a<i>b<i>c", "<i>", func(i int) string { return strings.Repeat("<i>", i+1) }); got != "a<i>b<i><i>c" {
		t.Errorf("ExpandEach: %q", got)
	}
	if err := UserTurn("", "see <image>", 1).CheckText("<image>"); !errors.Is(err, ErrConversation) {
		t.Errorf("CheckText: %v", err)
	}
}
