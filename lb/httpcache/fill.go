package httpcache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fill is an http.ResponseWriter that stands between the engine's
// forwarding and the client's writer for a Miss, a Revalidate or an
// unsafe request. It keeps the backend's head until WriteHeader, then:
//   - a 304 to a revalidation: the stored response is refreshed (RFC 9111
//     §4.3.4) and the client gets it (or a 304 to its own conditions);
//   - a 5xx (or lbd's own error page) while a stale response may be
//     served on error (stale-if-error): the client gets the stale one;
//   - a storable response: the client gets it as it streams, and a copy
//     is kept (up to max_object_bytes) and stored at Finish; a client
//     whose own conditions match the new response gets a 304;
//   - anything else passes as it is.
type Fill struct {
	c          *Cache
	req        Request
	primary    string
	key        string  // the flight's key
	flight     *flight // nil when not the leader of a fetch
	stale      *Entry  // the entry being revalidated, or kept for stale-if-error
	rc         control // the request's directives
	reqTime    time.Time
	invalidate bool   // an unsafe method: a success invalidates the target
	inm, ims   string // the client's own conditions, read before SetConditionals
	perRequest []string

	w        http.ResponseWriter
	h        http.Header
	status   int
	respTime time.Time
	mode     int
	body     []byte
	tooBig   bool
	stored   bool
}

// What a Fill does with the body.
const (
	modePass      = iota // to the client only
	modeTee              // to the client and the copy
	modeStoreOnly        // to the copy only (the client got a 304)
	modeDiscard          // nowhere (the client got a stored response)
)

// Wrap returns the writer the engine forwards through: f itself, over w.
func (f *Fill) Wrap(w http.ResponseWriter) http.ResponseWriter {
	f.w, f.h = w, http.Header{}
	return f
}

// SetConditionals prepares the header of the request to the backend:
// the client's own If-None-Match and If-Modified-Since go (the cache
// wants a whole response to store, and answers the client's conditions
// itself), and a revalidation carries the stored response's validators.
// An unsafe request's header is left alone.
func (f *Fill) SetConditionals(h http.Header) {
	if f.invalidate {
		return
	}
	h.Del("If-None-Match")
	h.Del("If-Modified-Since")
	if e := f.stale; e != nil {
		if e.etag != "" {
			h.Set("If-None-Match", e.etag)
		}
		if !e.lastMod.IsZero() {
			h.Set("If-Modified-Since", e.lastMod.UTC().Format(http.TimeFormat))
		}
	}
}

// Conditionals are the validators a revalidation sends ("" when none),
// for an engine that writes the backend request itself.
func (f *Fill) Conditionals() (ifNoneMatch, ifModifiedSince string) {
	if f.invalidate || f.stale == nil {
		return "", ""
	}
	if !f.stale.lastMod.IsZero() {
		ifModifiedSince = f.stale.lastMod.UTC().Format(http.TimeFormat)
	}
	return f.stale.etag, ifModifiedSince
}

// PerRequest names fields the engine writes per request (rate-limit,
// CORS, a request ID): never stored, and carried from the backend's
// head into whatever answer the Fill gives (also a stored one).
func (f *Fill) PerRequest(names []string) { f.perRequest = names }

