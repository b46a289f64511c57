package api

import (
	"crypto/subtle"
	"net"
	"net/http"
	"strings"
)

// Auth guards an admin handler with a bearer token (REST.md):
//
//   - calls that change state (anything but GET, HEAD, OPTIONS) need the
//     token wherever they come from;
//   - reads are open only to requests that arrived on a loopback address;
//     a request reaching the listener on any other address (an admin bound
//     to 0.0.0.0 or a LAN address, which CheckBind allows only with a
//     token) needs the token to read too, so state, metrics and pprof are
//     not open to the network;
//   - GET/HEAD /healthz and /readyz stay open everywhere: they say only
//     whether the daemon is alive or ready, and load balancers and GeoDNS
//     probe them without credentials.
//
// The scheme is matched without regard to case (RFC 9110 §11.1): "bearer",
// "Bearer" and "BEARER" all work. An empty token refuses every guarded call.
func Auth(token string, next http.Handler) http.Handler { return AuthLockout(token, nil, next) }

// AuthLockout is Auth with a lock-out (lockout.go): a client address that
// sent too many bad tokens gets 429 with Retry-After instead of 401 for
// its next bad ones. The valid token is checked first and always passes;
// a request with no token is not counted. A nil lock locks nobody out.
func AuthLockout(token string, lock *Lockout, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		read := r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions
		if read && (arrivedOnLoopback(r) || isProbe(r)) {
			next.ServeHTTP(w, r)
			return
		}
		got := r.Header.Get("Authorization")
		if got == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="admin"`)
			msg := "this call changes state: send Authorization: Bearer <token> (the token is printed at start or set in config)"
			if read {
				msg = "reads from off loopback need the token too: send Authorization: Bearer <token> (the token is printed at start or set in config)"
			}
			WriteError(w, r, Errorf(http.StatusUnauthorized, "unauthorized", "%s", msg))
			return
		}
		if token == "" || !bearerMatches(got, token) {
			a := clientAddr(r)
			if wait := lock.retryAfter(a); wait > 0 {
				tooMany(w, r, wait)
				return
			}
			lock.fail(a)
			w.Header().Set("WWW-Authenticate", `Bearer realm="admin", error="invalid_token"`)
			WriteError(w, r, Errorf(http.StatusUnauthorized, "invalid_token", "the bearer token does not match (want Authorization: Bearer <token>)"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearerMatches reports whether an Authorization header value is the
// Bearer scheme (any case) followed by token, compared in constant time.
func bearerMatches(header, token string) bool {
	scheme, cred, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	cred = strings.TrimLeft(cred, " ")
	return subtle.ConstantTimeCompare([]byte(cred), []byte(token)) == 1
}

// arrivedOnLoopback reports whether the request came in on a loopback
// address of this host. http.Server records the local address of every
// connection; a request without one was not received from a network (a
// handler called in-process) and counts as local. A Unix socket is local.
func arrivedOnLoopback(r *http.Request) bool {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || a == nil {
		return true
	}
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.Network() == "unix"
	}
	return tcp.IP.IsLoopback()
}

func isProbe(r *http.Request) bool {
	return r.Method != http.MethodOptions && (r.URL.Path == "/healthz" || r.URL.Path == "/readyz")
}
