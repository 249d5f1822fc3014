package smolvlm

import (
	"path/filepath"
	"testing"

	"github.com/vlmrun/vlmrun/chattemplate"
	"github.com/vlmrun/vlmrun/internal/testenv"
)

// TestFolderTemplateMatchesHardCoded: every twin carries the real
// SmolVLM-256M-Instruct chat template; rendered from the folder it gives
// the hard-coded prompt (which a folder without a template keeps using).
func TestFolderTemplateMatchesHardCoded(t *testing.T) {
	for _, twin := range []string{"smolvlm-twin", "smolvlm-twin-legacy", "smolvlm-twin-torch", "smolvlm-twin-torch-legacy"} {
		ct, err := chattemplate.Load(filepath.Join(testenv.Repo(t), "models", "smolvlm", "testdata", twin))
		if err != nil {
			t.Fatalf("%s: %v", twin, err)
		}
		with := &prompter{seqLen: 4, defaultText: DefaultPrompt, tmpl: ct}
		without := &prompter{seqLen: 4, defaultText: DefaultPrompt}
		for _, user := range []string{"", "What is in the picture?", "  two\nlines  ", "ünïcödé \"quotes\" {{ x }}"} {
			for _, g := range [][2]int{{0, 0}, {2, 3}} {
				a, err := with.render(user, g[0], g[1], nil)
				if err != nil {
					t.Fatal(err)
				}
				b, err := without.render(user, g[0], g[1], nil)
				if err != nil {
					t.Fatal(err)
				}
				if a != b {
					t.Errorf("%s %q %v: template %q, hard-coded %q", twin, user, g, a, b)
				}
			}
		}
	}
}
