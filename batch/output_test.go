package batch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A complete line in the middle of an existing output that is not a
// record is refused, naming the line, instead of being kept silently
// (issue 20, defect 6); Repair drops it atomically and keeps the rest.
func TestCorruptMiddleLine(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	good1 := `{"path":"a.png","caption":"one"}`
	good2 := `{"path":"b.png","error":"encoder: empty file"}`
	good3 := `{"path":"c.png","caption":"three"}`
	os.WriteFile(out, []byte(good1+"\n"+good2+"\n{not json\n"+good3+"\n{\"path\":\"d.pn"), 0o644)

	_, err := ReadPrevious(out)
	var bl *BadLineError
	if !errors.As(err, &bl) || bl.Line != 3 || !strings.Contains(err.Error(), "line 3") ||
		!strings.Contains(err.Error(), "--jsonl-repair") {
		t.Fatalf("ReadPrevious: %v, want a BadLineError for line 3", err)
	}
	if err := CheckOutput(out); !errors.As(err, &bl) || bl.Line != 3 {
		t.Fatalf("CheckOutput: %v, want line 3", err)
	}
	n, err := Repair(out)
	if err != nil || n != 1 {
		t.Fatalf("Repair: %d, %v; want 1 line dropped (the partial last line was already cut)", n, err)
	}
	data, _ := os.ReadFile(out)
	if want := good1 + "\n" + good2 + "\n" + good3 + "\n"; string(data) != want {
		t.Errorf("after repair %q, want %q", data, want)
	}
	if err := CheckOutput(out); err != nil {
		t.Errorf("CheckOutput after repair: %v", err)
	}
	prev, err := ReadPrevious(out)
	if err != nil || !prev.Captioned["a.png"] || !prev.Failed["b.png"] || !prev.Captioned["c.png"] || prev.Lines != 3 {
		t.Errorf("after repair: %+v, %v", prev, err)
	}
	if n, err := Repair(out); n != 0 || err != nil {
		t.Errorf("second Repair: %d, %v", n, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("repair left files behind: %v", entries)
	}
}

// CheckOutput refuses a folder and a file in a missing folder before any
// work, and leaves no file behind for a good new path (issue 20, defect 5).
func TestCheckOutput(t *testing.T) {
	dir := t.TempDir()
	if err := CheckOutput(dir); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Errorf("folder: %v", err)
	}
	if err := CheckOutput(filepath.Join(dir, "nope", "out.jsonl")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing folder: %v", err)
	}
	fresh := filepath.Join(dir, "out.jsonl")
	if err := CheckOutput(fresh); err != nil {
		t.Errorf("new file: %v", err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CheckOutput left %s behind", fresh)
	}
}
