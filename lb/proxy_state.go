package lb

import (
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"netsim/lb/backend"
	"netsim/lb/policy"
)

// reqState follows one request through the handler's loop, the proxy's
// hooks and the error page. It is pooled per frontend and carries its own
// httputil.ReverseProxy, whose hooks are bound to it once, so a request
// needs neither a context value nor a closure to find its state.
type reqState struct {
	fe       *frontend
	rp       httputil.ReverseProxy // Transport is set per attempt
	pool     *pool
	snap     *snapshot
	hint     policy.Hint
	sticky   *backend.Backend // preferred by cookie or stick table
	stickyID string           // backend named by a valid cookie
	refresh  bool             // re-issue the cookie even if it matches
	secure   bool
	cur      *backend.Backend // the one being tried
	curM     *member          // its member in snap
	sent     time.Time        // when the current attempt started
	err      error            // what the current attempt ended with
	backend  *backend.Backend // the one that answered (Acquired)
	member   *member
	failed   *backend.Backend // the last one that failed, for messages
	body     *reqBody         // the request body, when there is one
	al       *zap.Logger      // access logger when this request is sampled
	cw       *countingWriter  // counts response bytes for the access log
	status   int
	bytes    int64 // response body bytes sent, for the access log
	method   string
	hasBody  bool // the request has a body (not replayable)
	retries  int
	reason   string
	start    time.Time
	// the decision, for lb.request events and X-LB-Decision (events.go)
	publish  bool        // someone listens to lb.request
	explain  bool        // the client asked for X-LB-Decision and may have it
	why      string      // why the backend being tried was chosen
	attempts int         // backends tried
	cands    []string    // eligible backends at the first pick (when publish or explain)
	std      stdExchange // the nethttp engine's request
	fast     *fastConn   // the fast engine's connection
	// routing (route_serve.go)
	tbl    *routeTable // the frontend's routes when the request came
	rt     *route      // the route that took it; nil: the frontend's pool
	drops  []string    // answer fields lbd replaces
	rl     limitResult // the rate limit's decision (rl.p nil: none)
	rid    []byte      // the request ID; nil: off
	ridNew bool        // lbd made rid (the backend gets it from lbd)
	ridBuf [32]byte
	origin string    // Origin, on a route with CORS
	target reqTarget // host and target as forwarded
}

// statePool recycles reqStates of one frontend.
type statePool struct {
	p sync.Pool
}

func newStatePool(f *frontend) *statePool {
	sp := &statePool{}
	errLog := serverErrorLog(f.srv.log.With(zap.String("frontend", f.name)))
	bufs := &bufPool{}
	sp.p.New = func() any {
		st := &reqState{}
		st.rp = httputil.ReverseProxy{
			Rewrite:        st.rewrite,
			ModifyResponse: st.modifyResponse,
			ErrorHandler:   st.recordErr,
			BufferPool:     bufs,
			ErrorLog:       errLog,
		}
		return st
	}
	return sp
}

// get returns a clean state for a request on f.
func (sp *statePool) get(f *frontend) *reqState {
	st := sp.p.Get().(*reqState)
	st.fe = f
	return st
}

// put resets st, keeping its bound proxy, and returns it to the pool.
func (sp *statePool) put(st *reqState) {
	rp := st.rp
	rp.Transport = nil
	*st = reqState{rp: rp}
	sp.p.Put(st)
}

// recordErr is the proxy's ErrorHandler: it writes nothing, so that the
// handler's loop can try another backend or answer with an error page.
func (st *reqState) recordErr(_ http.ResponseWriter, _ *http.Request, err error) {
	st.err = err
}

// reqBody wraps the client's request body. Close does nothing, so the
// body survives a transport that failed before reading it (a refused
// connection: the transport closes what it was given) and can be sent to
// another backend; the server closes the real body when the handler
// returns. It notes, for the handler's loop, when the body went over
// max_body_bytes and when reading it failed (the client's bad framing:
// an invalid chunk, a body shorter than its Content-Length). Both are
// read by the transport's writer goroutine, hence the atomics.
type reqBody struct {
	io.ReadCloser
	tooBig  atomic.Pointer[http.MaxBytesError]
	readErr atomic.Pointer[error]
}

func (b *reqBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			b.tooBig.Store(mbe)
		} else {
			b.readErr.CompareAndSwap(nil, &err)
		}
	}
	return n, err
}

func (*reqBody) Close() error { return nil }

// clientErr is the error reading the client's body failed with, or nil.
func (b *reqBody) clientErr() error {
	if b == nil {
		return nil
	}
	if e := b.readErr.Load(); e != nil {
		return *e
	}
	return nil
}

// overLimit is the max_body_bytes error when the body went over it, or nil.
func (b *reqBody) overLimit() *http.MaxBytesError {
	if b == nil {
		return nil
	}
	return b.tooBig.Load()
}

// countingWriter counts the response body bytes for the access log. Unwrap
// lets http.ResponseController (used by ReverseProxy for flushing and for
// WebSocket hijacking) reach the real writer.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// bufPool recycles the 32 KiB copy buffers of ReverseProxy.
type bufPool struct{ p sync.Pool }

func (bp *bufPool) Get() []byte {
	if b, ok := bp.p.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (bp *bufPool) Put(b []byte) { bp.p.Put(&b) }
