package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vlmrun/vlmrun/decoder"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
)

// Non-streaming and streaming completions parse as the OpenAI client
// expects, and their text is the pipeline's caption for the same image and
// settings: greedy, sampled, and pruned per request through "vlmrun".
func TestChatMatchesPipeline(t *testing.T) {
	_, url := testServer(t, Config{})
	dir := filepath.Join(testenv.Repo(t), "examples")
	var labels map[string]string
	if err := json.Unmarshal(readFile(t, filepath.Join(dir, "labels.json")), &labels); err != nil {
		t.Fatal(err)
	}
	type setting struct {
		name  string
		extra map[string]any
		req   pipeline.Request
	}
	sampled := pipeline.Request{Sampling: decoder.Sampling{Temperature: 0.8, TopP: 0.9, Seed: 7}}
	pruned := pipeline.Request{}
	if err := (pipeline.PruneSpec{Method: "divprune", Keep: "0.25"}).Apply(&pruned); err != nil {
		t.Fatal(err)
	}
	inDec := pipeline.Request{}
	if err := (pipeline.PruneSpec{Method: "fastv", Keep: "0.5"}).Apply(&inDec); err != nil {
		t.Fatal(err)
	}
	settings := []setting{
		{"greedy", nil, pipeline.Request{}},
		{"sampled", map[string]any{"temperature": 0.8, "top_p": 0.9, "seed": 7}, sampled},
		{"divprune", map[string]any{"vlmrun": map[string]any{"prune": "divprune", "keep": 0.25}}, pruned},
		{"fastv", map[string]any{"vlmrun": map[string]any{"prune": "fastv", "keep": "50%"}}, inDec},
		{"max_tokens", map[string]any{"max_tokens": 3}, pipeline.Request{MaxNewTokens: 3}},
	}
	for file := range labels {
		img := readFile(t, filepath.Join(dir, file))
		for _, st := range settings {
			want := wantCaption(t, img, st.req)
			// non-streaming
			code, c := post(t, url, chatBody(t, img, st.extra))
			if code != http.StatusOK || c.Error != nil {
				t.Fatalf("%s %s: status %d error %+v", file, st.name, code, c.Error)
			}
			if c.Object != "chat.completion" || !strings.HasPrefix(c.ID, "chatcmpl-") || c.Created == 0 ||
				c.Model != "scenes-tiny" || len(c.Choices) != 1 || c.Choices[0].Message.Role != "assistant" {
				t.Errorf("%s %s: response shape %+v", file, st.name, c)
			}
			if got := c.Choices[0].Message.Content; got != want.Caption {
				t.Errorf("%s %s: content %q, pipeline %q", file, st.name, got, want.Caption)
			}
			if st.name == "greedy" && want.Caption != labels[file] {
				t.Logf("%s: the model's caption %q differs from the label %q", file, want.Caption, labels[file])
			}
			u := c.Usage
			if u.PromptTokens != len(want.PromptIDs) || u.CompletionTokens != len(want.GeneratedIDs) ||
				u.TotalTokens != u.PromptTokens+u.CompletionTokens {
				t.Errorf("%s %s: usage %+v, want %d + %d", file, st.name, u, len(want.PromptIDs), len(want.GeneratedIDs))
			}
			wantFinish := "stop"
			if st.name == "max_tokens" {
				wantFinish = "length"
			}
			if c.Choices[0].FinishReason != wantFinish {
				t.Errorf("%s %s: finish_reason %q, want %q", file, st.name, c.Choices[0].FinishReason, wantFinish)
			}
			if c.VLMRun == nil || c.VLMRun.Timings.Total <= 0 || c.VLMRun.VisualTokens.AfterPre != want.Visual.AfterPre ||
				!equalInts(c.VLMRun.VisualTokens.LayerRows, want.Visual.LayerRows) || c.VLMRun.Timings.ORTShared {
				t.Errorf("%s %s: vlmrun report %+v, pipeline visual %+v", file, st.name, c.VLMRun, want.Visual)
			}
			// streaming
			resp, err := http.Post(url+"/v1/chat/completions", "application/json",
				bytes.NewReader(chatBody(t, img, merge(st.extra, map[string]any{"stream": true,
					"stream_options": map[string]any{"include_usage": true}}))))
			if err != nil {
				t.Fatal(err)
			}
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
				t.Fatalf("%s %s: stream status %d type %q", file, st.name, resp.StatusCode, ct)
			}
			s := readStream(t, resp.Body)
			resp.Body.Close()
			if !s.done || s.role != "assistant" || s.finish != wantFinish || s.content != want.Caption {
				t.Errorf("%s %s: stream done=%v role=%q finish=%q content %q, pipeline %q",
					file, st.name, s.done, s.role, s.finish, s.content, want.Caption)
			}
			if s.usage == nil || int(s.usage["completion_tokens"].(float64)) != len(want.GeneratedIDs) {
				t.Errorf("%s %s: usage chunk %v", file, st.name, s.usage)
			}
		}
	}
}

