package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"

	"github.com/vlmrun/vlmrun/decoder"
	"github.com/vlmrun/vlmrun/models"
)

// chatJob is a parsed, validated chat request: everything the handler needs
// except the images' bytes for file and remote references.
type chatJob struct {
	model        string
	stream       bool
	includeUsage bool
	// conv is the conversation; images are its image parts' images, in
	// conversation order.
	conv   models.Conversation
	images []imageRef
	// video is the request's video_url (at most one, a video part of conv);
	// mixed says the request also has images or other messages (then only
	// a family whose chat format takes videos answers it,
	// models.Spec.ChatVideo); fps and maxFrames are the request's sampling
	// (0: the server's default).
	video     *imageRef
	mixed     bool
	fps       float64
	maxFrames int
	maxTokens int // 0 = the model's default
	sampling  decoder.Sampling
	stops     []string
	form      decoder.Form
	// prune and keep are the request's pruning settings; pruneSet and
	// keepSet say whether they were given (else the server's default).
	prune, keep       string
	pruneSet, keepSet bool
}

// imageRef is one image of a request: decoded bytes (a data: URI), a local
// file path, or a remote http(s) URL.
type imageRef struct {
	data []byte
	path string
	url  string
}

// maxStops is OpenAI's limit on stop sequences.
const maxStops = 4

// parseChat parses and validates a chat completions request body against
// the limits. It does no I/O: file and remote images are resolved later.
// Every failure is an apiError with a 4xx status.
func parseChat(body []byte, lim Limits) (*chatJob, *apiError) {
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return nil, badRequest("invalid_json", "", "malformed JSON in the request body: %v", err)
		case errors.As(err, &typ):
			return nil, badRequest("invalid_type", typ.Field, "wrong type in the request body: %v", err)
		default:
			return nil, badRequest("invalid_json", "", "invalid request body: %v", err)
		}
	}
	if req.Messages == nil {
		return nil, badRequest("missing_messages", "messages", "messages is required")
	}
	job := &chatJob{model: req.Model, stream: req.Stream}
	if req.StreamOptions != nil {
		job.includeUsage = req.StreamOptions.IncludeUsage
	}
	if req.N != nil && *req.N != 1 {
		return nil, badRequest("unsupported_value", "n", "n must be 1 (got %d)", *req.N)
	}
	if e := job.messages(req.Messages, lim); e != nil {
		return nil, e
	}
	if e := job.generation(&req, lim); e != nil {
		return nil, e
	}
	if e := job.extension(req.VLMRun, lim); e != nil {
		return nil, e
	}
	return job, nil
}

// messages reads the conversation and its images: roles system (or
// developer, OpenAI's newer name for it), user and assistant; content a
// string or text and image_url parts, in order; images in user messages
// only; the last message the user's.
func (job *chatJob) messages(msgs []chatMessage, lim Limits) *apiError {
	if len(msgs) == 0 {
		return badRequest("missing_messages", "messages", "messages must not be empty")
	}
	textBytes := 0
	for i, m := range msgs {
		role := m.Role
		switch role {
		case "developer":
			role = models.RoleSystem
		case models.RoleSystem, models.RoleUser, models.RoleAssistant:
		default:
			return badRequest("invalid_role", "messages", "messages[%d]: unknown role %q (want system, developer, user or assistant)", i, m.Role)
		}
		parts, imgs, vids, e := parseContent(i, m.Content)
		if e != nil {
			return e
		}
		if len(vids) > 0 {
			if e := job.setVideo(i, role, vids, lim); e != nil {
				return e
			}
			if len(parts) == 0 {
				parts = []models.Part{models.TextPart("")} // the video alone: the model's default question
			}
		}
		if len(imgs) > 0 && role != models.RoleUser {
			return badRequest("invalid_content", "messages", "messages[%d]: images are only accepted in user messages (this one is %s)", i, m.Role)
		}
		if len(job.images)+len(imgs) > lim.MaxImages {
			return badRequest("too_many_images", "messages", "too many images: the limit is %d per request", lim.MaxImages)
		}
		for _, raw := range imgs {
			ref, e := parseImageURL(i, raw, lim)
			if e != nil {
				return e
			}
			job.images = append(job.images, ref)
		}
		if len(parts) == 0 {
			return badRequest("invalid_content", "messages", "messages[%d] (%s) has no content", i, m.Role)
		}
		for _, p := range parts {
			textBytes += len(p.Text)
		}
		job.conv = append(job.conv, models.Message{Role: role, Parts: parts})
	}
	job.mixed = job.video != nil && (len(msgs) != 1 || len(job.images) > 0)
	if last := msgs[len(msgs)-1].Role; last != models.RoleUser {
		return badRequest("invalid_role", "messages", "the last message must be from the user (got %q)", last)
	}
	if textBytes > lim.MaxPromptBytes {
		return badRequest("context_length_exceeded", "messages", "the messages' text has %d bytes; the limit is %d", textBytes, lim.MaxPromptBytes)
	}
	if err := job.conv.Validate(); err != nil { // every case is refused above; kept as the contract
		return badRequest("invalid_messages", "messages", "%v", err)
	}
	return nil
}

