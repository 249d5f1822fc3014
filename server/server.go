// Package server is vlmrun's OpenAI-compatible HTTP server:
//
//	POST /v1/chat/completions   chat completions with image_url parts (data: URIs,
//	                            local files under an allowed folder, or http(s)
//	                            URLs when enabled) or one video_url (sampled to
//	                            frames as vlmrun video does; beside images and
//	                            other messages only where the family's chat
//	                            format takes videos, Qwen2-VL), streaming as
//	                            server-sent events
//	GET  /v1/models             the served model
//	GET  /health                200 while serving, 503 while draining
//	GET  /metrics               Prometheus text format
//
// Requests run on a pipeline.Pool, one per replica at a time; a bounded
// queue holds requests waiting for a replica and a full queue answers 429.
// Each request has a timeout, and generation stops when the client
// disconnects. Errors are JSON in OpenAI's shape with a 4xx status for
// anything the client can fix. A request's "vlmrun" object selects pruning
// ({"prune": "divprune", "keep": 0.25}), with the same syntax as the CLI's
// --prune and --keep; the response's "vlmrun" object has the per-stage
// timings and visual-token counts.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"
)

// Server serves one model pool over HTTP.
type Server struct {
	cfg      Config
	lim      Limits
	pool     *pipeline.Pool
	spec     *models.Spec
	sampling *models.VideoSampling // the folder's video_sampling (nil: none)
	met      *metrics
	log      *slog.Logger
	admitted atomic.Int64 // requests running or waiting for a replica
	running  atomic.Int64
	draining atomic.Bool
	base     context.Context // parent of every request's context
	stopAll  context.CancelCauseFunc
	hs       *http.Server
	// tokenHook, when set (by tests), runs before each piece of generated
	// text is handled, with the request's context and the piece's index.
	tokenHook func(ctx context.Context, i int)
}

// errShutdown and errTimeout are the causes of cancelled request contexts.
var (
	errShutdown = errors.New("server: shutting down")
	errTimeout  = errors.New("server: request timeout")
)

// New returns a server for the pool. The pool stays the caller's: close it
// after Shutdown returns.
func New(pool *pipeline.Pool, cfg Config) (*Server, error) {
	if pool == nil || pool.Size() == 0 {
		return nil, fmt.Errorf("server: no model replicas")
	}
	lim := cfg.Limits.withDefaults()
	if cfg.Queue < 0 {
		return nil, fmt.Errorf("server: negative queue length %d", cfg.Queue)
	}
	if cfg.ModelName == "" {
		cfg.ModelName = filepath.Base(pool.Spec().Dir)
	}
	if cfg.AllowedMediaDir != "" {
		abs, err := filepath.Abs(cfg.AllowedMediaDir)
		if err != nil {
			return nil, fmt.Errorf("server: media folder: %w", err)
		}
		cfg.AllowedMediaDir = abs
	}
	if err := cfg.Prune.Apply(&pipeline.Request{}); err != nil {
		return nil, fmt.Errorf("server: default pruning: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	sampling, err := models.ReadVideoSampling(pool.Spec().Dir)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &Server{cfg: cfg, lim: lim, pool: pool, spec: pool.Spec(), sampling: sampling, log: log}
	s.met = newMetrics(func() int { return int(s.running.Load()) },
		func() int { return int(s.admitted.Load() - s.running.Load()) })
	s.base, s.stopAll = context.WithCancelCause(context.Background())
	s.hs = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.base },
	}
	return s, nil
}

// Handler returns the HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", s.chat)
	mux.HandleFunc("/v1/models", s.get(s.models))
	mux.HandleFunc("/v1/models/{id}", s.get(s.model))
	mux.HandleFunc("/health", s.get(s.health))
	mux.HandleFunc("/metrics", s.get(s.metrics))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newError(http.StatusNotFound, "not_found", "", "no route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// Serve accepts connections on l until Shutdown; it returns nil after a
// Shutdown and the listener's error otherwise.
func (s *Server) Serve(l net.Listener) error {
	err := s.hs.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting requests and waits for the running ones to
// finish. If ctx ends first, running generations are cancelled (their
// clients get a 503 or an error event) and the connections closed; the
// returned error is then ctx's.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	err := s.hs.Shutdown(ctx)
	if err != nil {
		s.stopAll(errShutdown)
		s.hs.Close()
	}
	return err
}

// get wraps a GET-only handler.
func (s *Server) get(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, newError(http.StatusMethodNotAllowed, "method_not_allowed", "",
				"method %s is not allowed on %s (use GET)", r.Method, r.URL.Path))
			return
		}
		h(w, r)
	}
}

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) modelObject() modelObject {
	return modelObject{ID: s.cfg.ModelName, Object: "model", OwnedBy: "vlmrun"}
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []modelObject{s.modelObject()}})
}

func (s *Server) model(w http.ResponseWriter, r *http.Request) {
	if id := r.PathValue("id"); id != s.cfg.ModelName {
		writeError(w, newError(http.StatusNotFound, "model_not_found", "model", "the model %q does not exist (this server has %q)", id, s.cfg.ModelName))
		return
	}
	writeJSON(w, http.StatusOK, s.modelObject())
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	status, code := "ok", http.StatusOK
	if s.draining.Load() {
		status, code = "draining", http.StatusServiceUnavailable
	}
	running := s.running.Load()
	writeJSON(w, code, map[string]any{"status": status, "model": s.cfg.ModelName,
		"replicas": s.pool.Size(), "running": running, "queued": s.admitted.Load() - running})
}

func (s *Server) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.met.write(w)
}
