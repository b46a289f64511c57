package lb

import (
	"net/http"
	"net/http/httputil"
	"slices"
	"strconv"
	"strings"
)

// The proxy's hooks for one attempt on one backend. The transport itself
// is the backend's own *http.Transport (member.tr): it sends, and knows
// nothing of pools, retries or stickiness.

// rewrite runs after ReverseProxy has removed hop-by-hop headers and any
// X-Forwarded-* the client sent. The client's X-Forwarded-For chain is kept
// and extended (HAProxy's "option forwardfor"); -Host and -Proto describe
// this hop. The Host header is passed through; the URL names the backend
// being tried.
func (st *reqState) rewrite(pr *httputil.ProxyRequest) {
	if xff := pr.In.Header["X-Forwarded-For"]; len(xff) > 0 {
		pr.Out.Header["X-Forwarded-For"] = xff
	}
	pr.SetXForwarded()
	pr.Out.Host = pr.In.Host
	pr.Out.URL.Scheme = "http"
	if st.pool.tlsCfg != nil {
		pr.Out.URL.Scheme = "https" // re-encryption (pool tls)
	}
	pr.Out.URL.Host = st.cur.Address()
	// The sticky cookie is lbd's business, not the application's
	// (HAProxy's "cookie … insert indirect").
	if st.pool.signer != nil {
		stripCookie(pr.Out.Header, st.pool.signer.name)
	}
	if rt := st.rt; rt != nil && rt.reqRules != nil {
		for _, d := range rt.reqRules.drops {
			pr.Out.Header.Del(d)
		}
		rt.reqRules.write(headerSink(pr.Out.Header), st)
	}
}

// modifyResponse runs when the backend being tried has answered: it
// records the answer against the backend (passive health, latency) and
// decorates it. An error here goes to recordErr, and the handler's loop
// answers the client instead.
func (st *reqState) modifyResponse(resp *http.Response) error {
	if mbe := st.body.overLimit(); mbe != nil {
		// The backend answered a truncated body; the client gets 413,
		// not whatever the backend made of it.
		return mbe
	}
	st.answered(resp.StatusCode)
	st.decorate(resp)
	return nil
}

// answered records the answer of the backend being tried (passive health,
// latency): it is now the request's backend.
func (st *reqState) answered(status int) {
	b := st.cur
	p, sn := st.pool, st.snap
	b.ObserveLatency(st.fe.srv.now().Sub(st.sent))
	switch {
	case st.body.clientErr() != nil:
		// The backend answered a body the client broke off: not its fault.
	case status >= 500 && status != http.StatusNotImplemented:
		b.Failure(p.ejectThreshold(sn, b), "status "+strconv.Itoa(status))
	default:
		b.Success()
	}
	st.backend, st.member, st.status = b, st.curM, status
}

// decorate adds the debugging header and the sticky cookie to a backend's
// response.
func (st *reqState) decorate(resp *http.Response) {
	fc := st.fe.cfg.Load()
	if fc.BackendHeader {
		resp.Header.Set("X-LB-Backend", st.backend.ID())
	}
	if fc.HSTSMaxAge > 0 && st.secure {
		resp.Header.Del("Strict-Transport-Security") // lbd's policy replaces the backend's
	}
	if ck := st.stickyCookie(); ck != "" {
		resp.Header.Add("Set-Cookie", ck)
		// A shared cache must not hand this cookie to other clients
		// (HAProxy's "nocache").
		if resp.Header.Get("Cache-Control") == "" {
			resp.Header.Set("Cache-Control", "private")
		}
	}
	st.dropFields(resp.Header)
	st.answerFields(headerSink(resp.Header))
}

// stickyCookie is the Set-Cookie value the answer carries ("" when none),
// and records a source-IP stickiness.
func (st *reqState) stickyCookie() string {
	p := st.pool
	switch {
	case p.signer != nil:
		if st.stickyID != st.backend.ID() || st.refresh {
			// New client, forged or expired cookie, or its backend is gone,
			// down or draining: the cookie now names the backend that
			// actually answered (the Traefik #1299 fix).
			return p.signer.cookie(st.backend.ID(), st.start, st.secure).String()
		}
	case p.table != nil && st.hint.Client.IsValid():
		p.table.put(st.hint.Client, st.backend.ID(), st.start)
	}
	return ""
}

// stripCookie removes the cookie called name from the Cookie headers of h.
func stripCookie(h http.Header, name string) {
	vals := h["Cookie"]
	if !slices.ContainsFunc(vals, func(v string) bool { return strings.Contains(v, name) }) {
		return
	}
	var out []string
	for _, v := range vals {
		var keep []string
		for _, part := range strings.Split(v, ";") {
			p := strings.TrimSpace(part)
			if p == "" {
				continue
			}
			if n, _, _ := strings.Cut(p, "="); n == name {
				continue
			}
			keep = append(keep, p)
		}
		if len(keep) > 0 {
			out = append(out, strings.Join(keep, "; "))
		}
	}
	if len(out) == 0 {
		h.Del("Cookie")
		return
	}
	h["Cookie"] = out
}
