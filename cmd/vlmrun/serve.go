package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/server"
)

// cmdServe runs the OpenAI-compatible HTTP server until interrupted
// (SIGINT or SIGTERM), then drains: running requests finish, new ones are
// refused, and after --shutdown-timeout the rest are cancelled.
func cmdServe(ctx context.Context, args []string, _ io.Reader, _, stderr io.Writer) int {
	fs := newFlagSet("serve", stderr, func(*pflag.FlagSet) {
		fmt.Fprintln(stderr, "usage: vlmrun serve [flags]   (OpenAI-compatible POST /v1/chat/completions, GET /v1/models, /health, /metrics)")
		fmt.Fprintln(stderr, "exit status: 0 drained cleanly, 1 the model or the listener failed, 2 a usage error (bad flag or value)")
	})
	var mf modelFlags
	var pf pruneFlags
	mf.register(fs)
	pf.register(fs)
	fs.Lookup("prune").Usage = "default pruning method for requests without \"vlmrun\": {\"prune\": ...} (see: vlmrun prune list)"
	lim := server.DefaultLimits
	var parallel, queue int
	var timeout, drain time.Duration
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (host:port; port 0 picks a free one)")
	intFlag(fs, &parallel, "parallel", min(runtime.NumCPU(), 4), 1, maxReplicas, "",
		"requests generating at once: model replicas, each with its own ORT sessions")
	intFlag(fs, &queue, "queue", 32, 0, 100_000, "0 = no waiting", "requests that may wait for a replica; more get 429")
	durationFlag(fs, &timeout, "timeout", time.Minute, 0, 24*time.Hour, "0 = none", "per-request timeout, queue wait included")
	durationFlag(fs, &drain, "shutdown-timeout", 30*time.Second, 0, time.Hour, "",
		"on SIGINT/SIGTERM, how long running requests may finish before they are cancelled")
	name := fs.String("model-name", "", "model id in /v1/models and responses (default: the model folder's name)")
	mediaDir := fs.String("allowed-media-dir", "", "let image_url and video_url name local files inside this folder")
	remote := fs.Bool("allow-remote-images", false, "let image_url and video_url be an http(s) URL the server fetches")
	int64Flag(fs, &lim.MaxBodyBytes, "max-body-bytes", lim.MaxBodyBytes, 1024, 1<<32, "bytes", "largest request body")
	int64Flag(fs, &lim.MaxImageBytes, "max-image-bytes", lim.MaxImageBytes, 1, 1<<32, "bytes", "largest encoded image")
	intFlag(fs, &lim.MaxTokens, "max-tokens-limit", lim.MaxTokens, 1, maxNewTokens, "", "largest max_tokens a request may ask for")
	intFlag(fs, &lim.MaxImages, "max-images", lim.MaxImages, 1, 64, "", "most images in one request, all messages together")
	intFlag(fs, &lim.MaxPromptTokens, "max-prompt-tokens", lim.MaxPromptTokens, 1, 1_000_000, "", "largest prompt in tokens, visual tokens included")
	int64Flag(fs, &lim.MaxVideoBytes, "max-video-bytes", lim.MaxVideoBytes, 1, 1<<34, "bytes", "largest video file of a video_url")
	intFlag(fs, &lim.MaxFrames, "max-video-frames", lim.MaxFrames, 1, 1024, "", "most frames sampled from one video_url (a request's vlmrun.max_frames above it is refused)")
	var frameTimeout time.Duration
	durationFlag(fs, &frameTimeout, "frame-timeout", 30*time.Second, time.Second, time.Hour, "", "limit for each ffmpeg/ffprobe run of a video_url's frame extraction")
	quiet := fs.BoolP("quiet", "q", false, "do not log each request on stderr")
	if code, done := parseCommand(fs, args); done {
		return code
	}
	fail := func(err error) int { return exitCode(stderr, "serve", err) }
	if fs.NArg() > 0 {
		return fail(usagef("unexpected argument %q (serve takes only flags)", fs.Arg(0)))
	}
	var defReq pipeline.Request
	if err := pf.apply(&defReq); err != nil {
		return fail(asUsage(err))
	}
	lim.MaxPixels = mf.maxPixels
	if mf.threads == 0 {
		mf.threads = max(1, runtime.NumCPU()/parallel)
	}
	pool, err := openPool(&mf, parallel)
	if err != nil {
		return fail(err)
	}
	defer pool.Close()
	if _, err := pool.FitRequest(defReq); err != nil { // the default method must fit the model
		return fail(asUsage(err))
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if *quiet {
		log = nil
	}
	srv, err := server.New(pool, server.Config{ModelName: *name, Queue: queue, Timeout: timeout,
		Limits: lim, AllowedMediaDir: *mediaDir, AllowRemoteImages: *remote, Prune: pf.spec(), FrameTimeout: frameTimeout, Log: log})
	if err != nil {
		return fail(err) // the media folder: a runtime error (flags were checked above)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "vlmrun serve: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "vlmrun serve: listening on http://%s (model %s, %d replicas × %d ORT threads, queue %d)\n",
		l.Addr(), pool.Spec().Dir, pool.Size(), mf.threads, queue)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		fmt.Fprintf(stderr, "vlmrun serve: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	fmt.Fprintf(stderr, "vlmrun serve: shutting down; waiting up to %s for running requests\n", drain)
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	code := 0
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "vlmrun serve: shutdown: %v (running requests were cancelled)\n", err)
		code = 1
	}
	if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
		fmt.Fprintf(stderr, "vlmrun serve: %v\n", err)
	}
	return code
}

// openPool opens n replicas of the model the flags name.
func openPool(mf *modelFlags, n int) (*pipeline.Pool, error) {
	var ps []*pipeline.Pipeline
	mf.preload = true // the pool preloads every replica's merged decoder anyway
	for range n {
		p, err := mf.open()
		if err != nil {
			for _, q := range ps {
				q.Close()
			}
			return nil, err
		}
		ps = append(ps, p)
	}
	return pipeline.NewPool(ps...)
}
