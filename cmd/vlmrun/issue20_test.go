package main

// Issue 20's defects, reproduced through the CLI as a new user hit them.
// These tests use only the command entry point, so they run unchanged
// against the code before the fixes (where they fail).

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vlmrun/vlmrun/internal/testenv"
)

// runBounded runs the CLI in-process with a deadline, so a command that
// wrongly accepts its flags (a server that starts) cannot hang the test.
func runBounded(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var o, e bytes.Buffer
	code = run(ctx, args, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

// wantUsage checks exit status 2 and one line on stderr naming flag.
func wantUsage(t *testing.T, flag string, args ...string) {
	t.Helper()
	if args[0] == "serve" {
		args = append(args, "--addr", "127.0.0.1:0")
	}
	code, stdout, stderr := runBounded(t, args...)
	if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, flag) || stdout != "" {
		t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and one line naming %s", args, code, stdout, stderr, flag)
	}
}

// Defect 1: flag parse errors printed nothing.
func TestIssue20ParseErrorsPrinted(t *testing.T) {
	wantUsage(t, "--nosuchflag", "caption", "--nosuchflag", "x.png")
	wantUsage(t, "--nosuchflag", "serve", "--nosuchflag")
	wantUsage(t, "--nosuchflag", "bench", "--nosuchflag", "x.png")
	wantUsage(t, "--nosuchflag", "eval", "--nosuchflag")
	wantUsage(t, "--keep", "caption", "x.png", "--keep")
	wantUsage(t, "--json", "caption", "--json=maybe", "x.png")
}

// Defect 2: --max-pixels -1 disabled the pixel cap (0 and negatives were
// undocumented).
func TestIssue20MaxPixelsRange(t *testing.T) {
	for _, v := range []string{"-1", "0", "-100", "99999999999999"} {
		wantUsage(t, "--max-pixels", "caption", "--max-pixels", v, "x.png")
		wantUsage(t, "--max-pixels", "serve", "--max-pixels", v)
	}
}

// Defect 3: --threads -4 was accepted.
func TestIssue20NegativeThreads(t *testing.T) {
	wantUsage(t, "--threads", "serve", "--threads", "-4")
	wantUsage(t, "--threads", "caption", "--threads", "-4", "x.png")
	wantUsage(t, "--inter-threads", "bench", "--inter-threads", "-1", "x.png")
}

// Defect 4: usage errors exited 1 or 2 depending on the flag.
func TestIssue20UsageExitCodes(t *testing.T) {
	for _, a := range [][]string{
		{"--resizer", "foo"}, {"--dtype", "q9"}, {"--decoder-form", "foo"}, {"--keep", "-1"},
		{"--prune", "nosuch"}, {"--device", "tpu"}, {"--tile-prune", "sometimes"},
	} {
		wantUsage(t, a[0], "caption", a[0], a[1], "x.png")
	}
}

// Defect 5: a bad --jsonl printed a "0 captioned" summary before the error.
func TestIssue20JSONLBadOutput(t *testing.T) {
	testenv.ORT(t) // before the fix the model was opened first
	img := filepath.Join(testenv.Repo(t), "examples", "scene-0.png")
	for _, out := range []string{"/nonexistent/out.jsonl", t.TempDir()} {
		code, _, stderr := runCLI(t, nil, "caption", "--jsonl", out, img)
		if code != 1 || strings.Count(stderr, "\n") != 1 || strings.Contains(stderr, "captioned") || !strings.Contains(stderr, out) {
			t.Errorf("--jsonl %s: exit %d, stderr %q; want 1 and one line naming the file, no summary", out, code, stderr)
		}
	}
}

// Defect 6: a corrupt line in the middle of an existing --jsonl file was
// kept and the run exited 0; --jsonl-repair drops it.
func TestIssue20JSONLCorruptMiddleLine(t *testing.T) {
	testenv.ORT(t)
	img := filepath.Join(testenv.Repo(t), "examples", "scene-0.png")
	out := filepath.Join(t.TempDir(), "out.jsonl")
	os.WriteFile(out, []byte(`{"path":"a.png","caption":"x"}`+"\ngarbage\n"+`{"path":"b.png","caption":"y"}`+"\n"), 0o644)
	code, _, stderr := runCLI(t, nil, "caption", "-q", "--jsonl", out, img)
	if code != 1 || !strings.Contains(stderr, "line 2") || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q; want 1 and one line naming line 2", code, stderr)
	}
	code, _, stderr = runCLI(t, nil, "caption", "-q", "--jsonl", out, "--jsonl-repair", img)
	if code != 0 || !strings.Contains(stderr, "dropped 1") {
		t.Fatalf("--jsonl-repair: exit %d, stderr %q", code, stderr)
	}
	data, _ := os.ReadFile(out)
	if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) != 3 || strings.Contains(string(data), "garbage") {
		t.Errorf("after repair and run: %q", data)
	}
}

