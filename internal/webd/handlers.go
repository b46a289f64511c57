package webd

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"netsim/internal/api"
	"netsim/internal/cfgerr"
)

// Limits of the /stream endpoint.
const (
	maxChunks        = 10000
	maxChunkSize     = 1 << 20
	maxChunkInterval = 10 * time.Second
	maxDrainBody     = 1 << 20
)

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("/", s.content(s.serveIdentity))
	m.HandleFunc("/stream", s.content(s.serveStream))
	m.HandleFunc("/echo", s.content(s.serveEcho))
	m.HandleFunc("/static/", s.content(s.serveStatic))
	m.HandleFunc("/api/", s.content(s.serveAPI))
	m.Handle("/healthz", api.Methods(map[string]http.HandlerFunc{http.MethodGet: s.serveHealth}))
	m.Handle("/load", api.Methods(map[string]http.HandlerFunc{http.MethodGet: s.serveLoad}))
	var cfg http.Handler = api.Methods(map[string]http.HandlerFunc{
		http.MethodGet:   s.getConfig,
		http.MethodPost:  s.patchConfig,
		http.MethodPatch: s.patchConfig,
	})
	if s.token != "" {
		cfg = api.Auth(s.token, cfg)
	}
	m.Handle("/admin/config", cfg)
	m.HandleFunc("/admin/", api.NotFound)
	s.mux = m
}

// content wraps a sample-application handler with the knobs: it counts the
// request in flight, hangs, waits the added latency and injects errors
// before h runs.
func (s *Server) content(h func(w http.ResponseWriter, r *http.Request, k *knobs)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		for {
			m := s.maxInFlight.Load()
			if n <= m || s.maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		s.requests.Add(1)
		k := s.state.Load()
		hdr := w.Header()
		hdr.Set("X-Backend-Id", s.id)
		hdr.Set("Cache-Control", "no-store")

		if err := s.hangWait(r.Context(), k); err != nil {
			if errors.Is(err, errReleased) {
				s.errors.Add(1)
				hdr.Set("Connection", "close")
				http.Error(w, s.id+" "+k.version+" shutting down", http.StatusServiceUnavailable)
			}
			return // client gone: nothing to write
		}
		if k.hang {
			k = s.state.Load() // the hang may have ended with other changes
		}
		if err := sleep(r.Context(), s.delay(k)); err != nil {
			return
		}
		hdr.Set("X-Backend-Version", k.version)
		if s.fail(k) {
			s.errors.Add(1)
			if r.Body != nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDrainBody))
			}
			http.Error(w, s.id+" "+k.version+" injected error", http.StatusInternalServerError)
			return
		}
		h(w, r, k)
	}
}

// Answer is the JSON body of a content request.
type Answer struct {
	ID       string `json:"id"`
	Version  string `json:"version"`
	Host     string `json:"host"`
	InFlight int64  `json:"in_flight"`
	// What the server saw of the request: a balancer test checks these.
	Method         string `json:"method"`
	Path           string `json:"path"`
	Proto          string `json:"proto"`
	RequestHost    string `json:"request_host"`
	RemoteAddr     string `json:"remote_addr"`
	LocalAddr      string `json:"local_addr,omitempty"`
	ForwardedFor   string `json:"x_forwarded_for,omitempty"`
	ForwardedProto string `json:"x_forwarded_proto,omitempty"`
	ForwardedHost  string `json:"x_forwarded_host,omitempty"`
}

func (s *Server) serveIdentity(w http.ResponseWriter, r *http.Request, k *knobs) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDrainBody))
	}
	if wantsJSON(r.Header.Get("Accept")) {
		a := Answer{
			ID: s.id, Version: k.version, Host: s.hostname, InFlight: s.inFlight.Load(),
			Method: r.Method, Path: r.URL.Path, Proto: r.Proto, RequestHost: r.Host,
			RemoteAddr:     r.RemoteAddr,
			ForwardedFor:   r.Header.Get("X-Forwarded-For"),
			ForwardedProto: r.Header.Get("X-Forwarded-Proto"),
			ForwardedHost:  r.Header.Get("X-Forwarded-Host"),
		}
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			a.LocalAddr = la.String()
		}
		writeJSON(w, r, http.StatusOK, a)
		return
	}
	body := s.id + " " + k.version + "\n"
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
}

