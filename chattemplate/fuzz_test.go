package chattemplate

import (
	"encoding/json"
	"os"
	"testing"
	"time"
)

// FuzzRender: any template text parses or fails cleanly, and renders or
// fails cleanly (no panic, no hang on the fuzzer's inputs).
func FuzzRender(f *testing.F) {
	var feats []struct{ Template string }
	if data, err := os.ReadFile("testdata/features.json"); err == nil {
		_ = json.Unmarshal(data, &feats)
	}
	for _, t := range feats {
		f.Add(t.Template)
	}
	f.Add("{% for m in messages %}{{ m.content[::-1] | trim }}{% endfor %}")
	msgs := []any{Object{{"role", "user"}, {"content", "hi there"}},
		Object{{"role", "assistant"}, {"content", []any{Object{{"type", "image"}}, Object{{"type", "text"}, {"text", "x"}}}}}}
	now := func() time.Time { return time.Unix(0, 0).UTC() }
	f.Fuzz(func(t *testing.T, src string) {
		tp, err := Parse(src)
		if err != nil {
			return
		}
		_, _ = tp.Render(Vars{{"messages", msgs}, {"add_generation_prompt", true}, {"bos_token", "<s>"}}, now)
	})
}
