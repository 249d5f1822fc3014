package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/pipeline"
)

// Record is one line of the JSONL output: a caption, or an error.
type Record struct {
	SchemaVersion int     `json:"schema_version"` // pipeline.SchemaVersion
	Path          string  `json:"path"`
	Caption       *string `json:"caption,omitempty"`
	// FinishReason is "stop" or "length" (cut at --max-new-tokens), as in
	// caption --json.
	FinishReason string             `json:"finish_reason,omitempty"`
	Method       string             `json:"method,omitempty"` // pruning method ("none" when off)
	Keep         string             `json:"keep,omitempty"`   // pruning budget as given
	Tokens       *Tokens            `json:"tokens,omitempty"`
	Timings      *pipeline.Timings  `json:"timings,omitempty"`
	Image        *encoder.ImageInfo `json:"image,omitempty"`
	Error        string             `json:"error,omitempty"`
}

// Tokens are a caption's token counts.
type Tokens struct {
	Prompt       int   `json:"prompt"`    // prompt ids, visual placeholders included
	Generated    int   `json:"generated"` // generated ids, a final EOS included
	VisualBefore int   `json:"visual_before"`
	VisualAfter  int   `json:"visual_after"` // after pre-decoder pruning
	LayerRows    []int `json:"kv_rows_per_layer,omitempty"`
}

// Previous is what an existing output file already holds.
type Previous struct {
	Captioned map[string]bool // paths with a caption line
	Failed    map[string]bool // paths with only error lines
	Lines     int             // complete JSON lines read
	Truncated bool            // a partial last line (an interrupted write) was cut off
}

// BadLineError is an existing output file's complete line that is not a
// record: the file was edited or written by something else, and appending
// to it would mix good and bad data, so the run refuses (Repair drops such
// lines).
type BadLineError struct {
	Path string
	Line int // 1-based
	Bad  int // bad lines in the file
}

func (e *BadLineError) Error() string {
	more := ""
	if e.Bad > 1 {
		more = fmt.Sprintf(" (and %d more)", e.Bad-1)
	}
	return fmt.Sprintf("batch: %s line %d%s is not a JSON record with a \"path\"; fix or remove it, or rerun with --jsonl-repair to drop the bad lines", e.Path, e.Line, more)
}

// scan reads the complete lines of an output file's data (a partial last
// line must have been cut off), calling rec for each record, and returns
// the 1-based numbers of lines that are not records.
func scan(data []byte, rec func(path string, captioned bool)) (bad []int, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r struct {
			Path    string  `json:"path"`
			Caption *string `json:"caption"`
			Error   string  `json:"error"`
		}
		if json.Unmarshal(line, &r) != nil || r.Path == "" {
			bad = append(bad, n)
			continue
		}
		if rec != nil {
			rec(r.Path, r.Caption != nil && r.Error == "")
		}
	}
	return bad, sc.Err()
}

// completeLines returns data without a partial last line.
func completeLines(data []byte) []byte {
	if n := len(data); n > 0 && data[n-1] != '\n' {
		return data[:bytes.LastIndexByte(data, '\n')+1]
	}
	return data
}

// CheckOutput checks, before any work, that path can be the output: not a
// folder, inside an existing folder, writable, and, when it exists, made of
// records (a partial last line is allowed: Run cuts it off).
func CheckOutput(path string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		dir := filepath.Dir(path)
		if ds, err := os.Stat(dir); err != nil || !ds.IsDir() {
			return fmt.Errorf("batch: output %s: folder %s does not exist", path, dir)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("batch: output: %w", err)
		}
		f.Close()
		return os.Remove(path)
	case err != nil:
		return fmt.Errorf("batch: output: %w", err)
	case st.IsDir():
		return fmt.Errorf("batch: output %s is a folder; --jsonl names a file", path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("batch: output: %w", err)
	}
	f.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("batch: read %s: %w", path, err)
	}
	bad, err := scan(completeLines(data), nil)
	if err != nil {
		return fmt.Errorf("batch: read %s: %w", path, err)
	}
	if len(bad) > 0 {
		return &BadLineError{Path: path, Line: bad[0], Bad: len(bad)}
	}
	return nil
}

// Repair rewrites an existing output file without its lines that are not
// records (and without a partial last line), atomically: a new file in the
// same folder, synced, then renamed over the old one. It returns the
// number of lines dropped; a missing file is not an error.
func Repair(path string) (dropped int, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("batch: read %s: %w", path, err)
	}
	whole := completeLines(data)
	if len(whole) < len(data) {
		dropped++
	}
	bad, err := scan(whole, nil)
	if err != nil {
		return 0, fmt.Errorf("batch: read %s: %w", path, err)
	}
	if dropped == 0 && len(bad) == 0 {
		return 0, nil
	}
	isBad := map[int]bool{}
	for _, n := range bad {
		isBad[n] = true
	}
	var out bytes.Buffer
	for i, line := range bytes.SplitAfter(whole, []byte("\n")) {
		if len(line) > 0 && !isBad[i+1] {
			out.Write(line)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".repair-*")
	if err != nil {
		return 0, fmt.Errorf("batch: repair %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if st, err := os.Stat(path); err == nil {
		tmp.Chmod(st.Mode().Perm())
	}
	if _, err := tmp.Write(out.Bytes()); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("batch: repair %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("batch: repair %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("batch: repair %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("batch: repair %s: %w", path, err)
	}
	return dropped + len(bad), nil
}

// ReadPrevious reads the records of an existing output file; a missing file
// is empty. An incomplete last line, left by a run killed while writing,
// is cut off the file so that appended lines start on a line of their own.
// A complete line that is not a record is a *BadLineError (see Repair).
func ReadPrevious(path string) (*Previous, error) {
	prev := &Previous{Captioned: map[string]bool{}, Failed: map[string]bool{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return prev, nil
	}
	if err != nil {
		return nil, fmt.Errorf("batch: read %s: %w", path, err)
	}
	if n := len(data); n > 0 && data[n-1] != '\n' {
		keep := bytes.LastIndexByte(data, '\n') + 1
		if err := os.Truncate(path, int64(keep)); err != nil {
			return nil, fmt.Errorf("batch: cut the partial last line of %s: %w", path, err)
		}
		data = data[:keep]
		prev.Truncated = true
	}
	bad, err := scan(data, func(path string, captioned bool) {
		prev.Lines++
		if captioned {
			prev.Captioned[path] = true
			delete(prev.Failed, path)
		} else if !prev.Captioned[path] {
			prev.Failed[path] = true
		}
	})
	if err != nil {
		return nil, fmt.Errorf("batch: read %s: %w", path, err)
	}
	if len(bad) > 0 {
		return nil, &BadLineError{Path: path, Line: bad[0], Bad: len(bad)}
	}
	return prev, nil
}

// Done reports whether path needs no new line: it was captioned, or it
// failed and failures are not retried.
func (p *Previous) Done(path string, retryErrors bool) bool {
	return p.Captioned[path] || (!retryErrors && p.Failed[path])
}

// writer appends records to the output, one whole line per write, so a
// killed run leaves at most one partial line (cut off on resume).
type writer struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *writer) write(r Record) error {
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("batch: encode record for %s: %w", r.Path, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("batch: write output: %w", err)
	}
	return nil
}
