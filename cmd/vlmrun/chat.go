package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"
)

// chatRecord is the --json output of vlmrun chat.
type chatRecord struct {
	SchemaVersion int      `json:"schema_version"` // pipeline.SchemaVersion
	Images        []string `json:"images"`
	System        string   `json:"system,omitempty"`
	*pipeline.Result
}

// cmdChat answers one user turn (optional --system, the images in order,
// then --prompt) through the model's chat template: several images in one
// prompt, or none (text only) where the model can answer text alone.
func cmdChat(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("chat", stderr, func(fs *pflag.FlagSet) {
		fmt.Fprintln(stderr, "usage: vlmrun chat [flags] [IMAGE...]   (one answer to --prompt about all IMAGEs, or to --prompt alone; IMAGE may be - for stdin)")
		fmt.Fprintln(stderr, "exit status: 0 done, 1 an image or the model failed, 2 a usage error (bad flag or value, a conversation the model cannot take)")
	})
	var mf modelFlags
	var gf genFlags
	var pf pruneFlags
	mf.register(fs)
	gf.register(fs)
	pf.register(fs)
	fs.Lookup("prompt").Usage = "the user's text (required without images; with images, default: the model's captioning task)"
	system := fs.String("system", "", "system message before the user's turn")
	asJSON := fs.Bool("json", false, "print one JSON object (answer, ids, finish_reason, visual tokens, timings)")
	quiet := fs.BoolP("quiet", "q", false, "do not print timings on stderr")
	if code, done := parseCommand(fs, args); done {
		return code
	}
	images := fs.Args()
	fail := func(err error) int { return exitCode(stderr, "chat", err) }
	if len(images) == 0 && gf.prompt == "" {
		return fail(usagef("nothing to answer: give --prompt (text only) or an image (usage: vlmrun chat [flags] [IMAGE...])"))
	}
	stdins := 0
	for _, im := range images {
		if im == "-" {
			stdins++
		}
	}
	if stdins > 1 {
		return fail(usagef("stdin (-) can be given once"))
	}
	req, err := gf.request()
	if err == nil {
		err = asUsage(pf.apply(&req))
	}
	if err != nil {
		return fail(err)
	}
	conv := models.UserTurn(*system, gf.prompt, len(images))
	p, err := mf.open()
	if err != nil {
		return fail(err)
	}
	defer p.Close()
	if err := pipeline.CheckChat(p.Spec, conv); err != nil {
		return fail(asUsage(err))
	}
	if req, err = p.FitRequest(req); err != nil {
		return fail(asUsage(err))
	}
	var frames []pipeline.Frame
	for _, path := range images {
		img, err := openImage(path, stdin)
		if err != nil {
			return fail(err)
		}
		defer img.close()
		frames = append(frames, img.Frame)
	}
	var stream func(string) error
	started := false
	if !*asJSON {
		stream = func(s string) error {
			started = true
			_, err := io.WriteString(stdout, s)
			return err
		}
	}
	res, err := p.Chat(ctx, conv, frames, req, stream)
	if err != nil {
		if started {
			fmt.Fprintln(stdout)
		}
		return fail(err)
	}
	if *asJSON {
		if images == nil {
			images = []string{}
		}
		if err := json.NewEncoder(stdout).Encode(chatRecord{SchemaVersion: pipeline.SchemaVersion, Images: images,
			System: *system, Result: res}); err != nil {
			return fail(err)
		}
		return 0
	}
	fmt.Fprintln(stdout)
	if !*quiet {
		printTimings(stderr, res)
	}
	return 0
}
