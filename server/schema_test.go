package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sort"
	"testing"

	"github.com/vlmrun/vlmrun/pipeline"
)

// The response's "vlmrun" object carries schema_version and the same
// image object (snake_case keys) as caption --json (issue 20, defect 7 and
// the JSON schema).
func TestReportSchema(t *testing.T) {
	_, url := testServer(t, Config{})
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(chatBody(t, scenePNG(t, 7200, 3, 96), nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var c struct {
		VLMRun map[string]any `json:"vlmrun"`
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.VLMRun == nil {
		t.Fatalf("status %d: %v %s", resp.StatusCode, err, raw)
	}
	if c.VLMRun["schema_version"] != float64(pipeline.SchemaVersion) {
		t.Errorf("schema_version %v, want %d", c.VLMRun["schema_version"], pipeline.SchemaVersion)
	}
	img, _ := c.VLMRun["image"].(map[string]any)
	var keys []string
	for k := range img {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if want := []string{"bytes", "format", "height", "orientation", "width"}; !slices.Equal(keys, want) {
		t.Errorf("image keys %v, want %v", keys, want)
	}
}
