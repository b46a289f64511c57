package resolver

import (
	"math/rand/v2"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// serverStat is what the resolver remembers about one upstream address,
// as Unbound's infra cache does: a smoothed RTT and its variance (RFC
// 6298), from which the time to wait for it (RTO) follows; consecutive
// failures, which make it a suspect that is asked only when no healthy
// server is left and probed in the background, less often the longer it
// stays dead; and whether it mishandles EDNS.
type serverStat struct {
	addr         netip.AddrPort
	srtt         atomic.Int64 // nanoseconds; meaningful once known
	rttvar       atomic.Int64 // nanoseconds
	known        atomic.Bool  // at least one RTT measured
	fails        atomic.Int32 // consecutive timeouts/errors
	downUntil    atomic.Int64 // unix ns; no probe before then
	probing      atomic.Bool  // a background probe is in flight (probe.go)
	noEDNS       atomic.Bool
	noECS        atomic.Bool
	cookie       [8]byte                // our client cookie for this server (cookie.go)
	serverCookie atomic.Pointer[[]byte] // the server cookie it last sent; nil: none yet
	queries      atomic.Uint64
	errors       atomic.Uint64
	lastErr      atomic.Pointer[string]
}

type serverSet struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[netip.AddrPort]*serverStat
}

func newServerSet(now func() time.Time) *serverSet {
	return &serverSet{now: now, m: make(map[netip.AddrPort]*serverStat)}
}

// maxServers bounds the table: addresses learnt from referrals on the
// internet are unbounded; the oldest half is dropped past this.
const maxServers = 10000

func (s *serverSet) get(a netip.AddrPort) *serverStat {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[a]
	if !ok {
		if len(s.m) >= maxServers {
			i := 0
			for k := range s.m {
				if i%2 == 0 {
					delete(s.m, k)
				}
				i++
			}
		}
		st = &serverStat{addr: a, cookie: newClientCookie()}
		s.m[a] = st
	}
	return st
}

func (s *serverSet) all() []*serverStat {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*serverStat, 0, len(s.m))
	for _, st := range s.m {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].addr.String() < out[j].addr.String() })
	return out
}

// success records a reply after rtt: RFC 6298 §2 (α = 1/8, β = 1/4),
// and the server is healthy again.
func (st *serverStat) success(rtt time.Duration) {
	st.fails.Store(0)
	st.downUntil.Store(0)
	r := int64(rtt)
	if !st.known.Load() {
		st.srtt.Store(r)
		st.rttvar.Store(r / 2)
		st.known.Store(true)
		return
	}
	old := st.srtt.Load()
	st.rttvar.Store(st.rttvar.Load() + (abs(old-r)-st.rttvar.Load())/4)
	st.srtt.Store(old + (r-old)/8)
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// failure records a timeout or an error (a closed port's ICMP refusal
// too): the server is a suspect from the first one, and is not probed
// again before a backoff of 1 s, doubling with each failure up to maxBackoff.
func (st *serverStat) failure(now time.Time, err error) {
	st.errors.Add(1)
	msg := err.Error()
	st.lastErr.Store(&msg)
	n := st.fails.Add(1)
	st.downUntil.Store(now.Add(backoff(n)).UnixNano())
}

func backoff(fails int32) time.Duration {
	return min(time.Second<<min(max(fails-1, 0), 4), maxBackoff)
}

// maxBackoff bounds how long a failed server goes unprobed: a server that
// came back is in use again within it (the caching lab waits for that).
const maxBackoff = 16 * time.Second

// down reports whether the server failed and its next probe is not due.
func (st *serverStat) down(now time.Time) bool {
	return now.UnixNano() < st.downUntil.Load()
}

func (st *serverStat) suspect() bool { return st.fails.Load() > 0 }

// minRTO is the least time a known server is waited for: Unbound's is
// 50 ms; twice that leaves room for a loaded 2-core machine, where a live
// server on loopback may take tens of milliseconds.
const minRTO = 100 * time.Millisecond

// timeout is how long to wait for this server: its RTO (srtt + 4 rttvar,
// at least minRTO), doubled for each consecutive failure (a server that
// became slow is given longer, as Unbound backs off), never more than
// limit (resolver.upstream_timeout), which is also the wait for a server
// never measured.
func (st *serverStat) timeout(limit time.Duration) time.Duration {
	if !st.known.Load() {
		return limit
	}
	rto := max(time.Duration(st.srtt.Load()+4*st.rttvar.Load()), minRTO)
	rto <<= min(st.fails.Load(), 8)
	return min(rto, limit)
}

// rttBand is Unbound's: servers whose smoothed RTT is within this of the
// fastest are equals, chosen at random, so every server of a zone keeps
// being tried (and a server never asked is not starved by a known one).
const rttBand = 400 * time.Millisecond

// order sorts candidates for trying: the healthy servers whose RTT is
// within rttBand of the fastest, shuffled; then the slower healthy ones by
// RTT; then the suspects (the last exchange failed), fewest failures
// first: a question goes to a server that just timed out only when no
// other is left. Unknown servers count as a middling 50 ms.
func (s *serverSet) order(addrs []netip.AddrPort) []netip.AddrPort {
	out := append([]netip.AddrPort(nil), addrs...)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	type scored struct {
		fails int32
		score int64
	}
	sc := make(map[netip.AddrPort]scored, len(out))
	best := int64(-1)
	for _, a := range out {
		st := s.get(a)
		v := st.srtt.Load()
		if !st.known.Load() {
			v = int64(50 * time.Millisecond)
		}
		f := st.fails.Load()
		sc[a] = scored{fails: f, score: v}
		if f == 0 && (best < 0 || v < best) {
			best = v
		}
	}
	rank := func(a scored) int64 {
		switch {
		case a.fails > 0:
			return 1<<62 + int64(a.fails)
		case a.score <= best+int64(rttBand):
			return 0 // in the band: the shuffle decides
		default:
			return a.score
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(sc[out[i]]) < rank(sc[out[j]]) })
	return out
}
