package lb

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// fail answers a request that no backend answered: every failure of the
// handler's loop ends here with a status and a body that says why.
func (f *frontend) fail(w http.ResponseWriter, r *http.Request, st *reqState, err error) {
	pool := st.pool.name
	var (
		status int
		code   string
		msg    string
		extra  map[string]any
	)
	var (
		mbe *http.MaxBytesError
		cbe *clientBodyError
	)
	switch {
	case errors.Is(err, errNoBackend):
		status, code = http.StatusServiceUnavailable, "no_backend"
		msg = fmt.Sprintf("pool %s has no backend able to take the request", pool)
		extra = map[string]any{"backends": st.snap.summary()}
		w.Header().Set("Retry-After", "1")
	case errors.Is(err, errQueueTimeout):
		status, code = http.StatusServiceUnavailable, "queue_timeout"
		msg = fmt.Sprintf("every backend of pool %s stayed at its max_connections for %v", pool, st.pool.cfg.QueueTimeout)
		extra = map[string]any{"backends": st.snap.summary()}
		w.Header().Set("Retry-After", "1")
	case errors.As(err, &mbe):
		status, code = http.StatusRequestEntityTooLarge, "body_too_large"
		msg = fmt.Sprintf("request body exceeds the limit of %d bytes", mbe.Limit)
	case errors.As(err, &cbe):
		// The stream is out of step with its framing: nothing more can
		// be read from this connection.
		status, code = http.StatusBadRequest, "bad_request_body"
		msg = cbe.Error()
		w.Header().Set("Connection", "close")
	case r.Context().Err() != nil:
		// The client went away; nobody reads this answer. 499 as nginx logs it.
		st.status, st.reason = 499, "client closed request"
		f.srv.met.errors.WithLabelValues(pool, "client_closed").Inc()
		return
	case isDialError(err):
		status, code = http.StatusBadGateway, "backend_unreachable"
		msg = fmt.Sprintf("could not connect to backend %s: %s", failedName(st), shortErr(err))
	case isTimeout(err):
		status, code = http.StatusGatewayTimeout, "backend_timeout"
		msg = fmt.Sprintf("backend %s did not answer within %v", failedName(st), st.pool.cfg.ResponseTimeout)
	default:
		status, code = http.StatusBadGateway, "backend_error"
		msg = fmt.Sprintf("backend %s failed: %v", failedName(st), err)
	}
	if st.retries > 0 {
		msg += fmt.Sprintf(" (after %d retry on another backend)", st.retries)
	}
	st.status, st.reason = status, code
	f.srv.met.errors.WithLabelValues(pool, code).Inc()
	if ce := f.srv.log.Check(zap.DebugLevel, "proxy error"); ce != nil {
		ce.Write(zap.String("pool", pool), zap.Int("status", status), zap.String("reason", msg))
	}
	st.answerFields(headerSink(w.Header()))
	writeProxyError(w, r, status, code, msg, extra)
}

func failedName(st *reqState) string {
	if st.failed != nil {
		return st.failed.String()
	}
	return "?"
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s, "dial tcp") {
		return "connect: " + s[i+2:]
	}
	return s
}

// writeProxyError answers with JSON, or HTML when the client prefers it
// (a browser).
func writeProxyError(w http.ResponseWriter, r *http.Request, status int, code, msg string, extra map[string]any) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-LB-Error", code)
	var body string
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/html; charset=utf-8")
		body = fmt.Sprintf("<!doctype html>\n<html><head><title>%d %s</title></head><body>\n<h1>%d %s</h1>\n<p>%s</p>\n<p><small>lbd: %s</small></p>\n</body></html>\n",
			status, http.StatusText(status), status, http.StatusText(status), html.EscapeString(msg), code)
	} else {
		h.Set("Content-Type", "application/json; charset=utf-8")
		e := map[string]any{"code": code, "message": msg, "status": status}
		if extra != nil {
			e["context"] = extra
		}
		body = string(jsonIndent(map[string]any{"error": e}))
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
}
