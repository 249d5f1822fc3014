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
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vlmrun serve [flags]   (OpenAI-compatible POST /v1/chat/completions, GET /v1/models, /health, /metrics)")
		fs.PrintDefaults()
	}
	var mf modelFlags
	var pf pruneFlags
	mf.register(fs)
	pf.register(fs)
	fs.Lookup("prune").Usage = "default pruning method for requests without \"vlmrun\": {\"prune\": ...} (see: vlmrun prune list)"
	lim := server.DefaultLimits
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (host:port; port 0 picks a free one)")
	parallel := fs.Int("parallel", min(runtime.NumCPU(), 4), "requests generating at once: model replicas, each with its own ORT sessions")
	queue := fs.Int("queue", 32, "requests that may wait for a replica; more get 429")
	timeout := fs.Duration("timeout", time.Minute, "per-request timeout, queue wait included (0 = none)")
	drain := fs.Duration("shutdown-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long running requests may finish before they are cancelled")
	name := fs.String("model-name", "", "model id in /v1/models and responses (default: the model folder's name)")
	mediaDir := fs.String("allowed-media-dir", "", "let image_url name local files inside this folder")
	remote := fs.Bool("allow-remote-images", false, "let image_url be an http(s) URL the server fetches")
	fs.Int64Var(&lim.MaxBodyBytes, "max-body-bytes", lim.MaxBodyBytes, "largest request body")
	fs.Int64Var(&lim.MaxImageBytes, "max-image-bytes", lim.MaxImageBytes, "largest encoded image")
	fs.IntVar(&lim.MaxTokens, "max-tokens-limit", lim.MaxTokens, "largest max_tokens a request may ask for")
	fs.IntVar(&lim.MaxPromptTokens, "max-prompt-tokens", lim.MaxPromptTokens, "largest prompt in tokens, visual tokens included")
	quiet := fs.BoolP("quiet", "q", false, "do not log each request on stderr")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vlmrun serve: unexpected arguments %v\n", fs.Args())
		return 2
	}
	if *parallel < 1 || *queue < 0 {
		fmt.Fprintln(stderr, "vlmrun serve: --parallel must be >= 1 and --queue >= 0")
		return 2
	}
	if err := pf.apply(&pipeline.Request{}); err != nil {
		fmt.Fprintf(stderr, "vlmrun serve: %v\n", err)
		return 2
	}
	lim.MaxPixels = mf.maxPixels
	if mf.threads == 0 {
		mf.threads = max(1, runtime.NumCPU() / *parallel)
	}
	pool, err := openPool(&mf, *parallel)
	if err != nil {
		fmt.Fprintf(stderr, "vlmrun serve: %v\n", err)
		return 1
	}
	defer pool.Close()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if *quiet {
		log = nil
	}
	srv, err := server.New(pool, server.Config{ModelName: *name, Queue: *queue, Timeout: *timeout,
		Limits: lim, AllowedMediaDir: *mediaDir, AllowRemoteImages: *remote, Prune: pf.spec(), Log: log})
	if err != nil {
		fmt.Fprintf(stderr, "vlmrun serve: %v\n", err)
		return 2
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "vlmrun serve: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "vlmrun serve: listening on http://%s (model %s, %d replicas × %d ORT threads, queue %d)\n",
		l.Addr(), pool.Spec().Dir, pool.Size(), mf.threads, *queue)
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
	fmt.Fprintf(stderr, "vlmrun serve: shutting down; waiting up to %s for running requests\n", *drain)
	sctx, cancel := context.WithTimeout(context.Background(), *drain)
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
