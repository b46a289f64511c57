package lb

import (
	"crypto/subtle"
	"strconv"
	"strings"
	"time"

	"netsim/internal/events"
	"netsim/lb/backend"
)

// RequestEvent is "lb.request": one HTTP request and the decision taken
// for it (EVENTS.md).
type RequestEvent struct {
	LBD        string
	Frontend   string
	Pool       string
	Policy     string
	Client     string
	Method     string
	Path       string
	Candidates []string // the backends that were eligible
	Backend    string
	Reason     string // round_robin, sticky, hash, least_conn, least_time, weighted, random, retry, …
	Attempts   int
	Status     int
	Error      string // lbd's error code, when lbd answered the error
	Duration   time.Duration
}

// EventType names the event.
func (*RequestEvent) EventType() string { return "lb.request" }

// AppendFields encodes the event (events.FieldAppender).
func (e *RequestEvent) AppendFields(dst []byte) []byte {
	dst = events.AppendStringFields(dst, "lbd", e.LBD, "frontend", e.Frontend, "pool", e.Pool, "policy", e.Policy,
		"client", e.Client, "method", e.Method, "path", e.Path)
	dst = events.AppendStrings(dst, "candidates", e.Candidates)
	dst = events.AppendStringFields(dst, "backend", e.Backend, "reason", e.Reason)
	if e.Attempts > 0 {
		dst = events.AppendIntField(dst, "attempts", int64(e.Attempts))
	}
	dst = events.AppendIntField(dst, "status", int64(e.Status))
	dst = events.AppendStringField(dst, "error", e.Error)
	return events.AppendIntField(dst, "duration_us", e.Duration.Microseconds())
}

// MarshalJSON encodes the event's fields as an object.
func (e *RequestEvent) MarshalJSON() ([]byte, error) { return events.Object(e), nil }

// BackendEvent is "lb.backend": a backend changed state.
type BackendEvent struct {
	LBD     string `json:"lbd"`
	Pool    string `json:"pool"`
	Backend string `json:"backend"`
	From    string `json:"from"`
	To      string `json:"to"`
	Cause   string `json:"cause,omitempty"`
}

// EventType names the event.
func (*BackendEvent) EventType() string { return "lb.backend" }

// HealthEvent is "lb.health": one active check's result.
type HealthEvent struct {
	LBD                 string `json:"lbd"`
	Pool                string `json:"pool"`
	Backend             string `json:"backend"`
	OK                  bool   `json:"ok"`
	Detail              string `json:"detail,omitempty"`
	DurationUS          int64  `json:"duration_us"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
}

// EventType names the event.
func (*HealthEvent) EventType() string { return "lb.health" }

// Events is the lbd's event bus (GET /api/v1/events).
func (s *Server) Events() *events.Bus { return s.events }

func (s *Server) name() string { return s.cfg.Load().Name }

func (s *Server) publishBackend(pool string, b *backend.Backend, from, to backend.State, cause string) {
	if !s.events.Wants("lb.backend") {
		return
	}
	s.events.Publish(&BackendEvent{LBD: s.name(), Pool: pool, Backend: b.ID(), From: from.String(), To: to.String(), Cause: cause})
}

func (s *Server) publishHealth(pool string, b *backend.Backend, err error, took time.Duration) {
	if !s.events.Wants("lb.health") {
		return
	}
	e := &HealthEvent{LBD: s.name(), Pool: pool, Backend: b.ID(), OK: err == nil, DurationUS: took.Microseconds(),
		ConsecutiveFailures: b.ConsecutiveFailures()}
	if err != nil {
		e.Detail = err.Error()
	}
	s.events.Publish(e)
}

// policyReason is how a policy's pick is called in lb.request's reason.
func policyReason(policy string) string {
	switch policy {
	case "source_ip_hash", "header_hash", "cookie_hash":
		return "hash"
	case "least_connections":
		return "least_conn"
	case "least_response_time":
		return "least_time"
	case "weighted_round_robin":
		return "weighted"
	case "random_two_choices":
		return "random"
	}
	return policy
}

// decided records, on the request's state, why the next attempt's backend
// was chosen (and, when someone looks, which backends were eligible).
func (st *reqState) decided(sticky bool) {
	switch {
	case st.attempts > 0:
		st.why = "retry"
	case sticky:
		st.why = "sticky"
	default:
		st.why = policyReason(st.pool.cfg.Policy)
	}
	st.attempts++
	if st.cands == nil && (st.publish || st.explain) {
		st.cands = st.snap.candidates()
	}
}

// candidates are the IDs of the snapshot's backends able to take a request.
func (sn *snapshot) candidates() []string {
	out := make([]string, 0, len(sn.list))
	for _, b := range sn.list {
		if b.Available() {
			out = append(out, b.ID())
		}
	}
	return out
}

// observed reports whether this request is described: one atomic load
// for the bus, one header lookup only when someone listens or asks.
func (f *frontend) observed(rf reqFields, st *reqState) {
	st.explain = rf.header("X-LB-Explain") == "1" && f.srv.mayExplain(rf)
	st.publish = f.srv.events.Wants("lb.request")
}

// mayExplain: decision traces go to loopback clients and to whoever holds
// the admin token.
func (s *Server) mayExplain(rf reqFields) bool {
	if rf.clientAddr().IsLoopback() {
		return true
	}
	scheme, tok, ok := strings.Cut(rf.header("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && s.token != "" &&
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.token)) == 1
}

// decisionHeader is the X-LB-Decision value for an attempt on b.
func (st *reqState) decisionHeader(b *backend.Backend) string {
	var sb strings.Builder
	sb.WriteString("pool=")
	sb.WriteString(st.pool.name)
	sb.WriteString("; policy=")
	sb.WriteString(st.pool.cfg.Policy)
	sb.WriteString("; candidates=")
	sb.WriteString(strings.Join(st.cands, ","))
	sb.WriteString("; chosen=")
	sb.WriteString(b.ID())
	sb.WriteString("; reason=")
	sb.WriteString(st.why)
	if st.why == "sticky" && st.stickyID != "" {
		sb.WriteString(" (cookie)")
	} else if st.why == "sticky" {
		sb.WriteString(" (source ip)")
	}
	sb.WriteString("; attempt=")
	sb.WriteString(strconv.Itoa(st.attempts))
	if st.failed != nil {
		sb.WriteString("; failed=")
		sb.WriteString(st.failed.ID())
	}
	return sb.String()
}

// publishRequest builds lb.request at the end of a request.
func (f *frontend) publishRequest(ri *reqInfo, st *reqState, took time.Duration) {
	s := f.srv
	e := &RequestEvent{
		LBD: s.name(), Frontend: f.name, Client: ri.client, Method: ri.method, Path: ri.path,
		Reason: st.why, Attempts: st.attempts, Status: st.status, Duration: took,
	}
	if st.pool != nil {
		e.Pool, e.Policy = st.pool.name, st.pool.cfg.Policy
		e.Candidates = st.cands
	}
	if st.backend != nil {
		e.Backend = st.backend.ID()
	} else if st.cur != nil {
		e.Backend = st.cur.ID()
	}
	if st.backend == nil && st.status >= 400 {
		e.Error = st.reason
	}
	s.events.Publish(e)
}
