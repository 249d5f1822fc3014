package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/pruning"
)

// outcome is what a chat request ended with, for metrics and the log.
type outcome struct {
	status int
	code   string
	tokens int
}

// chat serves POST /v1/chat/completions.
func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	out := &outcome{status: http.StatusOK}
	defer func() {
		s.met.finished(out.status, out.code, time.Since(start).Seconds())
		s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", out.status,
			"code", out.code, "tokens", out.tokens, "ms", time.Since(start).Milliseconds())
	}()
	fail := func(e *apiError) {
		out.status, out.code = e.Status, e.Code
		writeError(w, e)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		fail(newError(http.StatusMethodNotAllowed, "method_not_allowed", "", "method %s is not allowed on %s (use POST)", r.Method, r.URL.Path))
		return
	}
	if s.draining.Load() {
		fail(newError(http.StatusServiceUnavailable, "shutting_down", "", "the server is shutting down"))
		return
	}
	if e := checkContentType(r.Header.Get("Content-Type")); e != nil {
		fail(e)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.lim.MaxBodyBytes))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			fail(newError(http.StatusRequestEntityTooLarge, "request_too_large", "", "the request body is larger than the limit of %d bytes", s.lim.MaxBodyBytes))
		} else {
			fail(badRequest("invalid_body", "", "read the request body: %v", err))
		}
		return
	}
	job, e := parseChat(body, s.lim)
	if e != nil {
		fail(e)
		return
	}
	if job.model != "" && job.model != s.cfg.ModelName {
		fail(newError(http.StatusNotFound, "model_not_found", "model", "the model %q does not exist (this server has %q)", job.model, s.cfg.ModelName))
		return
	}
	if job.video != nil {
		if e := s.checkVideo(); e != nil {
			fail(e)
			return
		}
	}
	if job.mixed && !s.spec.ChatVideo {
		fail(badRequest("unsupported_conversation", "messages",
			"model_type %s: a request with a video_url is one user message holding the video and text (no image_url parts, no other messages)", s.spec.Family))
		return
	}
	// (a video with text alone, one user message, goes to CaptionVideo)
	if job.video == nil || job.mixed {
		if err := pipeline.CheckChat(s.spec, job.conv); err != nil {
			fail(conversationError(err))
			return
		}
	}
	req, pruneDesc, e := s.request(job)
	if e != nil {
		fail(e)
		return
	}
	imgs := make([][]byte, len(job.images))
	for i, ref := range job.images {
		img, e := s.load(r.Context(), ref)
		if e == nil {
			e = checkHeader(img, s.lim.MaxPixels)
		}
		if e != nil {
			fail(e)
			return
		}
		imgs[i] = img
	}
	// admission: a bounded queue in front of the replicas
	if s.admitted.Add(1) > int64(s.pool.Size()+s.cfg.Queue) {
		s.admitted.Add(-1)
		w.Header().Set("Retry-After", "1")
		fail(newError(http.StatusTooManyRequests, "server_busy", "", "the server is busy: %d requests running and %d queued; retry later", s.pool.Size(), s.cfg.Queue))
		return
	}
	defer s.admitted.Add(-1)
	ctx := r.Context()
	if s.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.cfg.Timeout, errTimeout)
		defer cancel()
	}
	var vid pipeline.Video
	var extractMs float64
	if job.video != nil {
		// frames are extracted once admitted (bounded by the queue) and
		// before a replica is taken
		var e *apiError
		if vid, extractMs, e = s.extractVideo(ctx, job); e != nil || ctx.Err() != nil {
			if e == nil {
				s.cancelled(w, out, ctx, nil)
				return
			}
			fail(e)
			return
		}
	}
	queued := time.Now()
	p, err := s.pool.Get(ctx)
	if err != nil {
		s.cancelled(w, out, ctx, nil)
		return
	}
	s.running.Add(1)
	defer func() {
		s.running.Add(-1)
		s.pool.Put(p)
	}()
	c := &completion{s: s, w: w, job: job, ctx: ctx, id: newID(), created: time.Now().Unix(),
		stop: stopper{stops: job.stops}}
	c.flusher, _ = w.(http.Flusher)
	queueMs := float64(time.Since(queued).Microseconds()) / 1000
	frames := make([]pipeline.Frame, len(imgs))
	for i, img := range imgs {
		frames[i] = pipeline.Frame{Name: fmt.Sprintf("image %d", i+1), R: bytes.NewReader(img)}
	}
	var res *pipeline.Result
	switch {
	case job.mixed:
		res, err = p.ChatVideo(ctx, job.conv, frames, []pipeline.Video{vid}, req, c.piece)
	case job.video != nil:
		req.Prompt = job.text()
		res, err = p.CaptionVideo(ctx, vid, req, c.piece)
	default:
		res, err = p.Chat(ctx, job.conv, frames, req, c.piece)
	}
	if err != nil {
		if ctx.Err() != nil || c.writeErr != nil {
			s.cancelled(w, out, ctx, c)
			return
		}
		e := captionError(err)
		out.status, out.code = e.Status, e.Code
		c.fail(e)
		return
	}
	if !c.stopped {
		if tail := c.stop.flush(); tail != "" {
			c.emit(tail)
		}
	}
	out.tokens = len(res.GeneratedIDs)
	s.met.captioned(res, queueMs)
	rep := &report{SchemaVersion: pipeline.SchemaVersion, Timings: res.Timings, QueueMs: queueMs, VisualTokens: res.Visual, Image: res.Image,
		Prune: pruneDesc[0], Keep: pruneDesc[1], Frames: len(vid.Frames), FrameTimes: vid.Times, FrameExtractMs: extractMs}
	finish := "length"
	if c.stopped || (len(res.GeneratedIDs) > 0 && slices.Contains(s.spec.EOS, res.GeneratedIDs[len(res.GeneratedIDs)-1])) {
		finish = "stop"
	}
	u := usage{PromptTokens: len(res.PromptIDs), CompletionTokens: len(res.GeneratedIDs)}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	c.finish(finish, u, rep)
}

