package server

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gate is a token hook that holds generation at the second piece of text
// until released or until the request's context ends, and records what it
// saw.
type gate struct {
	release   chan struct{}
	held      atomic.Int32 // requests waiting at the gate
	cancelled atomic.Int32 // requests whose context ended at the gate
	after     atomic.Int32 // pieces handled after a context ended
}

func newGate() *gate { return &gate{release: make(chan struct{})} }

func (g *gate) hook(ctx context.Context, i int) {
	if ctx.Err() != nil {
		g.after.Add(1)
		return
	}
	if i != 1 {
		return
	}
	g.held.Add(1)
	defer g.held.Add(-1)
	select {
	case <-g.release:
	case <-ctx.Done():
		g.cancelled.Add(1)
	case <-time.After(10 * time.Second):
	}
}

// A client that disconnects mid-stream stops its generation: the request's
// context ends, no further token is handled, and the request is counted as
// cancelled.
func TestDisconnectStopsGeneration(t *testing.T) {
	s, url := testServer(t, Config{})
	g := newGate()
	s.tokenHook = g.hook
	img := scenePNG(t, 7300, 0, 96)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", url+"/v1/chat/completions",
		bytes.NewReader(chatBody(t, img, map[string]any{"stream": true})))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// read the role chunk and the first piece of text, then leave
	r := bufio.NewReader(resp.Body)
	for n := 0; n < 2; {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "data: ") {
			n++
		}
	}
	waitFor(t, "generation held at the gate", func() bool { return g.held.Load() == 1 })
	cancel()
	resp.Body.Close()
	waitFor(t, "the server to see the disconnect", func() bool { return g.cancelled.Load() == 1 })
	waitFor(t, "the request to end", func() bool { return s.admitted.Load() == 0 })
	if g.after.Load() != 0 {
		t.Errorf("%d pieces generated after the disconnect", g.after.Load())
	}
	if v := metricValue(t, url, "vlmrun_requests_cancelled_total"); v != "1" {
		t.Errorf("cancelled requests %s, want 1", v)
	}
	if v := metricValue(t, url, `vlmrun_requests_total{code="499"}`); v != "1" {
		t.Errorf("499 requests %s, want 1", v)
	}
}

// A request over the timeout stops generating and gets 504.
func TestTimeout(t *testing.T) {
	s, url := testServer(t, Config{Timeout: 300 * time.Millisecond})
	g := newGate()
	s.tokenHook = g.hook
	img := scenePNG(t, 7301, 0, 96)
	code, c := post(t, url, chatBody(t, img, nil))
	if code != http.StatusGatewayTimeout || c.Error == nil || c.Error.Code != "timeout" {
		t.Errorf("status %d error %+v, want 504 timeout", code, c.Error)
	}
	if g.cancelled.Load() != 1 || g.after.Load() != 0 {
		t.Errorf("gate saw %d cancelled, %d pieces after", g.cancelled.Load(), g.after.Load())
	}
}

// With every replica busy and the queue full, a request gets 429 at once;
// the queued ones complete when replicas free up.
func TestQueueFull(t *testing.T) {
	s, url := testServer(t, Config{Queue: 1})
	g := newGate()
	s.tokenHook = g.hook
	img := scenePNG(t, 7302, 0, 96)
	want := wantCaption(t, img, defaultReq()).Caption
	var wg sync.WaitGroup
	codes := make([]int, 3)
	texts := make([]string, 3)
	for i := range 3 { // two running (held at the gate), one queued
		wg.Go(func() {
			code, c := post(t, url, chatBody(t, img, nil))
			codes[i] = code
			if code == 200 {
				texts[i] = c.Choices[0].Message.Content
			}
		})
	}
	waitFor(t, "two held and one queued", func() bool { return g.held.Load() == 2 && s.admitted.Load() == 3 })
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(chatBody(t, img, nil)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("fourth request: status %d Retry-After %q, want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	close(g.release)
	wg.Wait()
	for i := range 3 {
		if codes[i] != 200 || texts[i] != want {
			t.Errorf("request %d: %d %q, want %q", i, codes[i], texts[i], want)
		}
	}
}

// Shutdown refuses new requests and lets running ones finish.
func TestGracefulShutdown(t *testing.T) {
	s, url := testServer(t, Config{})
	g := newGate()
	s.tokenHook = g.hook
	img := scenePNG(t, 7303, 0, 96)
	want := wantCaption(t, img, defaultReq()).Caption
	type result struct {
		code int
		text string
	}
	done := make(chan result, 1)
	go func() {
		code, c := post(t, url, chatBody(t, img, nil))
		r := result{code: code}
		if code == 200 {
			r.text = c.Choices[0].Message.Content
		}
		done <- r
	}()
	waitFor(t, "the request to be generating", func() bool { return g.held.Load() == 1 })
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	waitFor(t, "draining", func() bool { return s.draining.Load() })
	// a new request is refused (the listener is closed, or 503 on a kept-alive connection)
	waitFor(t, "new requests refused", func() bool {
		resp, err := http.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(chatBody(t, img, nil)))
		if err != nil {
			return true
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	select {
	case err := <-shut:
		t.Fatalf("shutdown returned %v while a request was running", err)
	default:
	}
	close(g.release)
	r := <-done
	if r.code != 200 || r.text != want {
		t.Errorf("running request: %d %q, want 200 %q", r.code, r.text, want)
	}
	if err := <-shut; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// Shutdown with an expired deadline cancels running generation.
func TestShutdownDeadlineCancels(t *testing.T) {
	s, url := testServer(t, Config{})
	g := newGate()
	s.tokenHook = g.hook
	img := scenePNG(t, 7304, 0, 96)
	done := make(chan int, 1)
	go func() {
		resp, err := http.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(chatBody(t, img, nil)))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	waitFor(t, "the request to be generating", func() bool { return g.held.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); err == nil {
		t.Error("shutdown returned nil with a request held past its deadline")
	}
	if code := <-done; code != 0 && code != http.StatusServiceUnavailable {
		t.Errorf("cancelled request: status %d", code)
	}
	waitFor(t, "generation to stop", func() bool { return g.cancelled.Load() == 1 })
}