// Defect 7: the image object used Go field names.
func TestIssue20ImageKeysSnakeCase(t *testing.T) {
	testenv.ORT(t)
	img := filepath.Join(testenv.Repo(t), "examples", "scene-0.png")
	code, stdout, stderr := runCLI(t, nil, "caption", "--json", img)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rec struct {
		Image map[string]any `json:"image"`
	}
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Image) == 0 {
		t.Fatalf("no image object in %s", stdout)
	}
	for k := range rec.Image {
		if k != strings.ToLower(k) || strings.Contains(k, "-") {
			t.Errorf("image key %q is not snake_case", k)
		}
	}
	for _, k := range []string{"format", "width", "height"} {
		if _, ok := rec.Image[k]; !ok {
			t.Errorf("image object lacks %q: %v", k, rec.Image)
		}
	}
}

// Defect 8: --json with --jsonl was silently ignored.
func TestIssue20JSONWithJSONL(t *testing.T) {
	wantUsage(t, "--jsonl", "caption", "--json", "--jsonl", filepath.Join(t.TempDir(), "o.jsonl"), "x.png")
}

// Defect 10: PyramidDrop's default stages 8/16/24 lay past the embedded
// 4-layer decoder and the method silently did nothing (KV rows
// [67 67 67 67]); they are now scaled to the depth as the paper splits the
// decoder (stages at layers 1/2/3), and an explicit schedule past the last
// layer is refused.
func TestIssue20PDropDepth(t *testing.T) {
	testenv.ORT(t)
	img := filepath.Join(testenv.Repo(t), "examples", "scene-0.png")
	rows := func(method string) []int {
		t.Helper()
		code, stdout, stderr := runCLI(t, nil, "caption", "--json", "--prune", method, "--keep", "0.5", img)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", method, code, stderr)
		}
		var rec struct {
			Visual struct {
				Rows []int `json:"kv_rows_per_layer"`
			} `json:"visual_tokens"`
		}
		if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
			t.Fatal(err)
		}
		return rec.Visual.Rows
	}
	def, explicit := rows("pdrop"), rows("pdrop:layers=1/2/3")
	if len(def) != 4 || def[3] >= def[0] {
		t.Errorf("pdrop --keep 0.5: KV rows %v: nothing was pruned", def)
	}
	if !slicesEqual(def, explicit) {
		t.Errorf("pdrop (scaled) rows %v, pdrop:layers=1/2/3 rows %v", def, explicit)
	}
	for _, m := range []string{"pdrop:layers=8/16/24", "sparsevlm", "aim", "fastv:k=4"} {
		wantUsage(t, "does not fit", "caption", "--prune", m, img)
	}
	// serve refuses such a default method at startup
	wantUsage(t, "does not fit", "serve", "--prune", "aim")
	// batch mode refuses it once, before any line is written
	out := filepath.Join(t.TempDir(), "out.jsonl")
	wantUsage(t, "does not fit", "caption", "-q", "--jsonl", out, "--prune", "sparsevlm", img)
	if _, err := os.Stat(out); err == nil {
		t.Errorf("--jsonl wrote %s for a refused method", out)
	}
}

func slicesEqual(a, b []int) bool {
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
