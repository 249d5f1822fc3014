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
	"sync"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/pipeline"
)

// Record is one line of the JSONL output: a caption, or an error.
type Record struct {
	Path    string             `json:"path"`
	Caption *string            `json:"caption,omitempty"`
	Method  string             `json:"method,omitempty"` // pruning method ("none" when off)
	Keep    string             `json:"keep,omitempty"`   // pruning budget as given
	Tokens  *Tokens            `json:"tokens,omitempty"`
	Timings *pipeline.Timings  `json:"timings,omitempty"`
	Image   *encoder.ImageInfo `json:"image,omitempty"`
	Error   string             `json:"error,omitempty"`
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
	Bad       int             // lines that were not a JSON record (ignored)
	Truncated bool            // a partial last line (an interrupted write) was cut off
}

// ReadPrevious reads the records of an existing output file; a missing file
// is empty. An incomplete last line, left by a run killed while writing,
// is cut off the file so that appended lines start on a line of their own.
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
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
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
			prev.Bad++
			continue
		}
		prev.Lines++
		if r.Caption != nil && r.Error == "" {
			prev.Captioned[r.Path] = true
			delete(prev.Failed, r.Path)
		} else if !prev.Captioned[r.Path] {
			prev.Failed[r.Path] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("batch: read %s: %w", path, err)
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
