package lb

import (
	"context"
	"errors"
	"net"
	"net/http"

	"go.uber.org/zap"

	"netsim/lb/backend"
)

var (
	errNoBackend    = errors.New("no backend available")
	errQueueTimeout = errors.New("queue timeout")
	// errNotMember: a policy returned a backend that is not in the
	// request's snapshot. Nothing was sent; another pick may succeed.
	errNotMember = errors.New("picked backend is not in the pool's snapshot")
)

// maxTries bounds the attempts of one request (retries is at most 3, and
// a pick outside the snapshot is skipped without counting as a retry).
const maxTries = 8

// exchange is one engine's side of a request: how an attempt is sent and
// how lbd's own answer is written.
type exchange interface {
	// context ends when the client went away (never, for an engine that
	// only notices that when it writes).
	context() context.Context
	// attempt sends the request to b, which is m in the request's
	// snapshot. It returns nil when b's answer went to the client, else
	// what failed; it Acquires b, and Releases it again on failure
	// unless b answered (st.backend set).
	attempt(st *reqState, b *backend.Backend, m *member) error
	// fail answers the client with lbd's error page for err.
	fail(st *reqState, err error)
}

// forward is the request's one loop: pick a backend, try it, and on a
// failure that is safe to retry pick another that was not tried yet.
// Every failure is attributed here: to the backend (passive health), to
// the client (its own body), or to nobody (the client went away).
func (f *frontend) forward(x exchange, st *reqState) {
	p, sn := st.pool, st.snap
	var tried [maxTries]*backend.Backend
	n := 0
	ctx := x.context()
	b, err := f.firstPick(ctx, st)
	for {
		if err != nil {
			x.fail(st, err)
			return
		}
		tried[n] = b
		n++
		m := sn.byPtr[b]
		if m == nil {
			err = errNotMember
		} else {
			err = x.attempt(st, b, m)
			if err == nil || st.backend != nil {
				// Answered; or failed after the backend answered (a
				// protocol switch gone wrong): nothing to retry.
				if err != nil {
					x.fail(st, err)
				}
				return
			}
			st.failed = b
			if e := f.blame(ctx, st, b, err); e != nil {
				x.fail(st, e)
				return
			}
		}
		if !retryable(st.method, err, st.hasBody) || n >= maxTries || (m != nil && st.retries >= *p.cfg.Retries) {
			x.fail(st, err)
			return
		}
		next := p.pickOther(sn, st.hint, tried[:n])
		if next == nil {
			if m == nil {
				err = errNoBackend
			}
			x.fail(st, err)
			return
		}
		if m != nil {
			reason := "reset"
			if isDialError(err) {
				reason = "connect"
			}
			f.srv.met.retries.WithLabelValues(p.name, reason).Inc()
			st.retries++
		}
		if ce := f.srv.log.Check(zap.DebugLevel, "retrying on another backend"); ce != nil {
			ce.Write(zap.String("pool", p.name), zap.String("from", b.ID()), zap.String("to", next.ID()), zap.Error(err))
		}
		b, err = next, nil
		st.decided(false)
	}
}

// firstPick chooses the first backend: the sticky one when it is
// available, else the policy's pick, else (with queue_timeout) the first
// to free a slot below its max_connections.
func (f *frontend) firstPick(ctx context.Context, st *reqState) (*backend.Backend, error) {
	p, sn := st.pool, st.snap
	b := st.sticky
	sticky := b != nil && b.Available()
	if !sticky {
		b = p.pick(sn, st.hint)
	}
	st.decided(sticky)
	if b == nil && p.cfg.QueueTimeout > 0 && sn.queueable() {
		b = p.waitPick(ctx, sn, st.hint, p.cfg.QueueTimeout)
		if b == nil && ctx.Err() == nil {
			return nil, errQueueTimeout
		}
	}
	if b == nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errNoBackend
	}
	return b, nil
}

// blame attributes a failed attempt on b. It returns the error to answer
// with at once when the failure is not the backend's (the client's body
// went over the limit or was malformed, or the client went away), nil
// when the backend failed and the loop may retry. A timeout is not
// counted against the backend: it may still be working on the request.
func (f *frontend) blame(ctx context.Context, st *reqState, b *backend.Backend, err error) error {
	if e := st.clientFault(err); e != nil {
		return e
	}
	if ctx.Err() != nil {
		return err // the client went away: neither the backend's fault nor retryable
	}
	if isDialError(err) || !isTimeout(err) {
		b.Failure(st.pool.ejectThreshold(st.snap, b), shortErr(err))
	}
	return nil
}

// retryable: a refused or unreachable connect for any method (nothing was
// sent), a pick outside the snapshot, and a reset before any response
// byte for an idempotent request without a body. Never a timeout: the
// backend may still be working on it.
func retryable(method string, err error, hasBody bool) bool {
	if errors.Is(err, errNotMember) || isDialError(err) {
		return true
	}
	return !isTimeout(err) && isIdempotent(method) && !hasBody
}

// clientFault is the client's own failure behind err, or nil: its body
// went over max_body_bytes or broke its framing.
func (st *reqState) clientFault(err error) error {
	if mbe := st.body.overLimit(); mbe != nil {
		return mbe
	}
	if cerr := st.body.clientErr(); cerr != nil {
		return &clientBodyError{err: cerr}
	}
	var (
		mbe *http.MaxBytesError
		cbe *clientBodyError
	)
	if errors.As(err, &mbe) || errors.As(err, &cbe) {
		return err
	}
	return nil
}

// clientBodyError is the client's own bad request body (framing): a 400
// to that client, never a mark against a backend.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "reading the request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

func isIdempotent(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