// text is the conversation's text, its parts joined by newlines.
func (job *chatJob) text() string {
	var b strings.Builder
	for _, m := range job.conv {
		for _, p := range m.Parts {
			if !p.Image && !p.Video {
				b.WriteString(p.Text)
				b.WriteByte('\n')
			}
		}
	}
	return strings.TrimSpace(b.String())
}

// parseContent reads a message's content into its parts, in order (an
// image part for each image_url, a video part for each video_url), the raw
// image_url values and the raw video_url values.
func parseContent(i int, raw json.RawMessage) (parts []models.Part, imgs, vids []json.RawMessage, e *apiError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, nil, nil, badRequest("invalid_content", "messages", "messages[%d].content: %v", i, err)
		}
		return []models.Part{models.TextPart(s)}, nil, nil, nil
	}
	var list []contentPart
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, nil, nil, badRequest("invalid_content", "messages", "messages[%d].content must be a string or an array of content parts: %v", i, err)
	}
	for j, p := range list {
		switch p.Type {
		case "text":
			parts = append(parts, models.TextPart(p.Text))
		case "image_url":
			if len(p.ImageURL) == 0 {
				return nil, nil, nil, badRequest("invalid_content", "messages", "messages[%d].content[%d]: image_url part without image_url", i, j)
			}
			parts = append(parts, models.ImagePart())
			imgs = append(imgs, p.ImageURL)
		case "video_url":
			if len(p.VideoURL) == 0 {
				return nil, nil, nil, badRequest("invalid_content", "messages", "messages[%d].content[%d]: video_url part without video_url", i, j)
			}
			parts = append(parts, models.VideoPart())
			vids = append(vids, p.VideoURL)
		default:
			return nil, nil, nil, badRequest("invalid_content", "messages", "messages[%d].content[%d]: unsupported content part type %q (want text, image_url or video_url)", i, j, p.Type)
		}
	}
	return parts, imgs, vids, nil
}

// setVideo records message i's video_url values: one video per request, in
// a user message.
func (job *chatJob) setVideo(i int, role string, vids []json.RawMessage, lim Limits) *apiError {
	if role != models.RoleUser {
		return badRequest("invalid_content", "messages", "messages[%d]: videos are only accepted in user messages (this one is %s)", i, role)
	}
	if job.video != nil || len(vids) > 1 {
		return badRequest("too_many_videos", "messages", "one video_url per request")
	}
	ref, e := parseMediaURL(i, vids[0], mediaKind{"video", "video_url", lim.MaxVideoBytes})
	if e != nil {
		return e
	}
	job.video = &ref
	return nil
}