// isPerRequest reports whether a field is one of f's per-request ones.
func (f *Fill) isPerRequest(name string) bool {
	for _, n := range f.perRequest {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// carry copies the per-request fields of the backend's head to dst.
func (f *Fill) carry(dst http.Header) {
	for k, vs := range f.h {
		if f.isPerRequest(k) {
			dst[k] = vs
		}
	}
}

// stripPerRequest removes the per-request fields from h.
func (f *Fill) stripPerRequest(h http.Header) {
	for k := range h {
		if f.isPerRequest(k) {
			delete(h, k)
		}
	}
}

// Header is the backend response's header, kept until WriteHeader.
func (f *Fill) Header() http.Header { return f.h }

// Unwrap gives http.ResponseController the client's writer.
func (f *Fill) Unwrap() http.ResponseWriter { return f.w }

// Flush flushes the client's writer.
func (f *Fill) Flush() {
	if fl, ok := f.w.(http.Flusher); ok && f.mode != modeDiscard && f.mode != modeStoreOnly {
		fl.Flush()
	}
}

// WriteHeader decides what the client gets (see Fill).
func (f *Fill) WriteHeader(status int) {
	if f.status != 0 {
		return
	}
	if status < 200 { // informational: passed on, the real head follows
		copyHeader(f.w.Header(), f.h)
		f.w.WriteHeader(status)
		clear(f.h)
		return
	}
	f.status, f.respTime = status, f.c.now()
	c := f.c
	if f.invalidate {
		if status < 400 {
			c.st.invalidate(f.primary)
		}
		f.pass(status, "")
		return
	}
	if e := f.stale; e != nil {
		switch {
		case status == http.StatusNotModified:
			h304 := f.h.Clone()
			f.stripPerRequest(h304)
			ne := e.refreshed(h304, f.reqTime, f.respTime, c.cfg.HeuristicMax)
			c.st.c.Set(ne.key, &item{entry: ne})
			c.revalidated.Add(1)
			f.stored = true
			f.serve(ne, "REVALIDATED")
			return
		case status >= 500 && f.staleIfError():
			c.stale.Add(1)
			f.serve(e, "STALE")
			return
		}
	}
	if !f.storable(status) {
		f.pass(status, "MISS")
		return
	}
	f.mode = modeTee
	if status == http.StatusOK {
		probe := Entry{Status: status, etag: f.h.Get("Etag")}
		if lm, err := http.ParseTime(f.h.Get("Last-Modified")); err == nil {
			probe.lastMod = lm
		}
		if probe.notModified(f.inm, f.ims) {
			f.mode = modeStoreOnly
			dst := f.w.Header()
			for k, vs := range f.h {
				if fields304[k] {
					dst[k] = vs
				}
			}
			f.carry(dst)
			dst.Set("X-Cache", "MISS")
			f.w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	f.pass(status, "MISS")
}

// pass writes the backend's head to the client.
func (f *Fill) pass(status int, state string) {
	dst := f.w.Header()
	copyHeader(dst, f.h)
	if state != "" {
		dst.Set("X-Cache", state)
	}
	f.w.WriteHeader(status)
}

// serve answers the client with a stored response instead of the
// backend's; what the backend still sends is dropped.
func (f *Fill) serve(e *Entry, state string) {
	f.mode = modeDiscard
	f.carry(f.w.Header())
	hit := f.c.hit(e, f.inm, f.ims, e.age(f.respTime), state)
	hit.WriteTo(f.w, f.req.Method == http.MethodHead)
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = vs
	}
}

// Write takes body bytes: to the client, the copy, both, or neither.
func (f *Fill) Write(p []byte) (int, error) {
	if f.status == 0 {
		f.WriteHeader(http.StatusOK)
	}
	switch f.mode {
	case modeDiscard:
		return len(p), nil
	case modeTee, modeStoreOnly:
		if !f.tooBig {
			if int64(len(f.body)+len(p)) > f.c.cfg.MaxObjectBytes {
				f.tooBig, f.body = true, nil
			} else {
				f.body = append(f.body, p...)
			}
		}
		if f.mode == modeStoreOnly {
			return len(p), nil
		}
	}
	return f.w.Write(p)
}

// staleIfError reports whether the stale entry may answer a failure
// (RFC 5861 §4).
func (f *Fill) staleIfError() bool {
	e := f.stale
	if !e.mayServeStale() || e.cc.staleIfError < 0 {
		return false
	}
	return e.age(f.respTime)-e.lifetime <= e.cc.staleIfError
}

// storableStatus: the statuses cacheable by default, and redirects a
// response may make cacheable with explicit freshness.
func storableStatus(s int) bool {
	return (heuristicStatus(s) && s != http.StatusPartialContent) || s == http.StatusFound || s == http.StatusTemporaryRedirect
}

// storable reports whether a shared cache may store the response to
// f.req (RFC 9111 §3, §3.5). Beyond the RFC, as nginx and Varnish do, a
// response that sets a cookie is not stored.
func (f *Fill) storable(status int) bool {
	h := f.h
	if f.rc.noStore || f.req.Method != http.MethodGet || !storableStatus(status) {
		return false
	}
	cc := parseControl(h.Values("Cache-Control"))
	if cc.noStore || cc.private {
		return false
	}
	if f.req.Header.Get("Authorization") != "" && !cc.public && !cc.mustRevalidate && cc.sMaxAge < 0 {
		return false
	}
	if len(h.Values("Set-Cookie")) > 0 || h.Get("Content-Range") != "" {
		return false
	}
	if _, star := varyFields(h); star {
		return false
	}
	explicit := cc.maxAge >= 0 || cc.sMaxAge >= 0 || h.Get("Expires") != "" || cc.public
	if !explicit && !heuristicStatus(status) {
		return false
	}
	if cl := h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err != nil || n > f.c.cfg.MaxObjectBytes {
			return false
		}
	}
	return true
}

// Finish ends the response: a complete copy is stored, and requests
// waiting for this fetch go on. The engine calls it once, when its
// forwarding returned (also after a failure).
func (f *Fill) Finish() {
	c := f.c
	if (f.mode == modeTee || f.mode == modeStoreOnly) && !f.tooBig && f.complete() {
		vary, _ := varyFields(f.h)
		h := f.h.Clone()
		f.stripPerRequest(h)
		e := newEntry(f.status, h, f.body, f.reqTime, f.respTime, c.cfg.HeuristicMax)
		if e.lifetime > 0 || e.hasValidator() || e.cc.staleIfError > 0 {
			c.st.put(f.primary, vary, f.req.Header, c.opt.Normalize, e)
			c.stores.Add(1)
			f.stored = true
		}
	}
	f.mode = modeDiscard
	if f.flight != nil {
		c.endFlight(f.key, f.flight)
		f.flight = nil
	}
}

// complete reports whether the copy holds the whole body its
// Content-Length announced (a body cut short is never stored).
func (f *Fill) complete() bool {
	cl := f.h.Get("Content-Length")
	if cl == "" {
		return true
	}
	n, err := strconv.ParseInt(cl, 10, 64)
	return err == nil && n == int64(len(f.body))
}

// Stored reports whether Finish (or a revalidation) stored a response.
func (f *Fill) Stored() bool { return f.stored }

// refreshed is e with the fields of a 304 that validated it (RFC 9111
// §4.3.4) and new times. A weak ETag that lbd made from the backend's
// strong one (a compressed variant) stays weak.
func (e *Entry) refreshed(h304 http.Header, reqTime, respTime time.Time, heuristicMax time.Duration) *Entry {
	h := e.Header.Clone()
	for k, vs := range h304 {
		switch {
		case k == "Content-Length", k == "Content-Encoding", k == "Content-Range", k == "Content-Type" && len(e.Body) > 0:
			continue
		case k == "Etag" && len(vs) == 1 && e.etag == "W/"+vs[0]:
			continue
		}
		h[k] = vs
	}
	ne := newEntry(e.Status, h, e.Body, reqTime, respTime, heuristicMax)
	ne.key = e.key
	return ne
}
