package web

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// A source is one daemon's event stream.
type source struct {
	name, addr string
	token      func() string
}

// message is one event of the merged stream.
type message struct {
	event string
	data  []byte
}

// events serves GET /ui/events: the event streams of dnsd and of every lbd
// (GET /api/v1/events, ../../EVENTS contract) merged into one, so that a
// page needs one connection instead of one per daemon (browsers allow six
// per origin over HTTP/1.1). Every event gets "src": the daemon it came
// from. A daemon that cannot be reached, or has no stream, is announced as
// {"type":"source","src":…,"state":"down","detail":…} and retried while the
// page stays; "state":"up" once it streams. ?types= is passed on.
//
// The goroutines reading the daemons belong to this request and end with
// it. A page that reads slowly makes them wait, so the daemons' own
// bounded buffers drop (and count, and say so with "dropped" events, which
// are passed on): the data path is never slowed.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	srcs := []source{}
	if h.o.DNSAdmin != "" {
		srcs = append(srcs, source{"dnsd", h.o.DNSAdmin, h.o.DNSToken})
	}
	for _, n := range h.o.lbNames() {
		srcs = append(srcs, source{n, h.o.LBAdmins[n], h.o.LBToken})
	}
	ctx, cancel := context.WithCancel(r.Context())
	msgs := make(chan message, 256)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	types := r.URL.Query().Get("types")
	for _, s := range srcs {
		wg.Go(func() { h.follow(ctx, s, types, msgs) })
	}
	ping := time.NewTicker(h.o.Heartbeat)
	defer ping.Stop()
	var buf bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			buf.WriteString(": ping\n\n")
		case m := <-msgs:
			writeMessage(&buf, m)
		more: // whatever else is waiting goes out in the same write
			for buf.Len() < 64<<10 {
				select {
				case m := <-msgs:
					writeMessage(&buf, m)
				default:
					break more
				}
			}
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
		buf.Reset()
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func writeMessage(buf *bytes.Buffer, m message) {
	buf.WriteString("event: ")
	buf.WriteString(m.event)
	buf.WriteString("\ndata: ")
	buf.Write(m.data)
	buf.WriteString("\n\n")
}

// follow reads one daemon's stream into out until ctx ends, reconnecting
// with a growing pause (up to 5 s) when it cannot.
func (h *handler) follow(ctx context.Context, s source, types string, out chan<- message) {
	pause := 250 * time.Millisecond
	last := ""
	for {
		err := h.stream(ctx, s, types, out, func() {
			pause = 250 * time.Millisecond
			last = ""
			send(ctx, out, sourceState(s.name, "up", ""))
		})
		if ctx.Err() != nil {
			return
		}
		if detail := err.Error(); detail != last { // say it once, not every retry
			last = detail
			send(ctx, out, sourceState(s.name, "down", detail))
			h.o.Log.Debug("event stream unavailable", zap.String("daemon", s.name), zap.Error(err))
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// stream reads one connection to a daemon's stream; up is called once it
// answers with a stream. It returns why the stream ended.
func (h *handler) stream(ctx context.Context, s source, types string, out chan<- message, up func()) error {
	u := url.URL{Scheme: "http", Host: s.addr, Path: "/api/v1/events"}
	if types != "" {
		u.RawQuery = url.Values{"types": {types}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if t := s.token(); t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
	}
	resp, err := h.o.Transport.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("%s at %s does not answer: %w", s.name, s.addr, err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("%s at %s has no event stream: GET /api/v1/events answered %d %s", s.name, s.addr, resp.StatusCode, ct)
	}
	up()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var event string
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0: // end of one message
			if len(data) > 0 {
				if !send(ctx, out, message{event: cmp.Or(event, "message"), data: withSource(data, s.name)}) {
					return ctx.Err()
				}
			}
			event, data = "", nil
		case line[0] == ':': // comment (heartbeat)
		case bytes.HasPrefix(line, []byte("event:")):
			event = strings.TrimSpace(string(line[len("event:"):]))
		case bytes.HasPrefix(line, []byte("data:")):
			d := bytes.TrimPrefix(line[len("data:"):], []byte(" "))
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, d...)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s at %s: event stream broke: %w", s.name, s.addr, err)
	}
	return fmt.Errorf("%s at %s closed its event stream", s.name, s.addr)
}

// send delivers m unless ctx ends first.
func send(ctx context.Context, out chan<- message, m message) bool {
	select {
	case out <- m:
		return true
	case <-ctx.Done():
		return false
	}
}

// withSource adds "src":name to a JSON object (data is left as it is if it
// is not one). The result is a new slice.
func withSource(data []byte, name string) []byte {
	d := bytes.TrimSpace(data)
	if len(d) < 2 || d[0] != '{' {
		return append([]byte(nil), data...)
	}
	q, _ := json.Marshal(name)
	out := make([]byte, 0, len(d)+len(q)+8)
	out = append(out, `{"src":`...)
	out = append(out, q...)
	rest := bytes.TrimSpace(d[1:])
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}

// sourceState is the merged stream's own event about one daemon's stream.
func sourceState(name, state, detail string) message {
	b, _ := json.Marshal(map[string]string{
		"type": "source", "time": time.Now().UTC().Format(time.RFC3339Nano),
		"src": name, "state": state, "detail": detail,
	})
	return message{event: "source", data: b}
}
