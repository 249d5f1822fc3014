package encoder

import (
	"encoding/json"
	"testing"
)

// ImageInfo's JSON keys are snake_case like the rest of the output (issue
// 20, defect 7: they were the Go field names).
func TestImageInfoJSONKeys(t *testing.T) {
	data, err := json.Marshal(ImageInfo{Format: "png", Width: 3, Height: 2, Orientation: 1, Bytes: 10})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"format":"png","width":3,"height":2,"orientation":1,"bytes":10}`; string(data) != want {
		t.Errorf("got %s, want %s", data, want)
	}
}
