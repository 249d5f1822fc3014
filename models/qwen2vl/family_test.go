package qwen2vl_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/models"
)

// copyTwin copies the named twin folder (config and tokenizer files only:
// loading does not open the ONNX files, it checks they exist) into a temp
// folder and lets edit change its config.json.
func copyTwin(t *testing.T, name string, edit func(map[string]any)) string {
	t.Helper()
	src := testdata(t, name)
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if rel == "config.json" {
			var c map[string]any
			if err := json.Unmarshal(data, &c); err != nil {
				return err
			}
			edit(c)
			if data, err = json.Marshal(c); err != nil {
				return err
			}
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// Qwen2-VL reads the decoder sizes from config.json's top level,
// Qwen2.5-VL only from text_config (as transformers.js's normalizer does);
// the processor's merge_size and get_rope_index's spatial_merge_size must
// agree.
func TestConfigs(t *testing.T) {
	for _, name := range []string{twin, twin25} {
		s, err := models.Load(testdata(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.Text.Layers != 4 || s.Text.Hidden != 64 || s.Text.KVHeads != 2 || s.Text.HeadDim != 16 {
			t.Errorf("%s: text dims %+v", name, s.Text)
		}
	}
	dir := copyTwin(t, twin25, func(c map[string]any) { delete(c, "text_config") })
	if _, err := models.Load(dir); err == nil || !strings.Contains(err.Error(), "text_config") {
		t.Errorf("qwen2_5_vl without text_config: %v", err)
	}
	dir = copyTwin(t, twin, func(c map[string]any) { c["vision_config"].(map[string]any)["spatial_merge_size"] = 4 })
	if _, err := models.Load(dir); err == nil || !strings.Contains(err.Error(), "merge_size") {
		t.Errorf("merge sizes 2 and 4: %v", err)
	}
}
