package lb

import (
	"net/http"

	"netsim/lb/httpcache"
)

// serveEdge runs a nethttp request through the frontend's edge (cache,
// compression), or forwards it as it is when the frontend has none.
func (f *frontend) serveEdge(st *reqState, x *stdExchange) {
	e := f.edge.Load()
	if e == nil {
		f.forward(x, st)
		return
	}
	r := x.r
	res := e.lookup(x, httpcache.Request{Method: r.Method, Host: r.Host, Target: r.URL.RequestURI(), Header: r.Header})
	switch res.Kind {
	case httpcache.Cached:
		st.status = res.Hit.Status
		res.Hit.WriteTo(x.w, r.Method == http.MethodHead)
		return
	case httpcache.GatewayTimeout:
		notCached(x.w, r, st)
		return
	}
	f.edgeForward(e, st, x, res)
}
