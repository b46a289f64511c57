package httpcache

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Entry is one stored response. It is never changed once stored: a
// revalidation stores a new Entry, so a reader holds a consistent one.
type Entry struct {
	Status int
	Header http.Header // end-to-end fields as stored (no Age, Content-Length, X-Cache)
	Body   []byte

	key        string
	reqTime    time.Time     // when the request that fetched it was sent
	respTime   time.Time     // when its response arrived
	initialAge time.Duration // corrected_initial_age, RFC 9111 §4.2.3
	lifetime   time.Duration // freshness lifetime, §4.2.1
	cc         control
	etag       string
	lastMod    time.Time // zero when absent
	raw        []byte    // Header as "Name: value\r\n" lines
	raw304     []byte    // the fields a 304 carries (RFC 9110 §15.4.5)
}

// Size is what the entry weighs in the store: body, fields and a fixed
// overhead for the structure.
func (e *Entry) Size() int { return len(e.Body) + len(e.raw) + len(e.raw304) + 2*len(e.key) + 256 }

// heuristicStatuses are the status codes cacheable by default (RFC 9110
// §15.1): a heuristic freshness lifetime may be given to them.
func heuristicStatus(s int) bool {
	switch s {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// newEntry builds an entry from a response (status, header, body) to a
// request sent at reqTime and answered at respTime. It owns h: the
// fields that are not stored are taken out once read.
func newEntry(status int, h http.Header, body []byte, reqTime, respTime time.Time, heuristicMax time.Duration) *Entry {
	e := &Entry{Status: status, Header: h, Body: body, reqTime: reqTime, respTime: respTime,
		cc: parseControl(h.Values("Cache-Control")), etag: h.Get("Etag")}
	if lm, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		e.lastMod = lm
	}
	date := respTime
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		date = d
	}
	// Age (§4.2.3).
	ageValue := seconds(strings.TrimSpace(h.Get("Age")), 0)
	apparent := max(0, respTime.Sub(date))
	corrected := ageValue + respTime.Sub(reqTime)
	e.initialAge = max(apparent, corrected)
	for k := range h {
		if notStored[k] {
			delete(h, k)
		}
	}
	// Freshness lifetime (§4.2.1, §4.2.2), as a shared cache.
	switch {
	case e.cc.sMaxAge >= 0:
		e.lifetime = e.cc.sMaxAge
	case e.cc.maxAge >= 0:
		e.lifetime = e.cc.maxAge
	case h.Get("Expires") != "":
		if exp, err := http.ParseTime(h.Get("Expires")); err == nil {
			e.lifetime = max(0, exp.Sub(date))
		} // an invalid Expires means already expired
	case (heuristicStatus(status) || e.cc.public) && !e.lastMod.IsZero():
		// The usual 10% of the time since the last change, capped.
		e.lifetime = min(max(0, date.Sub(e.lastMod))/10, heuristicMax)
	}
	e.raw = appendFields(nil, h, false)
	e.raw304 = appendFields(nil, h, true)
	return e
}

// age is the entry's current age at now (§4.2.3).
func (e *Entry) age(now time.Time) time.Duration {
	return e.initialAge + max(0, now.Sub(e.respTime))
}

// hasValidator reports whether the entry can be revalidated.
func (e *Entry) hasValidator() bool { return e.etag != "" || !e.lastMod.IsZero() }

// mayServeStale reports whether the entry may ever be served stale: not
// when it says must-revalidate, proxy-revalidate or s-maxage (§5.2.2.2,
// §5.2.2.8, §5.2.2.10), nor no-cache (never without validation).
func (e *Entry) mayServeStale() bool {
	return !e.cc.mustRevalidate && !e.cc.proxyRevalidate && e.cc.sMaxAge < 0 && !e.cc.noCache
}

// fields304 are the fields a 304 repeats (RFC 9110 §15.4.5).
var fields304 = map[string]bool{"Cache-Control": true, "Content-Location": true, "Date": true, "Etag": true,
	"Expires": true, "Vary": true}

