package events

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"netsim/internal/api"
)

// writeTimeout bounds one write to a stream: a client that stops reading
// (its socket buffer full) is disconnected instead of holding a handler.
const writeTimeout = 10 * time.Second

// pacing is the pause after each batch written to a stream (see stream).
const pacing = time.Millisecond

// batchMax is how many buffered events one write carries at most.
const batchMax = DefaultBuffer

// Handler serves GET /api/v1/events: the bus as Server-Sent Events,
// filtered by ?types=a,b (type prefixes; "lb." takes every lb event).
// Each message is "event: <type>\nid: <seq>\ndata: <json>\n\n"; a ": ping"
// comment goes out every heartbeat; after events were lost to a full
// buffer, an "event: dropped" message says how many. The stream ends when
// the client goes, a write stalls, or the bus is closed.
func (b *Bus) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodOptions:
			w.Header().Set("Allow", "GET, HEAD, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			w.Header().Set("Allow", "GET, HEAD, OPTIONS")
			api.WriteError(w, r, api.Errorf(http.StatusMethodNotAllowed, "method_not_allowed",
				"%s is not allowed on %s; allowed: GET, HEAD, OPTIONS", r.Method, r.URL.Path))
			return
		}
		types, prob := parseTypes(r.URL.Query().Get("types"))
		if prob != nil {
			api.WriteError(w, r, prob)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusOK)
			return
		}
		sub := b.Subscribe(types...)
		if sub == nil {
			api.WriteError(w, r, api.Errorf(http.StatusServiceUnavailable, "shutting_down", "the daemon is shutting down; the event stream is closed"))
			return
		}
		defer sub.Close()
		b.stream(w, r, sub)
	})
}

// parseTypes splits ?types= into prefixes: letters, digits, '.', '_', '-'.
func parseTypes(q string) ([]string, *api.Problem) {
	var out []string
	for _, t := range strings.Split(q, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		for _, c := range t {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return nil, api.Errorf(http.StatusBadRequest, "invalid_types",
					"types: %q is not an event type or prefix (want e.g. types=dns.query,lb.)", t).With("types", q)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

func (b *Bus) stream(w http.ResponseWriter, r *http.Request, sub *Subscription) {
	rc := http.NewResponseController(w)
	send := func(p []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout)) // unsupported by some writers: fine
		if _, err := w.Write(p); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	w.WriteHeader(http.StatusOK)
	if !send([]byte(": stream open\nretry: 2000\n\n")) {
		return
	}
	tick := time.NewTicker(b.opts.Heartbeat)
	defer tick.Stop()
	pace := time.NewTimer(0)
	defer pace.Stop()
	buf := make([]byte, 0, 4096)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-b.done:
			return
		case <-tick.C:
			if !send([]byte(": ping\n\n")) {
				return
			}
		case m := <-sub.C():
			buf = AppendMessage(buf[:0], m)
			for n := 1; n < batchMax; n++ {
				select {
				case m := <-sub.C():
					buf = AppendMessage(buf, m)
					continue
				default:
				}
				break
			}
			if lost := sub.Lost(); lost > 0 {
				buf = appendDropped(buf, b.opts.Now().UTC(), lost)
			}
			if !send(buf) {
				return
			}
			if cap(buf) > 1<<20 {
				buf = make([]byte, 0, 4096) // do not keep a burst's buffer
			}
			// Let events gather before the next batch: publishers then
			// fill a buffer nobody waits on, which costs them far less
			// than waking this goroutine for every event.
			pace.Reset(pacing)
			select {
			case <-pace.C:
			case <-r.Context().Done():
				return
			case <-b.done:
				return
			}
		}
	}
}

// AppendMessage appends m in SSE form: event, id and one line of JSON
// data holding "type", "time" and the event's own fields.
func AppendMessage(dst []byte, m Message) []byte {
	typ := m.Event.EventType()
	dst = append(dst, "event: "...)
	dst = append(dst, typ...)
	dst = append(dst, "\nid: "...)
	dst = strconv.AppendUint(dst, m.Seq, 10)
	dst = append(dst, "\ndata: "...)
	dst = AppendJSON(dst, m)
	return append(dst, "\n\n"...)
}

// AppendJSON appends the event object of m: {"type":…,"time":…,fields…}.
func AppendJSON(dst []byte, m Message) []byte {
	typ := m.Event.EventType()
	dst = append(dst, `{"type":`...)
	dst = strconv.AppendQuote(dst, typ)
	dst = append(dst, `,"time":"`...)
	dst = m.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	dst = appendFields(dst, m.Event)
	return append(dst, '}')
}

func appendDropped(dst []byte, t time.Time, n uint64) []byte {
	dst = append(dst, `event: dropped`+"\n"+`data: {"type":"dropped","time":"`...)
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","count":`...)
	dst = strconv.AppendUint(dst, n, 10)
	return append(dst, "}\n\n"...)
}
