package batch

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress draws a one-line bar on a terminal:
//
//	[##########..........]  512/1000  51.2%  18.4 img/s  ETA 26s  failed 3
//
// The rate counts images finished in this run (skipped ones excluded); the
// ETA is the remaining images at that rate. Redrawn at most every 100 ms.
type progress struct {
	mu      sync.Mutex
	w       io.Writer // nil: no bar
	total   int       // images in the shard
	skipped int       // already in the output
	done    int       // finished in this run
	failed  int
	start   time.Time
	last    time.Time
	now     func() time.Time
}

func newProgress(w io.Writer, total, skipped int) *progress {
	p := &progress{w: w, total: total, skipped: skipped, now: time.Now}
	p.start = p.now()
	return p
}

// add records one finished image and redraws.
func (p *progress) add(failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if failed {
		p.failed++
	}
	if now := p.now(); p.w != nil && now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		fmt.Fprint(p.w, "\r"+p.line()+"\x1b[K")
	}
}

// finish draws the final bar and ends its line.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w != nil {
		fmt.Fprint(p.w, "\r"+p.line()+"\x1b[K\n")
	}
}

// line renders the bar.
func (p *progress) line() string {
	const width = 24
	n := p.skipped + p.done
	frac := 1.0
	if p.total > 0 {
		frac = float64(n) / float64(p.total)
	}
	fill := int(frac * width)
	bar := strings.Repeat("#", fill) + strings.Repeat(".", width-fill)
	el := p.now().Sub(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(p.done) / el
	}
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(p.total-n) / rate * float64(time.Second)).Round(time.Second).String()
	}
	s := fmt.Sprintf("[%s] %d/%d %5.1f%%  %.1f img/s  ETA %s", bar, n, p.total, 100*frac, rate, eta)
	if p.failed > 0 {
		s += fmt.Sprintf("  failed %d", p.failed)
	}
	return s
}
