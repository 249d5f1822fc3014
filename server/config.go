package server

import (
	"log/slog"
	"time"

	"github.com/vlmrun/vlmrun/pipeline"
)

// Limits bound what one request may ask for. Zero fields take their value
// from DefaultLimits.
type Limits struct {
	// MaxBodyBytes is the largest request body (data: URIs included).
	MaxBodyBytes int64
	// MaxImageBytes is the largest encoded image, from a data: URI, a file
	// or a remote URL; checked before decoding base64 or reading a file.
	MaxImageBytes int64
	// MaxPixels is the largest width×height, checked from the image header
	// before the request waits for the model and again by the decoder.
	MaxPixels int64
	// MaxImages is the most images in one request (all messages
	// together); a model without a chat format takes one, or several
	// where it takes image sequences.
	MaxImages int
	// MaxTokens is the largest max_tokens a request may ask for.
	MaxTokens int
	// MaxPromptBytes bounds the prompt text; MaxPromptTokens bounds the
	// tokenized prompt, visual placeholders included (usage.prompt_tokens).
	MaxPromptBytes  int
	MaxPromptTokens int
	// MaxVideoBytes is the largest video file (a data: URI, a file or a
	// remote URL); MaxFrames the most frames sampled from one video.
	MaxVideoBytes int64
	MaxFrames     int
}

// DefaultLimits are the limits used for zero fields of Limits.
var DefaultLimits = Limits{
	MaxBodyBytes:    24 << 20,
	MaxImageBytes:   16 << 20,
	MaxPixels:       64 << 20,
	MaxImages:       4,
	MaxTokens:       512,
	MaxPromptBytes:  8 << 10,
	MaxPromptTokens: 2048,
	MaxVideoBytes:   64 << 20,
	MaxFrames:       32,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxBodyBytes > 0 {
		d.MaxBodyBytes = l.MaxBodyBytes
	}
	if l.MaxImageBytes > 0 {
		d.MaxImageBytes = l.MaxImageBytes
	}
	if l.MaxPixels > 0 {
		d.MaxPixels = l.MaxPixels
	}
	if l.MaxImages > 0 {
		d.MaxImages = l.MaxImages
	}
	if l.MaxTokens > 0 {
		d.MaxTokens = l.MaxTokens
	}
	if l.MaxPromptBytes > 0 {
		d.MaxPromptBytes = l.MaxPromptBytes
	}
	if l.MaxPromptTokens > 0 {
		d.MaxPromptTokens = l.MaxPromptTokens
	}
	if l.MaxVideoBytes > 0 {
		d.MaxVideoBytes = l.MaxVideoBytes
	}
	if l.MaxFrames > 0 {
		d.MaxFrames = l.MaxFrames
	}
	return d
}

// Config configures a Server.
type Config struct {
	// ModelName is the model id in /v1/models and in responses; requests
	// naming another model get 404. Empty model fields are accepted.
	ModelName string
	// Queue is how many requests may wait for a free replica beyond the
	// pool's size; a request arriving when that many wait gets 429.
	Queue int
	// Timeout bounds one request from admission (queue wait included) to
	// its last byte; 0 means none. Generation stops when it expires.
	Timeout time.Duration
	Limits  Limits
	// AllowedMediaDir, when set, lets image_url name local files (a path or
	// file://) inside it; symbolic links may not leave it.
	AllowedMediaDir string
	// AllowRemoteImages lets image_url (and video_url) be an http(s) URL
	// the server fetches (with RemoteTimeout and MaxImageBytes or
	// MaxVideoBytes).
	AllowRemoteImages bool
	RemoteTimeout     time.Duration
	// Prune is the server's default pruning, used when a request's
	// "vlmrun" extension gives no method.
	Prune pipeline.PruneSpec
	// FrameTimeout bounds each ffmpeg/ffprobe run of a video_url's frame
	// extraction (default 30 s); the request's timeout bounds it too.
	FrameTimeout time.Duration
	// Log receives one line per request; nil discards.
	Log *slog.Logger
}