// serveStream writes ?chunks=N lines of ?size=B bytes, ?interval=D apart,
// flushing each: a balancer that buffers whole bodies shows up as one late
// burst instead of a steady trickle.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, k *knobs) {
	q := r.URL.Query()
	chunks, err := intParam(q.Get("chunks"), 5, 1, maxChunks)
	if err != nil {
		badParam(w, r, "chunks", err)
		return
	}
	size, err := intParam(q.Get("size"), 0, 0, maxChunkSize)
	if err != nil {
		badParam(w, r, "size", err)
		return
	}
	interval := 100 * time.Millisecond
	if v := q.Get("interval"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxChunkInterval {
			badParam(w, r, "interval", fmt.Errorf("must be a duration from 0 to %s, got %q", maxChunkInterval, v))
			return
		}
		interval = d
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	pad := strings.Repeat("x", size)
	for i := range chunks {
		if i > 0 {
			if err := sleep(r.Context(), interval); err != nil {
				return
			}
		}
		if _, err := fmt.Fprintf(w, "%s %s chunk %d/%d %s\n", s.id, k.version, i+1, chunks, pad); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// serveEcho streams the request body back as it arrives.
func (s *Server) serveEcho(w http.ResponseWriter, r *http.Request, k *knobs) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	if r.ContentLength >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	w.WriteHeader(http.StatusOK)
	if r.Body == nil {
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex() // HTTP/1: write while still reading
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	k := s.state.Load()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Backend-Id", s.id)
	if err := s.hangWait(r.Context(), k); err != nil {
		if errors.Is(err, errReleased) {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
		}
		return
	}
	k = s.state.Load()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !k.passing(s.now()) {
		w.WriteHeader(http.StatusServiceUnavailable)
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, "unhealthy\n")
		}
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, "ok\n")
	}
}

// Load is the load report of GET /load.
type Load struct {
	ID          string `json:"id"`
	Version     string `json:"version"`
	Healthy     bool   `json:"healthy"`
	InFlight    int64  `json:"in_flight"`
	MaxInFlight int64  `json:"max_in_flight"`
	Hung        int64  `json:"hung"`
	Requests    int64  `json:"requests"`
	Errors      int64  `json:"errors"`
	Capacity    int64  `json:"capacity"`
	// Load is the busy percentage 0..100: in-flight / capacity, or the
	// value forced through the admin endpoint.
	Load float64 `json:"load"`
	// Forced says Load was set through the admin endpoint.
	Forced bool `json:"forced"`
}

// LoadReport returns the current load report.
func (s *Server) LoadReport() Load {
	k := s.state.Load()
	l := Load{
		ID: s.id, Version: k.version, Healthy: k.passing(s.now()),
		InFlight: s.inFlight.Load(), MaxInFlight: s.maxInFlight.Load(), Hung: s.hung.Load(),
		Requests: s.requests.Load(), Errors: s.errors.Load(), Capacity: s.capacity,
	}
	if k.load >= 0 {
		l.Load, l.Forced = k.load, true
	} else {
		l.Load = math.Min(100, math.Round(1000*float64(l.InFlight)/float64(s.capacity))/10)
	}
	return l
}

// serveLoad answers the load report as JSON, or with ?format=agent as one
// line in HAProxy agent-check form: "up 63%" where the percentage is the
// spare capacity (HAProxy scales the server's weight by it), "down" when
// unhealthy.
func (s *Server) serveLoad(w http.ResponseWriter, r *http.Request) {
	l := s.LoadReport()
	w.Header().Set("Cache-Control", "no-store")
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		writeJSON(w, r, http.StatusOK, l)
	case "agent":
		line := "down\n"
		if l.Healthy {
			line = fmt.Sprintf("up %d%%\n", int(math.Round(100-l.Load)))
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, line)
		}
	default:
		badParam(w, r, "format", fmt.Errorf("must be json or agent, got %q", f))
	}
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	api.WriteData(w, r, http.StatusOK, s.Config())
}

func (s *Server) patchConfig(w http.ResponseWriter, r *http.Request) {
	var p ConfigPatch
	if !api.Decode(w, r, &p) {
		return
	}
	if err := s.Apply(p); err != nil {
		var fe *cfgerr.Error
		if errors.As(err, &fe) {
			api.WriteError(w, r, api.Errorf(http.StatusUnprocessableEntity, "bad_value", "%s", err).With("field", fe.Key))
			return
		}
		api.Fail(w, r, err)
		return
	}
	api.WriteData(w, r, http.StatusOK, s.Config())
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	// Not the admin envelope: the sample answer is what a client of the
	// application sees, so it is the bare object.
	b, err := jsonIndent(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

func badParam(w http.ResponseWriter, r *http.Request, name string, err error) {
	api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "bad_parameter", "query parameter %s: %v", name, err).With("field", name))
}

func intParam(v string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("must be an integer from %d to %d, got %q", lo, hi, v)
	}
	return n, nil
}

// wantsJSON reports whether an Accept header prefers application/json over
// text/plain. "*/*" and an absent header get text.
func wantsJSON(accept string) bool {
	if accept == "" {
		return false
	}
	jsonQ, textQ := -1.0, -1.0
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, _ := strings.Cut(part, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		switch mt {
		case "application/json", "application/*":
			if mt == "application/json" || jsonQ < 0 {
				jsonQ = max(jsonQ, q)
			}
		case "text/plain", "text/*", "*/*":
			textQ = max(textQ, q)
		}
	}
	return jsonQ > 0 && jsonQ >= textQ
}
