package lb

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// DefaultMaxHeaderFields is the header field limit of a frontend whose
// max_header_fields is 0 (HAProxy's tune.http.maxhdr is 101).
const DefaultMaxHeaderFields = 100

// allowMethods is the Allow header of a 405: every method but CONNECT.
const allowMethods = "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE"

// refuse answers a request that must not reach a backend, and reports
// whether it did (refusal says which).
func (f *frontend) refuse(w http.ResponseWriter, r *http.Request, st *reqState, fc *FrontendConfig) bool {
	both := smuggled(r) // first: it takes this request's entry from the scanner
	status, code, msg := f.refusal(fc, r.Method, r.Host, both, headerFields(r))
	if status == 0 {
		return false
	}
	switch status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", allowMethods)
	case http.StatusBadRequest, http.StatusRequestHeaderFieldsTooLarge:
		if code != "bad_host" {
			w.Header().Set("Connection", "close")
		}
	}
	st.status, st.reason = status, code
	f.srv.met.errors.WithLabelValues(fc.Pool, code).Inc()
	writeProxyError(w, r, status, code, msg, nil)
	return true
}

// refusal is why a request must not reach a backend (status 0: it may):
// CONNECT (no route allows tunnels), a malformed Host, both
// Content-Length and Transfer-Encoding (a request smuggling attempt; the
// connection is closed as RFC 9112 §6.1 requires), or more than the
// frontend's max_header_fields (fields counts them as they came).
func (f *frontend) refusal(fc *FrontendConfig, method, host string, both bool, fields int) (status int, code, msg string) {
	switch {
	case method == http.MethodConnect:
		return http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("frontend %s does not tunnel: CONNECT is not allowed", f.name)
	case !validHost(host):
		return http.StatusBadRequest, "bad_host", fmt.Sprintf("Host %q is not host[:port] (an IPv6 address in brackets)", host)
	case both:
		return http.StatusBadRequest, "bad_framing", "the request has both Content-Length and Transfer-Encoding; send one"
	}
	limit := fc.MaxHeaderFields
	if limit <= 0 {
		limit = DefaultMaxHeaderFields
	}
	if fields <= limit {
		return 0, "", ""
	}
	return http.StatusRequestHeaderFieldsTooLarge, "too_many_headers",
		fmt.Sprintf("the request has %d header fields; frontend %s takes at most %d", fields, f.name, limit)
}

// headerFields counts the request's header fields as they came: each
// value of a repeated field, plus Host and Transfer-Encoding, which
// net/http takes out of the header map.
func headerFields(r *http.Request) int {
	n := len(r.TransferEncoding)
	if r.Host != "" {
		n++
	}
	for _, vs := range r.Header {
		n += len(vs)
	}
	return n
}

// validHost reports whether h is a valid Host: empty (HTTP/1.0), or
// reg-name / IPv4 / [IPv6], with an optional port of digits (RFC 9110
// §7.2, RFC 3986 §3.2.2). net/http checks the characters, not the shape.
func validHost(h string) bool {
	host, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		a, err := netip.ParseAddr(h[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return false
		}
		rest := h[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return false
			}
			port = rest[1:]
		}
		host = ""
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		host, port = h[:i], h[i+1:]
	}
	if strings.ContainsAny(host, "[]:") {
		return false
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	return len(port) <= 5
}
