package lb

import (
	"net/http"
	"reflect"

	"go.uber.org/zap"

	"netsim/lb/compress"
	"netsim/lb/httpcache"
)

// edge is the response cache and compression in front of a frontend's
// forwarding (`cache:` and `compress:`; both off by default). It is built
// off to the side at start and on reload, and kept as it is across a
// reload that leaves both blocks unchanged (stored responses survive a
// SIGHUP). Its compiled parts are engine-neutral (lb/httpcache,
// lb/compress); edge_std.go and edge_fast.go put them in each engine's
// path. Meant to move under a route once routes carry per-route
// handlers: nothing here depends on being per frontend but the label.
type edge struct {
	label       string // frontend name, for metrics and the admin API
	cacheCfg    *httpcache.Config
	compressCfg *compress.Config
	cache       *httpcache.Cache     // nil: no cache
	comp        *compress.Compressor // nil: no compression
}

// buildEdge compiles fc's cache and compress blocks for f; old is the
// running edge (nil at start), kept when nothing changed. It returns nil
// when both are off.
func buildEdge(f *frontend, fc *FrontendConfig, old *edge) (*edge, error) {
	if fc.Cache == nil && fc.Compress == nil {
		return nil, nil
	}
	if old != nil && reflect.DeepEqual(old.cacheCfg, fc.Cache) && reflect.DeepEqual(old.compressCfg, fc.Compress) {
		return old, nil
	}
	e := &edge{label: f.name, cacheCfg: fc.Cache, compressCfg: fc.Compress}
	if fc.Compress != nil {
		c, err := compress.New(*fc.Compress)
		if err != nil {
			return nil, err
		}
		e.comp = c
	}
	if fc.Cache != nil {
		opt := httpcache.Options{
			Now:     f.srv.now,
			Refresh: func(r *http.Request, w http.ResponseWriter) { f.refresh(e, r, w) },
		}
		if e.comp != nil {
			// Variants by Accept-Encoding share a key when they would get
			// the same coding.
			opt.Normalize = map[string]func(string) string{"Accept-Encoding": compress.NormalizeAcceptEncoding}
		}
		c, err := httpcache.New(*fc.Cache, opt)
		if err != nil {
			return nil, err
		}
		e.cache = c
	}
	return e, nil
}

// close stops the cache's background revalidations.
func (e *edge) close() {
	if e != nil && e.cache != nil {
		e.cache.Close()
	}
}

// swapEdge installs next on f and closes the edge it replaced, unless
// that one is kept.
func (f *frontend) swapEdge(next *edge) {
	if old := f.edge.Swap(next); old != nil && old != next {
		old.close()
	}
}

// edgeForward forwards st through the edge: a cache Fill and a
// compressing writer go between the forwarding and the client's writer
// x.w (in that order, so the cache stores what the client gets: a
// compressed variant per coding). res is the cache's decision (Pass
// without a Fill when there is no cache).
func (f *frontend) edgeForward(e *edge, st *reqState, x *stdExchange, res httpcache.Result) {
	r := x.r
	if res.Fill != nil {
		res.Fill.SetConditionals(r.Header)
		x.w = res.Fill.Wrap(x.w)
		defer res.Fill.Finish()
	}
	if e.comp != nil {
		cw := e.comp.Wrap(x.w, r.Method, r.Header.Get("Accept-Encoding"), r.Header.Get("Range") != "")
		x.w = cw
		defer func() {
			if err := cw.Close(); err != nil {
				f.srv.log.Debug("compressed response cut short", zap.String("frontend", f.name), zap.Error(err))
			}
		}()
	}
	f.forward(x, st)
}

// refresh fetches r from the frontend's pool into w, for a background
// revalidation (stale-while-revalidate): the forwarding loop of a
// request that has no client. It is counted and logged as a request.
func (f *frontend) refresh(e *edge, r *http.Request, w http.ResponseWriter) {
	s := f.srv
	p := s.pool(f.cfg.Load().Pool)
	if p == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	st := f.states.get(f)
	st.start = s.now()
	st.std = stdExchange{f: f, w: w, r: r}
	x := &st.std
	st.pool, st.snap, st.method = p, p.snap.Load(), r.Method
	defer func() {
		f.finish(st, stdInfo)
		f.states.put(st)
	}()
	st.route(p, x)
	if e.comp != nil {
		cw := e.comp.Wrap(w, r.Method, r.Header.Get("Accept-Encoding"), false)
		x.w = cw
		defer func() { _ = cw.Close() }()
	}
	f.forward(x, st)
}

// lookup asks the edge's cache about a request (Pass when there is none).
func (e *edge) lookup(x exchange, req httpcache.Request) httpcache.Result {
	if e.cache == nil {
		return httpcache.Result{Kind: httpcache.Pass}
	}
	return e.cache.Lookup(x.context(), req)
}

// notCached answers an only-if-cached request that found nothing.
func notCached(w http.ResponseWriter, r *http.Request, st *reqState) {
	st.status, st.reason = http.StatusGatewayTimeout, "not_cached"
	writeProxyError(w, r, st.status, st.reason, "the request said only-if-cached and no stored response fits it", nil)
}
