package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/scenes"

	_ "github.com/vlmrun/vlmrun/models/scenes"
)

var (
	poolOnce sync.Once
	pool     *pipeline.Pool
	poolErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pool != nil {
		pool.Close()
	}
	os.Exit(code)
}

// testPool returns a pool of two single-threaded replicas of the embedded
// model, shared by the tests (each test makes its own Server on it).
func testPool(t testing.TB) *pipeline.Pool {
	t.Helper()
	testenv.ORT(t)
	poolOnce.Do(func() {
		pool, poolErr = pipeline.OpenPool(testenv.Model(t), pipeline.Options{ORT: ortx.Options{Threads: 1}}, 2)
	})
	if poolErr != nil {
		t.Fatal(poolErr)
	}
	return pool
}

// testServer starts a Server with cfg on a real listener on 127.0.0.1 and
// returns it and its base URL; it is shut down when the test ends.
func testServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(testPool(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s, "http://" + l.Addr().String()
}

// scenePNG renders generated scene i of seed at size px as PNG.
func scenePNG(t testing.TB, seed uint64, i, size int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, scenes.Generate(seed, i).Render(size)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func dataURI(img []byte) string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(img)
}

// chatBody builds a request body with one image and the given extra fields.
func chatBody(t testing.TB, img []byte, extra map[string]any) []byte {
	t.Helper()
	body := map[string]any{
		"model": "scenes-tiny",
		"messages": []any{map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "text", "text": "caption :"},
			map[string]any{"type": "image_url", "image_url": map[string]any{"url": dataURI(img)}},
		}}},
	}
	for k, v := range extra {
		body[k] = v
	}
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// completionJSON is a non-streaming response as the OpenAI client reads it.
type completionJSON struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
	VLMRun *struct {
		Timings      pipeline.Timings     `json:"timings"`
		VisualTokens pipeline.VisualCount `json:"visual_tokens"`
		Prune        string               `json:"prune"`
		Frames       int                  `json:"frames"`
		FrameTimes   []float64            `json:"frame_times_s"`
	} `json:"vlmrun"`
	Error *apiError `json:"error"`
}

// post sends a body and decodes the JSON answer.
func post(t testing.TB, url string, body []byte) (int, completionJSON) {
	t.Helper()
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var c completionJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("status %d: response is not JSON: %v\n%s", resp.StatusCode, err, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	return resp.StatusCode, c
}

// streamed is a streaming response read as the OpenAI client reads it.
type streamed struct {
	chunks  []map[string]any
	content string
	role    string
	finish  string
	usage   map[string]any
	done    bool // saw data: [DONE]
}

// readStream parses server-sent events: "data: " lines, JSON chunks until
// [DONE]; it fails the test on anything the OpenAI client would reject.
func readStream(t testing.TB, r io.Reader) streamed {
	t.Helper()
	var s streamed
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("not an SSE data line: %q", line)
		}
		if s.done {
			t.Fatalf("event after [DONE]: %q", line)
		}
		if data == "[DONE]" {
			s.done = true
			continue
		}
		var ch map[string]any
		if err := json.Unmarshal([]byte(data), &ch); err != nil {
			t.Fatalf("chunk is not JSON: %v: %q", err, data)
		}
		if ch["error"] != nil {
			t.Fatalf("error event: %v", ch["error"])
		}
		if ch["object"] != "chat.completion.chunk" || ch["id"] == "" {
			t.Fatalf("bad chunk header: %v", ch)
		}
		s.chunks = append(s.chunks, ch)
		if u, ok := ch["usage"].(map[string]any); ok {
			s.usage = u
		}
		for _, c := range ch["choices"].([]any) {
			c := c.(map[string]any)
			d := c["delta"].(map[string]any)
			if r, ok := d["role"].(string); ok {
				s.role = r
			}
			if txt, ok := d["content"].(string); ok {
				s.content += txt
			}
			if f, ok := c["finish_reason"].(string); ok {
				s.finish = f
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// wantCaption runs the pipeline directly on img with req.
func wantCaption(t testing.TB, img []byte, req pipeline.Request) *pipeline.Result {
	t.Helper()
	res, err := testPool(t).Caption(context.Background(), "want.png", bytes.NewReader(img), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// waitFor polls cond for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// metricValue returns a sample's value from /metrics text.
func metricValue(t testing.TB, url, sample string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			return v
		}
	}
	return fmt.Sprintf("(no %s)", sample)
}

func defaultReq() pipeline.Request { return pipeline.Request{} }
