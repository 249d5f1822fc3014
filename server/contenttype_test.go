package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
)

func postStatus(t *testing.T, url, ctype string, body []byte) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct {
			Message string `json:"message"`
			Code    string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Error.Code, e.Error.Message
}

// The server takes JSON bodies only: application/json (UTF-8) or no
// Content-Type; anything else is 415 before the body is read (issue 20).
func TestContentType(t *testing.T) {
	_, url := testServer(t, Config{})
	body := chatBody(t, scenePNG(t, 7200, 1, 96), nil)
	for _, c := range []struct {
		ctype string
		ok    bool
	}{
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"Application/JSON; charset=UTF-8", true},
		{"", true},
		{"application/x-www-form-urlencoded", false}, // curl -d without -H
		{"text/plain", false},
		{"multipart/form-data; boundary=x", false},
		{"application/json; charset=latin1", false},
		{"not a media type;;", false},
	} {
		status, code, msg := postStatus(t, url, c.ctype, body)
		if c.ok && status != http.StatusOK {
			t.Errorf("Content-Type %q: status %d %s %s, want 200", c.ctype, status, code, msg)
		}
		if !c.ok && (status != http.StatusUnsupportedMediaType || code != "unsupported_media_type" || !strings.Contains(msg, "application/json")) {
			t.Errorf("Content-Type %q: status %d %s %q, want 415 unsupported_media_type", c.ctype, status, code, msg)
		}
	}
}

// The server's and the CLI's pixel-limit errors use one unit (Mpx of 2^20
// pixels, as --max-pixels' help says); the server said "M" of 10^6.
func TestPixelLimitUnits(t *testing.T) {
	_, url := testServer(t, Config{})
	b, _ := json.Marshal(map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "image_url", "image_url": map[string]any{"url": dataURI(pngHeader(30000, 30000))}}}}}})
	status, _, msg := postStatus(t, url, "application/json", b)
	_, _, err := encoder.DecodeImage("huge.png", bytes.NewReader(pngHeader(30000, 30000)), encoder.Limits{})
	if status != http.StatusRequestEntityTooLarge || err == nil {
		t.Fatalf("status %d, CLI error %v", status, err)
	}
	// both say "30000×30000 (858 Mpx), above the 64 Mpx limit"
	const want = "30000×30000 (858 Mpx), above the 64 Mpx limit"
	if !strings.Contains(msg, want) || !strings.Contains(err.Error(), want) {
		t.Errorf("server %q, CLI %q; want both to say %q", msg, err, want)
	}
}

// An in-decoder method whose layers lie past the model's decoder is the
// request's error (400 invalid_prune), not the server's (issue 20, defect 10).
func TestPruneDepthIsBadRequest(t *testing.T) {
	_, url := testServer(t, Config{})
	body := chatBody(t, scenePNG(t, 7200, 2, 96), map[string]any{"vlmrun": map[string]any{"prune": "pdrop:layers=8/16/24"}})
	status, code, msg := postStatus(t, url, "application/json", body)
	if status != http.StatusBadRequest || code != "invalid_prune" || !strings.Contains(msg, "layer") {
		t.Errorf("status %d %s %q, want 400 invalid_prune", status, code, msg)
	}
}
