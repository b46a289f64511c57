package scenario

import (
	"bufio"
	"encoding/json"
	"io"
	"time"
)

// Record is what happened to one request of the load.
type Record struct {
	Seq       int       `json:"seq"`
	T         float64   `json:"t"`        // intended send, seconds since the load started
	Intended  time.Time `json:"intended"` // when the open loop meant to send it
	Started   time.Time `json:"started"`  // when it was actually sent
	Client    string    `json:"client"`   // source address
	Region    string    `json:"region,omitempty"`
	Resolved  string    `json:"resolved,omitempty"` // address it connected to (a DNS answer's, or the target's)
	Frontend  string    `json:"frontend,omitempty"` // the lbd that answered (its address)
	Backend   string    `json:"backend,omitempty"`
	Version   string    `json:"version,omitempty"`
	Status    int       `json:"status"`
	LatencyMS float64   `json:"latency_ms"` // from the intended send time
	// StalledMS is how long the client's own process stood still while
	// this request waited (its timeout was moved by as much).
	StalledMS float64 `json:"stalled_ms,omitempty"`
	// Cause of a failure: refused, reset, timeout, dns, backend_5xx,
	// lbd_502, lbd_503, lbd_504, other. Empty: the request succeeded.
	Cause string `json:"cause,omitempty"`
	Code  string `json:"code,omitempty"` // lbd's error code (backend_unreachable, no_backend, …)
	Error string `json:"error,omitempty"`
}

// OK reports whether the request succeeded.
func (r *Record) OK() bool { return r.Cause == "" }

// Latency is the time from the intended send to the end of the answer.
func (r *Record) Latency() time.Duration {
	return time.Duration(r.LatencyMS * float64(time.Millisecond))
}

// At is the intended send time since the load started.
func (r *Record) At() time.Duration { return time.Duration(r.T * float64(time.Second)) }

// SentAt is when the request actually went out, on the same clock as At:
// which backend and version answer is decided then, so shares and
// convergence count by it (a request meant for just before a switch but
// sent just after it is served by the new side).
func (r *Record) SentAt() time.Duration {
	if r.Started.IsZero() || r.Intended.IsZero() {
		return r.At()
	}
	return r.At() + r.Started.Sub(r.Intended)
}

// EndAt is when the answer (or the failure) came, on the same clock.
func (r *Record) EndAt() time.Duration { return r.At() + r.Latency() }

// WriteJSONL writes one record a line.
func WriteJSONL(w io.Writer, recs []Record) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadJSONL reads records written by WriteJSONL.
func ReadJSONL(r io.Reader) ([]Record, error) {
	var out []Record
	dec := json.NewDecoder(r)
	for dec.More() {
		var rec Record
		if err := dec.Decode(&rec); err != nil {
			return out, err
		}
		out = append(out, rec)
	}
	return out, nil
}
