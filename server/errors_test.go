package server

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"testing"
)

// pngHeader returns a PNG signature and IHDR chunk claiming w×h pixels and
// no pixel data.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// Every bad request gets the right 4xx status and an OpenAI-shaped error.
func TestBadRequests(t *testing.T) {
	_, url := testServer(t, Config{Limits: Limits{MaxBodyBytes: 1 << 20, MaxImageBytes: 256 << 10, MaxTokens: 64}})
	img := scenePNG(t, 7200, 0, 96)
	withURL := func(u string) []byte {
		b, _ := json.Marshal(map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "image_url", "image_url": map[string]any{"url": u}}}}}})
		return b
	}
	twoImages, _ := json.Marshal(map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "image_url", "image_url": map[string]any{"url": dataURI(img)}},
		map[string]any{"type": "image_url", "image_url": map[string]any{"url": dataURI(img)}}}}}})
	msgs := func(m ...any) []byte {
		b, _ := json.Marshal(map[string]any{"messages": m})
		return b
	}
	part := map[string]any{"type": "image_url", "image_url": map[string]any{"url": dataURI(img)}}
	fiveImages := msgs(map[string]any{"role": "user", "content": []any{part, part, part, part, part}})
	big := make([]byte, 300<<10)
	copy(big, img)
	cases := []struct {
		name   string
		method string
		body   []byte
		status int
		code   string
	}{
		{"malformed json", "POST", []byte(`{"messages": [`), 400, "invalid_json"},
		{"not an object", "POST", []byte(`[1,2]`), 400, "invalid_type"},
		{"wrong type", "POST", []byte(`{"messages": "hi"}`), 400, "invalid_type"},
		{"no messages", "POST", []byte(`{}`), 400, "missing_messages"},
		{"no image", "POST", []byte(`{"messages":[{"role":"user","content":"hello"}]}`), 400, "missing_image"},
		{"bad base64", "POST", withURL("data:image/png;base64,%%%not-base64%%%"), 400, "invalid_base64"},
		{"data uri not base64", "POST", withURL("data:image/png,abc"), 400, "invalid_image_url"},
		{"non-image", "POST", withURL("data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte("hello, I am text"))), 400, "invalid_image"},
		{"truncated png", "POST", withURL(dataURI(img[:len(img)/2])), 400, "invalid_image"},
		{"huge image (pixels)", "POST", withURL(dataURI(pngHeader(30000, 30000))), 413, "image_too_large"},
		{"huge image (bytes)", "POST", withURL(dataURI(big)), 413, "image_too_large"},
		{"body too large", "POST", bytes.Repeat([]byte(" "), 2<<20), 413, "request_too_large"},
		{"too many images", "POST", twoImages, 400, "too_many_images"},
		{"over the image limit", "POST", fiveImages, 400, "too_many_images"},
		{"empty messages", "POST", []byte(`{"messages":[]}`), 400, "missing_messages"},
		{"unknown role", "POST", msgs(map[string]any{"role": "tool", "content": "x"}, map[string]any{"role": "user", "content": []any{part}}), 400, "invalid_role"},
		{"image in an assistant turn", "POST", msgs(map[string]any{"role": "user", "content": "hi"},
			map[string]any{"role": "assistant", "content": []any{part}}, map[string]any{"role": "user", "content": "x"}), 400, "invalid_content"},
		{"assistant last", "POST", msgs(map[string]any{"role": "user", "content": []any{part}}, map[string]any{"role": "assistant", "content": "x"}), 400, "invalid_role"},
		{"empty content", "POST", msgs(map[string]any{"role": "user", "content": []any{}}), 400, "invalid_content"},
		{"system to a model without a chat format", "POST", msgs(map[string]any{"role": "system", "content": "be brief"},
			map[string]any{"role": "user", "content": []any{part}}), 400, "unsupported_conversation"},
		{"unknown prune method", "POST", chatBody(t, img, map[string]any{"vlmrun": map[string]any{"prune": "nosuch"}}), 400, "invalid_prune"},
		{"bad keep", "POST", chatBody(t, img, map[string]any{"vlmrun": map[string]any{"prune": "divprune", "keep": 3.5}}), 400, "invalid_prune"},
		{"keep without method", "POST", chatBody(t, img, map[string]any{"vlmrun": map[string]any{"keep": 0.5}}), 400, "invalid_prune"},
		{"max_tokens too large", "POST", chatBody(t, img, map[string]any{"max_tokens": 65}), 400, "invalid_value"},
		{"max_tokens zero", "POST", chatBody(t, img, map[string]any{"max_tokens": 0}), 400, "invalid_value"},
		{"temperature", "POST", chatBody(t, img, map[string]any{"temperature": 3}), 400, "invalid_value"},
		{"n", "POST", chatBody(t, img, map[string]any{"n": 2}), 400, "unsupported_value"},
		{"stop type", "POST", chatBody(t, img, map[string]any{"stop": 5}), 400, "invalid_type"},
		{"five stops", "POST", chatBody(t, img, map[string]any{"stop": []string{"a", "b", "c", "d", "e"}}), 400, "invalid_value"},
		{"prompt too long", "POST", bytes.Replace(chatBody(t, img, nil), []byte(`"caption :"`), []byte(`"`+strings.Repeat("a ", 5000)+`"`), 1), 400, "context_length_exceeded"},
		{"unknown model", "POST", bytes.Replace(chatBody(t, img, nil), []byte(`"scenes-tiny"`), []byte(`"gpt-4o"`), 1), 404, "model_not_found"},
		{"unknown role", "POST", []byte(`{"messages":[{"role":"robot","content":"x"}]}`), 400, "invalid_role"},
		{"unknown part", "POST", []byte(`{"messages":[{"role":"user","content":[{"type":"audio"}]}]}`), 400, "invalid_content"},
		{"bad decoder form", "POST", chatBody(t, img, map[string]any{"vlmrun": map[string]any{"decoder_form": "x"}}), 400, "invalid_value"},
		{"remote disabled", "POST", withURL("https://example.com/a.png"), 403, "remote_images_disabled"},
		{"local disabled", "POST", withURL("/etc/passwd"), 403, "local_images_disabled"},
		{"ftp scheme", "POST", withURL("ftp://example.com/a.png"), 400, "invalid_image_url"},
		{"unknown HTTP method", "GET", nil, 405, "method_not_allowed"},
		{"unknown HTTP method PUT", "PUT", nil, 405, "method_not_allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, url+"/v1/chat/completions", bytes.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var e struct {
				Error *struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    string  `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(raw, &e); err != nil || e.Error == nil {
				t.Fatalf("status %d, body not an OpenAI error: %v %s", resp.StatusCode, err, raw)
			}
			if resp.StatusCode != c.status || e.Error.Code != c.code || e.Error.Message == "" || e.Error.Type == "" {
				t.Errorf("status %d code %q type %q message %q; want %d %q", resp.StatusCode, e.Error.Code,
					e.Error.Type, e.Error.Message, c.status, c.code)
			}
			if !strings.Contains(string(raw), `"param":`) {
				t.Errorf("no param field: %s", raw)
			}
		})
	}
	// the server still answers correctly afterwards
	if code, c := post(t, url, chatBody(t, img, nil)); code != 200 || c.Choices[0].Message.Content == "" {
		t.Errorf("after bad requests: status %d %+v", code, c)
	}
	resp, err := http.Get(url + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
}
