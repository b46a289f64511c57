package lb

import (
	"net/http"

	"netsim/lb/httpcache"
)

// serveEdge runs a nethttp request through e (cache, compression).
func (f *frontend) serveEdge(st *reqState, x *stdExchange, e *edge) {
	r := x.r
	// The key is the target the client asked for (before strip_prefix).
	res := e.lookup(x, httpcache.Request{Method: r.Method, Host: r.Host, Target: r.RequestURI, Header: r.Header})
	switch res.Kind {
	case httpcache.Cached:
		st.status = res.Hit.Status
		st.answerFields(headerSink(x.w.Header()))
		res.Hit.WriteTo(x.w, r.Method == http.MethodHead)
		return
	case httpcache.GatewayTimeout:
		st.answerFields(headerSink(x.w.Header()))
		notCached(x.w, r, st)
		return
	}
	f.edgeForward(e, st, x, res)
}
