package server

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/pipeline"
)

// chatRequest is the body of POST /v1/chat/completions: the OpenAI fields
// vlmrun uses, plus the "vlmrun" extension. Unknown fields are ignored, as
// OpenAI clients send many optional ones.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	TopK                *int            `json:"top_k"`
	Seed                *int64          `json:"seed"`
	Stop                json.RawMessage `json:"stop"`
	N                   *int            `json:"n"`
	VLMRun              *extension      `json:"vlmrun"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// extension is the request's "vlmrun" object: per-request pruning (method
// in pruning.Parse syntax, keep as a number or a string in
// pruning.ParseBudget syntax) and the decoder form.
type extension struct {
	Prune       *string         `json:"prune"`
	Keep        json.RawMessage `json:"keep"`
	DecoderForm string          `json:"decoder_form"`
	// FPS and MaxFrames sample a video_url's frames (defaults: the model
	// folder's video_sampling, else 1 and 16; MaxFrames at most
	// Limits.MaxFrames).
	FPS       *float64 `json:"fps"`
	MaxFrames *int     `json:"max_frames"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"` // a string, an array of parts, or null
}

type contentPart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	ImageURL json.RawMessage `json:"image_url"` // {"url": ...} or a bare string
	VideoURL json.RawMessage `json:"video_url"` // the same, for a video
}

// chatResponse is a non-streaming completion.
type chatResponse struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   usage        `json:"usage"`
	VLMRun  *report      `json:"vlmrun,omitempty"`
}

type chatChoice struct {
	Index        int             `json:"index"`
	Message      *assistantMsg   `json:"message,omitempty"`
	Delta        *assistantMsg   `json:"delta,omitempty"`
	FinishReason *string         `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"`
}

type assistantMsg struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// chatChunk is one server-sent event of a streaming completion.
type chatChunk struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   *usage       `json:"usage,omitempty"`
	VLMRun  *report      `json:"vlmrun,omitempty"`
}

// report is the response's "vlmrun" object: what the runner measured.
type report struct {
	SchemaVersion int                  `json:"schema_version"` // pipeline.SchemaVersion
	Timings       pipeline.Timings     `json:"timings"`
	QueueMs       float64              `json:"queue_ms"`
	VisualTokens  pipeline.VisualCount `json:"visual_tokens"`
	Image         encoder.ImageInfo    `json:"image"`
	Prune         string               `json:"prune"`
	Keep          string               `json:"keep,omitempty"`
	// Video: the frames sampled from a video_url, their times in seconds,
	// and the time to extract them (not in Timings).
	Frames         int       `json:"frames,omitempty"`
	FrameTimes     []float64 `json:"frame_times_s,omitempty"`
	FrameExtractMs float64   `json:"frame_extract_ms,omitempty"`
}

// apiError is an error response in OpenAI's shape:
//
//	{"error": {"message": "...", "type": "invalid_request_error", "param": null, "code": "..."}}
type apiError struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
}

func (e *apiError) Error() string { return e.Message }

// errorBody wraps an apiError for encoding.
type errorBody struct {
	Error *apiError `json:"error"`
}

// badRequest returns a 400 invalid_request_error.
func badRequest(code, param, format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, code, param, format, args...)
}

// newError returns an error with the given status; its type follows from
// the status as OpenAI's do.
func newError(status int, code, param, format string, args ...any) *apiError {
	e := &apiError{Status: status, Message: fmt.Sprintf(format, args...), Code: code}
	if param != "" {
		e.Param = &param
	}
	switch {
	case status == http.StatusTooManyRequests:
		e.Type = "rate_limit_error"
	case status == http.StatusNotFound:
		e.Type = "not_found_error"
	case status == http.StatusForbidden:
		e.Type = "permission_error"
	case status < 500:
		e.Type = "invalid_request_error"
	default:
		e.Type = "server_error"
	}
	return e
}

// writeError writes e as a JSON response.
func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, errorBody{e})
}

// writeJSON writes v with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data = []byte(`{"error":{"message":"encode response","type":"server_error","param":null,"code":"internal"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}