// Sixteen concurrent clients on two replicas all get their own image's
// caption.
func TestConcurrentClients(t *testing.T) {
	_, url := testServer(t, Config{Queue: 16})
	const clients, each = 16, 2
	imgs := make([][]byte, clients)
	wants := make([]string, clients)
	for i := range imgs {
		imgs[i] = scenePNG(t, 7100, i, 96)
		wants[i] = wantCaption(t, imgs[i], pipeline.Request{}).Caption
	}
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for j := range each {
				stream := j%2 == 1
				body := chatBody(t, imgs[i], map[string]any{"stream": stream})
				resp, err := http.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				var got string
				if stream {
					got = readStream(t, resp.Body).content
				} else {
					var c completionJSON
					if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || len(c.Choices) != 1 {
						t.Errorf("client %d: %v %+v", i, err, c)
					} else {
						got = c.Choices[0].Message.Content
					}
				}
				resp.Body.Close()
				if resp.StatusCode != 200 || got != wants[i] {
					t.Errorf("client %d request %d: status %d caption %q, want %q", i, j, resp.StatusCode, got, wants[i])
				}
			}
		})
	}
	wg.Wait()
}

// Stop sequences cut the text before the first one, as OpenAI's do.
func TestStopSequence(t *testing.T) {
	_, url := testServer(t, Config{})
	img := scenePNG(t, 7101, 3, 96)
	want := wantCaption(t, img, pipeline.Request{}).Caption
	words := strings.Fields(want)
	if len(words) < 4 {
		t.Skipf("caption %q too short", want)
	}
	stop := " " + words[2]
	wantText := want[:strings.Index(want, stop)]
	for _, stream := range []bool{false, true} {
		body := chatBody(t, img, map[string]any{"stop": []string{"zzz", stop}, "stream": stream})
		var got, finish string
		if stream {
			resp, err := http.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			s := readStream(t, resp.Body)
			resp.Body.Close()
			got, finish = s.content, s.finish
		} else {
			_, c := post(t, url, body)
			got, finish = c.Choices[0].Message.Content, c.Choices[0].FinishReason
		}
		if got != wantText || finish != "stop" {
			t.Errorf("stream=%v stop %q: got %q (%s), want %q", stream, stop, got, finish, wantText)
		}
	}
}

func TestStopper(t *testing.T) {
	s := stopper{stops: []string{"abc", "xy"}}
	var out string
	for _, p := range []string{"hello a", "b", "x", "c ab", "cdef"} {
		o, hit := s.push(p)
		out += o
		if hit {
			break
		}
	}
	if out != "hello abxc " {
		t.Errorf("got %q", out)
	}
	s = stopper{stops: []string{"abc"}}
	o, _ := s.push("xxab")
	if o != "xx" || s.flush() != "ab" {
		t.Errorf("hold back: %q", o)
	}
}

// /v1/models, /health and /metrics; /metrics is valid Prometheus text.
func TestInfoEndpoints(t *testing.T) {
	_, url := testServer(t, Config{ModelName: "tiny"})
	img := scenePNG(t, 7102, 0, 96)
	body := bytes.Replace(chatBody(t, img, nil), []byte(`"scenes-tiny"`), []byte(`"tiny"`), 1)
	if code, _ := post(t, url, body); code != 200 {
		t.Fatalf("status %d", code)
	}
	for path, want := range map[string]string{"/v1/models": `"id":"tiny"`, "/v1/models/tiny": `"object":"model"`,
		"/health": `"status":"ok"`} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(buf.String(), want) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, buf.String())
		}
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	resp.Body.Close()
	sample := regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? [-+0-9.eInf]+$`)
	buckets := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
			continue
		}
		if !sample.MatchString(line) {
			t.Errorf("bad metrics line %q", line)
			continue
		}
		if strings.Contains(line, "_bucket{") {
			key := line[:strings.Index(line, "le=")]
			v, _ := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
			if v < buckets[key] {
				t.Errorf("histogram buckets not cumulative at %q", line)
			}
			buckets[key] = v
		}
	}
	for _, want := range []string{`vlmrun_requests_total{code="200"} 1`, `vlmrun_completion_tokens_total `,
		`vlmrun_stage_duration_seconds_count{stage="prefill"} 1`, `process_resident_memory_bytes `} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// Local files are read only inside --allowed-media-dir.
func TestLocalMedia(t *testing.T) {
	dir := t.TempDir()
	img := scenePNG(t, 7103, 1, 96)
	os.WriteFile(filepath.Join(dir, "a.png"), img, 0o644)
	outside := filepath.Join(t.TempDir(), "b.png")
	os.WriteFile(outside, img, 0o644)
	os.Symlink(outside, filepath.Join(dir, "link.png"))
	_, url := testServer(t, Config{AllowedMediaDir: dir})
	want := wantCaption(t, img, pipeline.Request{}).Caption
	body := func(u string) []byte {
		b, _ := json.Marshal(map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "image_url", "image_url": map[string]any{"url": u}}}}}})
		return b
	}
	for u, wantCode := range map[string]int{
		"a.png": 200, filepath.Join(dir, "a.png"): 200, "file://" + filepath.Join(dir, "a.png"): 200,
		outside: 403, "../" + filepath.Base(filepath.Dir(outside)) + "/b.png": 403, "link.png": 403,
		"nope.png": 400, "http://127.0.0.1:1/x.png": 403,
	} {
		code, c := post(t, url, body(u))
		if code != wantCode {
			t.Errorf("%s: status %d, want %d (%+v)", u, code, wantCode, c.Error)
		}
		if code == 200 && c.Choices[0].Message.Content != want {
			t.Errorf("%s: caption %q, want %q", u, c.Choices[0].Message.Content, want)
		}
	}
}

func merge(a, b map[string]any) map[string]any {
	m := map[string]any{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
