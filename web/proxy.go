package web

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"netsim/internal/api"
)

// proxy forwards requests under prefix to a daemon's admin API at addr,
// with the daemon's own token in place of whatever the page sent (the
// guard has checked the page's). Responses stream: an SSE stream is
// flushed event by event.
func (h *handler) proxy(name, prefix, addr string, token func() string) http.Handler {
	if addr == "" {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			api.WriteError(w, r, api.Errorf(http.StatusNotFound, "no_daemon", "netsim runs no %s (nothing to proxy under %s/)", name, prefix))
		})
	}
	target := &url.URL{Scheme: "http", Host: addr}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			path := strings.TrimPrefix(pr.In.URL.Path, prefix)
			if !strings.HasPrefix(path, "/") {
				path = "/" + path
			}
			pr.Out.URL.Path, pr.Out.URL.RawPath = path, ""
			pr.Out.Header.Del("Authorization")
			if t := token(); t != "" {
				pr.Out.Header.Set("Authorization", "Bearer "+t)
			}
		},
		Transport:     h.o.Transport,
		FlushInterval: -1, // event streams: every write goes out at once
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the browser went away
			}
			h.o.Log.Debug("proxy: daemon unreachable", zap.String("daemon", name), zap.String("addr", addr), zap.Error(err))
			api.WriteError(w, r, api.Errorf(http.StatusBadGateway, "daemon_unreachable",
				"%s at %s does not answer: %v", name, addr, err).With("daemon", name))
		},
	}
}

// lbProxies routes /lb/{name}/… to that lbd.
func (h *handler) lbProxies() http.Handler {
	each := make(map[string]http.Handler, len(h.o.LBAdmins))
	for name, addr := range h.o.LBAdmins {
		each[name] = h.proxy(name, "/lb/"+name, addr, h.o.LBToken)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		p, ok := each[name]
		if !ok {
			api.WriteError(w, r, api.Errorf(http.StatusNotFound, "unknown_lbd", "no lbd %q; lbds: %s", name, strings.Join(h.o.lbNames(), ", ")).With("lbd", name))
			return
		}
		p.ServeHTTP(w, r)
	})
}
