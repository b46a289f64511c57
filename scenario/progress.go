package scenario

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"netsim/internal/tick"
)

// progress prints step lines and a status line: rewritten in place on a
// terminal, one plain line a second otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	col   *Collector
	start time.Time
	load  Load
	mu    sync.Mutex
	open  bool // a status line is on screen (TTY)
}

func newProgress(w io.Writer, tty bool, col *Collector, start time.Time, load Load) *progress {
	return &progress{w: w, tty: tty, col: col, start: start, load: load}
}

func (p *progress) clear() {
	if p.tty && p.open {
		fmt.Fprint(p.w, "\r\033[K")
		p.open = false
	}
}

func (p *progress) line(e Event) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	msg := fmt.Sprintf("%7.2fs  %s", e.T, e.Text)
	if e.Label != "" {
		msg += "  [" + e.Label + "]"
	}
	if e.Err != "" {
		msg += "  ERROR: " + e.Err
	}
	fmt.Fprintln(p.w, msg)
}

func (p *progress) status() string {
	done, failed, versions := p.col.Counts()
	el := time.Since(p.start)
	ok := done - failed
	var parts []string
	for _, v := range sortedKeys(versions) {
		if ok > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f %%", orDash(v), 100*float64(versions[v])/float64(ok)))
		}
	}
	sort.Strings(parts)
	return fmt.Sprintf("%6.1fs / %v  sent %d  ok %d  failed %d  %.0f req/s  %s", el.Seconds(), p.load.Duration, done, ok, failed,
		float64(done)/max(el.Seconds(), 0.001), strings.Join(parts, "  "))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// run updates the status until ctx ends.
func (p *progress) run(ctx context.Context) {
	if p.w == nil {
		return
	}
	every := time.Second
	if p.tty {
		every = 250 * time.Millisecond
	}
	tick.Every(ctx, every, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.tty {
			fmt.Fprint(p.w, "\r\033[K"+p.status())
			p.open = true
		} else {
			fmt.Fprintln(p.w, p.status())
		}
	})
}

func (p *progress) done() {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}
