package server

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseChat: request parsing never panics; it returns either a job
// within the limits or a 4xx error in OpenAI's shape.
//
//	go test ./server -run '^$' -fuzz FuzzParseChat -fuzztime 1m
func FuzzParseChat(f *testing.F) {
	png := base64.StdEncoding.EncodeToString(pngHeader(4, 4))
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + png + `"}}]}]}`,
		`{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"image_url","image_url":"data:image/png;base64,` + png + `"}]}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":5,"temperature":0.5,"top_p":0.9,"top_k":3,"seed":-1,"stop":["a","b"]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"file:///x.png"}}]}],"vlmrun":{"prune":"divprune","keep":0.25,"decoder_form":"layers"}}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}],"vlmrun":{"keep":"25%"},"stop":"x","n":1}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,%%%"}}]}]}`,
		`{"messages":[{"role":"developer","content":"x"},{"role":"user","content":"hi"},{"role":"assistant","content":"yo"},{"role":"user","content":"more"}]}`,
		`{"messages": [`, `[]`, `null`, `{"messages":null}`, `{"messages":[{"role":"user","content":null}]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:,abc"}},{"type":"image_url","image_url":{"url":"data:;base64,QUJD"}}]}]}`,
	} {
		f.Add([]byte(s))
	}
	lim := Limits{MaxImageBytes: 1 << 10}.withDefaults()
	f.Fuzz(func(t *testing.T, body []byte) {
		job, e := parseChat(body, lim)
		if (job == nil) == (e == nil) {
			t.Fatalf("job %v and error %v", job, e)
		}
		if e != nil {
			if e.Status < 400 || e.Status >= 500 || e.Message == "" || e.Code == "" || e.Type == "" {
				t.Fatalf("bad error %+v", e)
			}
			if !utf8.ValidString(e.Code) {
				t.Fatalf("code %q", e.Code)
			}
			return
		}
		if len(job.images) > lim.MaxImages || len(job.images) != job.conv.Images() || job.conv.Validate() != nil {
			t.Fatalf("%d images, conversation %+v", len(job.images), job.conv)
		}
		for _, im := range job.images {
			n := 0
			if im.data != nil {
				n++
				if len(im.data) == 0 || int64(len(im.data)) > lim.MaxImageBytes {
					t.Fatalf("image of %d bytes", len(im.data))
				}
			}
			if im.path != "" {
				n++
			}
			if im.url != "" {
				n++
			}
			if n != 1 {
				t.Fatalf("image ref %+v", im)
			}
		}
		if job.maxTokens < 0 || job.maxTokens > lim.MaxTokens || len(job.text()) > lim.MaxPromptBytes ||
			len(job.stops) > maxStops || job.sampling.Validate() != nil {
			t.Fatalf("job out of limits: %+v", job)
		}
		for _, s := range job.stops {
			if s == "" {
				t.Fatal("empty stop sequence")
			}
		}
	})
}

// Data URIs: padded and unpadded base64 and line breaks decode; the size
// limit is checked before decoding.
func TestDataURI(t *testing.T) {
	raw := []byte("0123456789abcdef-image")
	for _, u := range []string{
		"data:image/png;base64," + base64.StdEncoding.EncodeToString(raw),
		"DATA:image/png;BASE64," + base64.RawStdEncoding.EncodeToString(raw),
		"data:image/png;base64," + strings.Join(splitEvery(base64.StdEncoding.EncodeToString(raw), 8), "\r\n"),
	} {
		data, e := decodeDataURI(0, u, 1<<10)
		if e != nil || string(data) != string(raw) {
			t.Errorf("%q: %q %v", u, data, e)
		}
	}
	if _, e := decodeDataURI(0, "data:image/png;base64,"+base64.StdEncoding.EncodeToString(make([]byte, 2000)), 1000); e == nil || e.Status != 413 {
		t.Errorf("over the limit: %v", e)
	}
}

func splitEvery(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}