// request turns a parsed job into a pipeline request, applying the
// server's default pruning, and checks the prompt's length in tokens. It
// also returns the pruning method and keep for the report.
func (s *Server) request(job *chatJob) (pipeline.Request, [2]string, *apiError) {
	req := pipeline.Request{MaxNewTokens: job.maxTokens, Sampling: job.sampling, Form: job.form,
		MaxPromptTokens: s.lim.MaxPromptTokens}
	ps := s.cfg.Prune
	if job.pruneSet {
		ps.Method, ps.Keep = job.prune, ""
	}
	if job.keepSet {
		ps.Keep = job.keep
	}
	ps.MethodName, ps.KeepName = "vlmrun.prune", "vlmrun.keep"
	if err := ps.Apply(&req); err != nil {
		return req, [2]string{}, badRequest("invalid_prune", "vlmrun.prune", "%v", err)
	}
	if req.In != nil && s.spec.Files.Encoder != "" {
		return req, [2]string{}, badRequest("invalid_prune", "vlmrun.prune",
			"%s prunes inside a decoder-only model's decoder; this is an encoder-decoder model", req.In.Name())
	}
	// the method's layers must fit the decoder: refused before the queue
	fitted, err := s.pool.FitRequest(req)
	if err != nil {
		return req, [2]string{}, badRequest("invalid_prune", "vlmrun.prune", "%v", err)
	}
	req = fitted
	// A first count before the request waits: exact for a one-image
	// prompt of a family without tiles or a chat format (BuildPrompt);
	// otherwise the text's tokens, since visual tokens are known only once
	// the images are preprocessed. The pipeline checks the exact count
	// (Request.MaxPromptTokens) before generating.
	var n int
	if text, k, single := job.conv.Single(); single && k == 1 && s.spec.BuildChat == nil && s.spec.BuildImagePrompt == nil {
		prompt, err := s.spec.BuildPrompt(text, s.spec.TokensPerImage)
		if err != nil {
			return req, [2]string{}, badRequest("invalid_prompt", "messages", "%v", err)
		}
		n = len(prompt.IDs)
	} else if s.spec.Tokenizer != nil {
		ids, err := s.spec.Tokenizer.Encode(job.text(), false)
		if err != nil {
			return req, [2]string{}, badRequest("invalid_prompt", "messages", "%v", err)
		}
		n = len(ids)
	}
	if n > s.lim.MaxPromptTokens {
		return req, [2]string{}, badRequest("context_length_exceeded", "messages",
			"the prompt has %d tokens (visual tokens included); the limit is %d", n, s.lim.MaxPromptTokens)
	}
	method := ps.Method
	if method == "" {
		method = "none"
	}
	return req, [2]string{method, ps.Keep}, nil
}

