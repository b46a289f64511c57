package lb

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// The route's part of a request, shared by both engines: the match, the
// answers lbd gives at the edge (CORS preflight, 429, redirect, fixed
// response), and the fields lbd adds to every answer of the route.

// routeReq is what routing needs from an engine's request.
type routeReq interface {
	reqFields
	fieldGetter
	// reply is the writer for lbd's own answer and the request it answers
	// (its method and Accept field).
	reply() (http.ResponseWriter, *http.Request)
}

// reqTarget is the request's host and target as the route forwards them
// (after strip_prefix): %{host}, %{path} and %{query}.
type reqTarget struct{ host, target []byte }

func (t reqTarget) part(name string) string {
	path, query, hasQuery := bytes.Cut(t.target, []byte("?"))
	switch name {
	case "host":
		h := t.host
		if i := bytes.LastIndexByte(h, ':'); i >= 0 && bytes.IndexByte(h, ']') < i {
			h = h[:i]
		}
		return string(h)
	case "path":
		return string(path)
	case "query":
		if hasQuery {
			return "?" + string(query)
		}
	}
	return ""
}

// routed finds the request's route and gives the route's own answers. It
// returns the pool to forward to and the target to send (target, or
// target without the route's prefix, built in scratch), or answered when
// lbd answered the request itself.
func (f *frontend) routed(st *reqState, rq routeReq, fc *FrontendConfig, host, target, scratch []byte) (pool string, fwd []byte, answered bool) {
	tbl := f.routes.Load()
	st.tbl = tbl
	if tbl.requestID != "" {
		if v, ok := rq.field(tbl.requestID); ok && len(v) > 0 {
			st.rid = v
		} else {
			st.newRequestID()
			st.ridNew = true
		}
	}
	path := target
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	rt := tbl.match(host, path, st.method, rq)
	if rt == nil {
		tbl.defHits.Add(1)
		st.drops = tbl.drops
		return fc.Pool, target, false
	}
	st.rt, st.drops = rt, rt.drops
	rt.hits.Add(1)
	rt.met.Inc()
	fwd = rt.stripped(target, scratch)
	st.target = reqTarget{host: host, target: fwd}
	pool = rt.pool
	if pool == "" {
		pool = fc.Pool
	}
	if rt.cors != nil {
		st.origin = rq.header("Origin")
		if isPreflight(st.method, rq) {
			f.preflight(st, rq, pool)
			return pool, fwd, true
		}
	}
	if l := rt.limit; l != nil {
		st.rl = l.take(l.key(rq), st.start)
		if !st.rl.allowed {
			f.tooMany(st, rq, pool)
			return pool, fwd, true
		}
	}
	switch {
	case rt.redirect != nil:
		w, _ := rq.reply()
		w.Header().Set("Location", expandVars(rt.redirect.Location, st.varValue))
		w.Header().Set("Content-Length", "0")
		st.answerFields(headerSink(w.Header()))
		st.status = rt.redirect.Code
		w.WriteHeader(st.status)
		return pool, fwd, true
	case rt.respond != nil:
		w, r := rq.reply()
		rs := rt.respond
		w.Header().Set("Content-Type", rs.ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(rs.Body)))
		st.answerFields(headerSink(w.Header()))
		st.status = rs.Status
		w.WriteHeader(st.status)
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, rs.Body)
		}
		return pool, fwd, true
	}
	return pool, fwd, false
}

// preflight answers a CORS preflight at the edge.
func (f *frontend) preflight(st *reqState, rq routeReq, pool string) {
	w, r := rq.reply()
	ok, why := st.rt.cors.preflight(headerSink(w.Header()), st.origin, rq)
	if st.rid != nil {
		w.Header().Set(st.tbl.requestID, string(st.rid))
	}
	if ok {
		st.status = http.StatusNoContent
		w.WriteHeader(st.status)
		return
	}
	st.status, st.reason = http.StatusForbidden, "cors_refused"
	f.srv.met.errors.WithLabelValues(pool, st.reason).Inc()
	writeProxyError(w, r, st.status, st.reason, "CORS preflight refused: "+why, map[string]any{"route": st.rt.name})
}

// tooMany answers 429 in the error envelope, with the rate-limit fields.
func (f *frontend) tooMany(st *reqState, rq routeReq, pool string) {
	w, r := rq.reply()
	st.answerFields(headerSink(w.Header()))
	rl, rt := &st.rl, st.rt
	retry := max(ceilSeconds(rl.retry), 1)
	st.status, st.reason = http.StatusTooManyRequests, "rate_limited"
	f.srv.met.errors.WithLabelValues(pool, st.reason).Inc()
	msg := fmt.Sprintf("route %s allows %d requests per %v (bursts of %d) per %s; retry in %d s",
		rt.name, rl.p.requests, rl.p.per, rl.p.burst, rt.limit.keyName(), retry)
	writeProxyError(w, r, st.status, st.reason, msg, map[string]any{
		"route": rt.name, "limit": rl.p.burst, "remaining": 0,
		"reset": rl.now.Add(rl.full).Add(time.Second - 1).Unix(), "retry_after_seconds": retry,
	})
}

// answerFields adds what lbd puts on every answer of the request's route
// (and the request ID on every answer of the frontend): rate-limit
// fields, CORS, the response header rules. On a backend's answer, the
// fields in st.drops were taken out first.
func (st *reqState) answerFields(sink fieldSink) {
	if st.rid != nil {
		sink.set(st.tbl.requestID, string(st.rid))
	}
	rt := st.rt
	if rt == nil {
		return
	}
	if st.rl.p != nil {
		st.rl.fields(sink, rt.name)
	}
	if rt.cors != nil {
		rt.cors.actual(sink, st.origin)
	}
	if rt.resRules != nil {
		rt.resRules.write(sink, st)
	}
}

// dropFields removes from h the fields the request's route replaces.
func (st *reqState) dropFields(h http.Header) {
	for _, d := range st.drops {
		h.Del(d)
	}
}

// client is the request's client address.
func (st *reqState) client() netip.Addr {
	if st.fast != nil {
		return st.fast.client
	}
	return st.std.clientAddr()
}
