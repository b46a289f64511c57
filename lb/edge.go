package lb

import (
	"fmt"
	"net/http"
	"reflect"

	"go.uber.org/zap"

	"netsim/lb/compress"
	"netsim/lb/httpcache"
)

// edge is the response cache and compression in front of a route's (or a
// frontend's) forwarding (`cache:` and `compress:`; both off by default).
// A route's blocks apply to its requests; a route without them, and a
// request no route took, get the frontend's. An edge is built off to the
// side at start and on reload, and kept as it is across a reload that
// leaves its blocks unchanged (stored responses survive a SIGHUP). Its
// compiled parts are engine-neutral (lb/httpcache, lb/compress);
// edge_std.go and edge_fast.go put them in each engine's path.
type edge struct {
	frontend, route string // for metrics and the admin API; route "" for the frontend's own
	cacheCfg        *httpcache.Config
	compressCfg     *compress.Config
	cache           *httpcache.Cache     // nil: no cache
	comp            *compress.Compressor // nil: no compression
	pool            string               // where background revalidations go
}

// buildEdge compiles one pair of blocks; old is the running edge of the
// same route (nil at start), kept when nothing changed. It returns nil
// when both are off.
func buildEdge(f *frontend, route, pool string, cache *httpcache.Config, comp *compress.Config, old *edge) (*edge, error) {
	if cache == nil && comp == nil {
		return nil, nil
	}
	if old != nil && old.pool == pool && reflect.DeepEqual(old.cacheCfg, cache) && reflect.DeepEqual(old.compressCfg, comp) {
		return old, nil
	}
	e := &edge{frontend: f.name, route: route, cacheCfg: cache, compressCfg: comp, pool: pool}
	if comp != nil {
		c, err := compress.New(*comp)
		if err != nil {
			return nil, err
		}
		e.comp = c
	}
	if cache != nil {
		opt := httpcache.Options{
			Now:     f.srv.now,
			Refresh: func(r *http.Request, w http.ResponseWriter) { f.refresh(e, r, w) },
		}
		if e.comp != nil {
			// Variants by Accept-Encoding share a key when they would get
			// the same coding.
			opt.Normalize = map[string]func(string) string{"Accept-Encoding": compress.NormalizeAcceptEncoding}
		}
		c, err := httpcache.New(*cache, opt)
		if err != nil {
			return nil, err
		}
		e.cache = c
	}
	return e, nil
}

// buildEdges compiles fc's edges: the frontend's own (returned) and those
// of the routes in tbl (set on them: tbl is not published yet). old and
// oldTbl are the running ones, whose edges are kept where unchanged.
func buildEdges(f *frontend, fc *FrontendConfig, tbl *routeTable, old *edge, oldTbl *routeTable) (*edge, error) {
	own, err := buildEdge(f, "", fc.Pool, fc.Cache, fc.Compress, old)
	if err != nil {
		return nil, err
	}
	running := map[string]*edge{}
	if oldTbl != nil {
		for _, r := range oldTbl.routes {
			running[r.name] = r.edge
		}
	}
	for _, r := range tbl.routes {
		pool := r.pool
		if pool == "" {
			pool = fc.Pool
		}
		if r.edge, err = buildEdge(f, r.name, pool, r.cfg.Cache, r.cfg.Compress, running[r.name]); err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", r.index, err)
		}
	}
	return own, nil
}

// close stops the cache's background revalidations.
func (e *edge) close() {
	if e != nil && e.cache != nil {
		e.cache.Close()
	}
}

// swapEdge installs next as f's own edge, after the routes moved from
// oldTbl to tbl, and closes the edges no longer used.
func (f *frontend) swapEdge(next *edge, oldTbl, tbl *routeTable) {
	used := map[*edge]bool{next: true}
	if tbl != nil {
		for _, r := range tbl.routes {
			used[r.edge] = true
		}
	}
	if old := f.edge.Swap(next); !used[old] {
		old.close()
	}
	if oldTbl != nil {
		for _, r := range oldTbl.routes {
			if !used[r.edge] {
				r.edge.close()
			}
		}
	}
}

// edges calls fn for every edge of f that has a cache.
func (f *frontend) edges(fn func(*edge)) {
	if e := f.edge.Load(); e != nil && e.cache != nil {
		fn(e)
	}
	if tbl := f.routes.Load(); tbl != nil {
		for _, r := range tbl.routes {
			if r.edge != nil && r.edge.cache != nil {
				fn(r.edge)
			}
		}
	}
}

// edgeOf is the edge for a request: its route's, else the frontend's.
func (st *reqState) edgeOf(f *frontend) *edge {
	if st.rt != nil && st.rt.edge != nil {
		return st.rt.edge
	}
	return f.edge.Load()
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
		res.Fill.PerRequest(st.perRequestFields())
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

// refresh fetches r from the edge's pool into w, for a background
// revalidation (stale-while-revalidate): the forwarding loop of a
// request that has no client. It is counted and logged as a request.
func (f *frontend) refresh(e *edge, r *http.Request, w http.ResponseWriter) {
	s := f.srv
	p := s.pool(e.pool)
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
	st.tbl = f.routes.Load()
	for _, rt := range st.tbl.routes {
		if e.route != "" && rt.name == e.route {
			st.rt, st.drops = rt, rt.drops
			x.rewriteTarget(st, rt.stripped([]byte(r.URL.RequestURI()), nil))
		}
	}
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

// perRequestFields are the answer fields lbd writes per request on the
// request's route (rate limit, CORS, request ID, the response header
// rules): never stored with a response, written afresh on every answer.
func (st *reqState) perRequestFields() []string {
	names := st.drops
	if rt := st.rt; rt != nil {
		for name := range rt.cfg.ResponseHeaders.Add {
			names = append(names[:len(names):len(names)], name)
		}
	}
	return names
}