// cancelled ends a request whose context ended or whose client left:
// 504 on timeout, 503 on shutdown, and 499 (logged only; nobody is there
// to read it) when the client disconnected.
func (s *Server) cancelled(w http.ResponseWriter, out *outcome, ctx context.Context, c *completion) {
	s.met.cancel()
	var e *apiError
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errTimeout):
		e = newError(http.StatusGatewayTimeout, "timeout", "", "the request took longer than the server's timeout of %s", s.cfg.Timeout)
	case errors.Is(cause, errShutdown):
		e = newError(http.StatusServiceUnavailable, "shutting_down", "", "the server is shutting down")
	default:
		out.status, out.code = 499, "client_disconnected"
		return
	}
	out.status, out.code = e.Status, e.Code
	if c != nil {
		c.fail(e)
	} else {
		writeError(w, e)
	}
}

// checkContentType accepts a JSON body: Content-Type application/json (any
// parameters, e.g. charset=utf-8) or none at all (some clients send none);
// anything else, such as curl -d's default
// application/x-www-form-urlencoded, is 415 unsupported_media_type.
func checkContentType(ct string) *apiError {
	if strings.TrimSpace(ct) == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		if cs, ok := params["charset"]; !ok || strings.EqualFold(cs, "utf-8") {
			return nil
		}
	}
	return newError(http.StatusUnsupportedMediaType, "unsupported_media_type", "",
		"Content-Type %q is not supported: send the body as application/json (UTF-8)", ct)
}

// captionError maps a pipeline error to an API error: bad images are the
// client's (400, or 413 when too large), anything else is the server's.
func captionError(err error) *apiError {
	switch {
	case errors.Is(err, encoder.ErrImageTooBig):
		return newError(http.StatusRequestEntityTooLarge, "image_too_large", "messages", "%v", err)
	case errors.Is(err, encoder.ErrNotImage), errors.Is(err, encoder.ErrEmptyImage), errors.Is(err, encoder.ErrCorruptImage):
		return badRequest("invalid_image", "messages", "%v", err)
	case errors.Is(err, pipeline.ErrPromptTooLong):
		return badRequest("context_length_exceeded", "messages", "%v", err)
	case errors.Is(err, models.ErrConversation):
		return conversationError(err)
	case errors.Is(err, pipeline.ErrNoFrames):
		return badRequest("unsupported_video", "messages", "%v", err)
	case errors.Is(err, pruning.ErrMissingInput), errors.Is(err, pruning.ErrBudget), errors.Is(err, pruning.ErrDepth):
		return badRequest("invalid_prune", "vlmrun.prune", "%v", err)
	default:
		return newError(http.StatusInternalServerError, "internal_error", "", "%v", err)
	}
}

// conversationError is the 400 for a conversation the model cannot take
// (pipeline.CheckChat): missing_image where it needs an image,
// too_many_images over the images it takes in one prompt,
// unsupported_conversation otherwise.
func conversationError(err error) *apiError {
	switch {
	case errors.Is(err, models.ErrNeedsImage):
		return badRequest("missing_image", "messages", "%v", err)
	case errors.Is(err, models.ErrTooManyImages):
		return badRequest("too_many_images", "messages", "%v", err)
	}
	return badRequest("unsupported_conversation", "messages", "%v", err)
}

// newID returns a completion id.
func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return "chatcmpl-" + hex.EncodeToString(b[:])
}