// notStored are fields never stored with an entry: hop-by-hop, framing,
// and those the cache or lbd writes per response.
var notStored = map[string]bool{"Connection": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Transfer-Encoding": true, "Te": true, "Trailer": true, "Upgrade": true, "Proxy-Authenticate": true,
	"Content-Length": true, "Age": true, "X-Cache": true, "X-Lb-Decision": true, "Strict-Transport-Security": true}

// appendFields serializes h (canonical names, stable order); only the
// 304 fields when only304.
func appendFields(b []byte, h http.Header, only304 bool) []byte {
	var buf bytes.Buffer
	sub := http.Header{}
	for k, vs := range h {
		if notStored[k] || (only304 && !fields304[k]) {
			continue
		}
		sub[k] = vs
	}
	_ = sub.Write(&buf)
	return append(b, buf.Bytes()...)
}

// Hit is a stored response chosen for a request.
type Hit struct {
	Entry  *Entry
	Status int    // the entry's, or 304 when the client's own conditions matched
	Age    int64  // seconds, for the Age field
	State  string // X-Cache: HIT, STALE or REVALIDATED
}

// Bodyless reports whether the hit is written without a body (a 304,
// or a status that has none); a HEAD request has none either.
func (h Hit) Bodyless() bool {
	return h.Status == http.StatusNotModified || h.Status == http.StatusNoContent
}

// AppendFields appends the hit's header fields as "Name: value\r\n"
// lines: the stored ones, Age, X-Cache and, with a body, Content-Length.
// The status line, Connection and the blank line are the engine's.
func (h Hit) AppendFields(b []byte) []byte {
	if h.Status == http.StatusNotModified {
		b = append(b, h.Entry.raw304...)
	} else {
		b = append(b, h.Entry.raw...)
	}
	b = append(b, "Age: "...)
	b = strconv.AppendInt(b, h.Age, 10)
	b = append(b, "\r\nX-Cache: "...)
	b = append(b, h.State...)
	b = append(b, "\r\n"...)
	if !h.Bodyless() {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(h.Entry.Body)), 10)
		b = append(b, "\r\n"...)
	}
	return b
}

// WriteTo writes the hit to w, the body unless head.
func (h Hit) WriteTo(w http.ResponseWriter, head bool) {
	dst := w.Header()
	for k, vs := range h.Entry.Header {
		if notStored[k] || (h.Status == http.StatusNotModified && !fields304[k]) {
			continue
		}
		dst[k] = slices.Clip(vs) // shared with the entry: an Add must not write into it
	}
	dst.Set("Age", strconv.FormatInt(h.Age, 10))
	dst.Set("X-Cache", h.State)
	if !h.Bodyless() {
		dst.Set("Content-Length", strconv.Itoa(len(h.Entry.Body)))
	}
	w.WriteHeader(h.Status)
	if !head && !h.Bodyless() {
		_, _ = w.Write(h.Entry.Body)
	}
}

// notModified reports whether a request's conditions (If-None-Match,
// else If-Modified-Since; RFC 9110 §13.1.1, §13.1.3, §13.2.2) match the
// entry, so the client gets a 304.
func (e *Entry) notModified(inm, ims string) bool {
	if e.Status != http.StatusOK {
		return false
	}
	if inm != "" {
		return matchETag(inm, e.etag)
	}
	if ims != "" && !e.lastMod.IsZero() {
		t, err := http.ParseTime(ims)
		return err == nil && !e.lastMod.After(t)
	}
	return false
}

// matchETag is If-None-Match's weak comparison of a list against etag.
func matchETag(list, etag string) bool {
	if etag == "" {
		return false
	}
	if strings.TrimSpace(list) == "*" {
		return true
	}
	want := strings.TrimPrefix(etag, "W/")
	for len(list) > 0 {
		var item string
		item, list = nextItem(list)
		if strings.TrimPrefix(item, "W/") == want {
			return true
		}
	}
	return false
}
