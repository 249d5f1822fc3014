package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/pipeline"
)

// keys returns the sorted keys of a JSON object, and of its nested objects
// as "parent.child".
func keys(t *testing.T, obj map[string]any, prefix string) []string {
	t.Helper()
	var out []string
	for k, v := range obj {
		out = append(out, prefix+k)
		if m, ok := v.(map[string]any); ok {
			out = append(out, keys(t, m, prefix+k+".")...)
		}
	}
	sort.Strings(out)
	return out
}

// caption --json has schema_version and finish_reason: "length" when the caption was cut at
// --max-new-tokens, "stop" when the model ended it; --jsonl lines carry the
// same finish_reason and image object; every key is snake_case.
func TestCaptionJSONSchema(t *testing.T) {
	testenv.ORT(t)
	img := filepath.Join(testenv.Repo(t), "examples", "scene-0.png")
	decode := func(s string) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("bad JSON %q: %v", s, err)
		}
		return m
	}
	_, full, _ := runCLI(t, nil, "caption", "--json", img)
	_, cut, _ := runCLI(t, nil, "caption", "--json", "--max-new-tokens", "3", img)
	f, c := decode(full), decode(cut)
	if f["schema_version"] != float64(pipeline.SchemaVersion) {
		t.Errorf("--json schema_version %v, want %d", f["schema_version"], pipeline.SchemaVersion)
	}
	if f["finish_reason"] != "stop" || c["finish_reason"] != "length" {
		t.Errorf("finish_reason %v (full), %v (cut at 3 tokens); want stop, length", f["finish_reason"], c["finish_reason"])
	}
	for _, k := range keys(t, f, "") {
		if k != strings.ToLower(k) || strings.Contains(k, "-") {
			t.Errorf("--json key %q is not snake_case", k)
		}
	}
	out := filepath.Join(t.TempDir(), "out.jsonl")
	if code, _, stderr := runCLI(t, nil, "caption", "-q", "--jsonl", out, img); code != 0 {
		t.Fatalf("--jsonl: exit %d: %s", code, stderr)
	}
	fh, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Scan()
	line := decode(sc.Text())
	if line["finish_reason"] != "stop" || line["caption"] != f["caption"] || line["schema_version"] != f["schema_version"] {
		t.Errorf("--jsonl line %v, want the --json caption and finish_reason", line)
	}
	img1, _ := json.Marshal(f["image"])
	img2, _ := json.Marshal(line["image"])
	if string(img1) != string(img2) {
		t.Errorf("image object differs: --json %s, --jsonl %s", img1, img2)
	}
	for _, k := range keys(t, line, "") {
		if k != strings.ToLower(k) || strings.Contains(k, "-") {
			t.Errorf("--jsonl key %q is not snake_case", k)
		}
	}
}
