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
	since func() time.Duration // since the load started (after the setup)
	// horizon is how long the load runs: its duration, or longer when the
	// steps outran it (late: the end is not known until they end).
	horizon func() (d time.Duration, late bool)
	mu      sync.Mutex
	open    bool // a status line is on screen (TTY)
}

// newProgress: set horizon before run.
func newProgress(w io.Writer, tty bool, col *Collector, since func() time.Duration) *progress {
	return &progress{w: w, tty: tty, col: col, since: since}
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
	el := p.since()
	ok := done - failed
	var parts []string
	for _, v := range sortedKeys(versions) {
		if ok > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f %%", orDash(v), 100*float64(versions[v])/float64(ok)))
		}
	}
	sort.Strings(parts)
	return fmt.Sprintf("%6.1fs / %s  sent %d  ok %d  failed %d  %.0f req/s  %s", el.Seconds(), p.total(el), done, ok, failed,
		float64(done)/max(el.Seconds(), 0.001), strings.Join(parts, "  "))
}

// total is what the status line shows after the slash: the load's
// duration, or how long it runs once the steps outran it.
func (p *progress) total(el time.Duration) string {
	d, late := p.horizon()
	if late {
		return d.String() + " + until the steps end"
	}
	return d.Round(100 * time.Millisecond).String()
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