// parseImageURL reads an image_url value ({"url": ...} or a string): a
// base64 data: URI is decoded here; file paths and http(s) URLs are kept
// for loading.
func parseImageURL(i int, raw json.RawMessage, lim Limits) (imageRef, *apiError) {
	return parseMediaURL(i, raw, mediaKind{"image", "image_url", lim.MaxImageBytes})
}

// parseMediaURL is parseImageURL for a reference of kind k (image_url or
// video_url).
func parseMediaURL(i int, raw json.RawMessage, k mediaKind) (imageRef, *apiError) {
	var u string
	if err := json.Unmarshal(raw, &u); err != nil {
		var obj struct {
			URL string `json:"url"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return imageRef{}, badRequest("invalid_"+k.part, "messages", "messages[%d]: %s must be an object with a url: %v", i, k.part, err)
		}
		u = obj.URL
	}
	lower := strings.ToLower(u)
	switch {
	case u == "":
		return imageRef{}, badRequest("invalid_"+k.part, "messages", "messages[%d]: empty %s url", i, k.noun)
	case strings.HasPrefix(lower, "data:"):
		data, e := decodeDataURIAs(i, u, k)
		return imageRef{data: data}, e
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"):
		return imageRef{url: u}, nil
	case strings.HasPrefix(lower, "file://"):
		return imageRef{path: u[len("file://"):]}, nil
	case strings.Contains(u, "://"):
		return imageRef{}, badRequest("invalid_"+k.part, "messages", "messages[%d]: unsupported %s url scheme in %q (want data:, http(s):// or a file path)", i, k.noun, clip(u, 64))
	default:
		return imageRef{path: u}, nil
	}
}

// decodeDataURI decodes "data:[type];base64,PAYLOAD", refusing payloads
// that would decode to more than maxBytes before decoding them.
func decodeDataURI(i int, u string, maxBytes int64) ([]byte, *apiError) {
	return decodeDataURIAs(i, u, mediaKind{"image", "image_url", maxBytes})
}

// decodeDataURIAs is decodeDataURI for a reference of kind k.
func decodeDataURIAs(i int, u string, k mediaKind) ([]byte, *apiError) {
	meta, payload, ok := strings.Cut(u[len("data:"):], ",")
	if !ok {
		return nil, badRequest("invalid_"+k.part, "messages", "messages[%d]: data URI without a comma", i)
	}
	if !strings.HasSuffix(strings.ToLower(meta), ";base64") {
		return nil, badRequest("invalid_"+k.part, "messages", "messages[%d]: %s data URIs must be base64 (data:%s/...;base64,...)", i, k.noun, k.noun)
	}
	if n := base64.StdEncoding.DecodedLen(len(payload)); int64(n) > k.limit+3 {
		return nil, newError(http.StatusRequestEntityTooLarge, k.noun+"_too_large", "messages",
			"messages[%d]: the %s is about %d bytes; the limit is %d", i, k.noun, n, k.limit)
	}
	data, err := base64.StdEncoding.DecodeString(payload)
	if err != nil && !strings.Contains(payload, "=") {
		// unpadded base64, as some clients send
		data, err = base64.RawStdEncoding.DecodeString(payload)
	}
	if err != nil {
		return nil, badRequest("invalid_base64", "messages", "messages[%d]: invalid base64 in the %s data URI: %v", i, k.noun, err)
	}
	if int64(len(data)) > k.limit {
		return nil, newError(http.StatusRequestEntityTooLarge, k.noun+"_too_large", "messages",
			"messages[%d]: the %s has %d bytes; the limit is %d", i, k.noun, len(data), k.limit)
	}
	if len(data) == 0 {
		return nil, badRequest("invalid_"+k.noun, "messages", "messages[%d]: empty %s in the data URI", i, k.noun)
	}
	return data, nil
}

// generation reads max_tokens, sampling and stop sequences.
func (job *chatJob) generation(req *chatRequest, lim Limits) *apiError {
	mt, param := req.MaxTokens, "max_tokens"
	if req.MaxCompletionTokens != nil {
		mt, param = req.MaxCompletionTokens, "max_completion_tokens"
	}
	if mt != nil {
		if *mt < 1 || *mt > lim.MaxTokens {
			return badRequest("invalid_value", param, "%s must be between 1 and %d (got %d)", param, lim.MaxTokens, *mt)
		}
		job.maxTokens = *mt
	}
	s := decoder.Sampling{TopP: 1}
	if t := req.Temperature; t != nil {
		if math.IsNaN(*t) || *t < 0 || *t > 2 {
			return badRequest("invalid_value", "temperature", "temperature must be between 0 and 2 (got %v)", *t)
		}
		s.Temperature = *t
	}
	if p := req.TopP; p != nil {
		if math.IsNaN(*p) || *p <= 0 || *p > 1 {
			return badRequest("invalid_value", "top_p", "top_p must be in (0, 1] (got %v)", *p)
		}
		s.TopP = *p
	}
	if k := req.TopK; k != nil {
		if *k < 0 {
			return badRequest("invalid_value", "top_k", "top_k must be >= 0 (got %d)", *k)
		}
		s.TopK = *k
	}
	if req.Seed != nil {
		s.Seed = uint64(*req.Seed)
	}
	if err := s.Validate(); err != nil {
		return badRequest("invalid_value", "temperature", "%v", err)
	}
	job.sampling = s
	stops, e := parseStop(req.Stop)
	if e != nil {
		return e
	}
	job.stops = stops
	return nil
}

// parseStop reads stop: null, a string, or an array of up to four strings.
// Empty strings are dropped.
func parseStop(raw json.RawMessage) ([]string, *apiError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list []string
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		list = []string{one}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, badRequest("invalid_type", "stop", "stop must be a string or an array of strings")
	}
	if len(list) > maxStops {
		return nil, badRequest("invalid_value", "stop", "at most %d stop sequences (got %d)", maxStops, len(list))
	}
	var out []string
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// extension reads the "vlmrun" object.
func (job *chatJob) extension(ext *extension, lim Limits) *apiError {
	if ext == nil {
		return nil
	}
	if f := ext.FPS; f != nil {
		if math.IsNaN(*f) || *f <= 0 || *f > 240 {
			return badRequest("invalid_value", "vlmrun.fps", "vlmrun.fps must be in (0, 240] frames per second (got %v)", *f)
		}
		job.fps = *f
	}
	if n := ext.MaxFrames; n != nil {
		switch {
		case *n < 1:
			return badRequest("invalid_value", "vlmrun.max_frames", "vlmrun.max_frames must be at least 1 (got %d)", *n)
		case *n > lim.MaxFrames:
			return badRequest("too_many_frames", "vlmrun.max_frames", "vlmrun.max_frames is %d; this server takes at most %d frames per video", *n, lim.MaxFrames)
		}
		job.maxFrames = *n
	}
	if ext.Prune != nil {
		job.prune, job.pruneSet = *ext.Prune, true
	}
	if k := bytes.TrimSpace(ext.Keep); len(k) > 0 && string(k) != "null" {
		var s string
		var n json.Number
		switch {
		case json.Unmarshal(k, &s) == nil:
		case json.Unmarshal(k, &n) == nil:
			s = n.String()
		default:
			return badRequest("invalid_type", "vlmrun.keep", "vlmrun.keep must be a number (0.25, 64) or a string (\"25%%\")")
		}
		job.keep, job.keepSet = s, true
	}
	switch f := decoder.Form(ext.DecoderForm); f {
	case "", decoder.FormAuto, decoder.FormMerged, decoder.FormLayers:
		job.form = f
	default:
		return badRequest("invalid_value", "vlmrun.decoder_form", "unknown vlmrun.decoder_form %q (want auto, merged or layers)", ext.DecoderForm)
	}
	return nil
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
