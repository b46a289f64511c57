// Package server runs dnsd's listeners: UDP and TCP sockets per address,
// each with its own set of authoritative zones and, optionally, recursion.
// The query path is bytes in, bytes out (Handler.ServePacket), so the socket
// loops stay thin and every decision is testable without a socket.
package server

import (
	"context"
	"encoding/binary"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/auth"
	"netsim/dns/rrl"
	"netsim/internal/events"
)

// Protocol of a query.
type Protocol uint8

// Protocols.
const (
	UDP Protocol = iota
	TCP
)

func (p Protocol) String() string {
	if p == TCP {
		return "tcp"
	}
	return "udp"
}

const (
	// advertisedUDPSize is what we tell clients we accept (DNS flag day 2020).
	advertisedUDPSize = 1232
	// maxUDPSize caps what we send over UDP even if a client offers more:
	// replies that would fragment are truncated instead (DNS flag day 2020,
	// RFC 9715), as NSD, Unbound and BIND do by default.
	maxUDPSize = advertisedUDPSize
	headerLen  = 12
)

// Handler answers one listener's queries. Its zones and recursor can be
// swapped at run time (reload) without pausing readers.
type Handler struct {
	Name    string                      // listen address, used in metrics and logs
	packed  atomic.Pointer[packedCache] // the zone set and its packed answers
	rec     atomic.Pointer[recursorBox]
	geo     atomic.Pointer[geoBox]
	rrl     atomic.Pointer[rrl.Limiter] // nil: UDP replies are not rate limited (rrl.go)
	ext     atomic.Pointer[extBox]      // UPDATE, NOTIFY, transfers (ext.go)
	metrics *Metrics
	sm      *serverMetrics
	cookies *Cookies
	events  *events.Bus // dns.query events (events.go)
	qlog    *QueryLog
	// Timeout bounds a recursive answer.
	Timeout time.Duration
	// Identity answers id.server/hostname.bind (CH TXT); NewHandler sets
	// it to "<hostname> <listener>".
	Identity string
	// OnPanic, if set, is told about a query whose answering panicked (the
	// query gets SERVFAIL and the server goes on).
	OnPanic func(p any, pkt []byte)
}

type recursorBox struct{ Recursor }
type geoBox struct{ Geo }

// NewHandler returns a handler for one listener.
func NewHandler(name string, set *auth.Set, rec Recursor, m *Metrics) *Handler {
	host, _ := os.Hostname()
	h := &Handler{Name: name, metrics: m, sm: m.forServer(name), Timeout: 10 * time.Second, Identity: strings.TrimSpace(host + " " + name), cookies: NewCookies()}
	h.SetZones(set)
	h.SetRecursor(rec)
	return h
}

// SetZones swaps in a new zone set, with an empty cache of packed answers:
// nothing packed from the old set is served after the swap.
func (h *Handler) SetZones(s *auth.Set) {
	if s == nil {
		s = auth.NewSet(nil)
	}
	h.packed.Store(newPackedCache(s))
}

// Zones returns the current zone set.
func (h *Handler) Zones() *auth.Set { return h.packed.Load().set }

// SetRecursor swaps the recursor (nil turns recursion off).
func (h *Handler) SetRecursor(r Recursor) {
	if r == nil {
		h.rec.Store(nil)
		return
	}
	h.rec.Store(&recursorBox{r})
}

// SetGeo installs the GeoDNS hook (nil removes it).
func (h *Handler) SetGeo(g Geo) {
	if g == nil {
		h.geo.Store(nil)
		return
	}
	h.geo.Store(&geoBox{g})
}

// ServePacket answers one wire-format query. It returns the wire-format
// reply appended to out[:0], or nil when the packet must be dropped
// (a response, or too short to carry a header).
func (h *Handler) ServePacket(ctx context.Context, pkt []byte, client netip.Addr, proto Protocol, out []byte) []byte {
	reply, _ := h.servePacket(ctx, pkt, client, proto, out, true, time.Now(), nil)
	return reply
}

// TryServePacket is ServePacket that never waits on upstream servers:
// done is false when the query needs a resolution, and the caller then
// calls ServePacket from a goroutine of its own.
func (h *Handler) TryServePacket(pkt []byte, client netip.Addr, proto Protocol, out []byte) (reply []byte, done bool) {
	return h.tryServe(pkt, client, proto, out, time.Now(), nil)
}

// tryServe is TryServePacket for a query of a batch read at start: an
// answer from a packed wire form is counted in t (nil: at once), for the
// reader to observe when the batch is answered (Metrics.observeBatch).
func (h *Handler) tryServe(pkt []byte, client netip.Addr, proto Protocol, out []byte, start time.Time, t *tally) (reply []byte, done bool) {
	reply, pending := h.servePacket(context.Background(), pkt, client, proto, out, false, start, t)
	return reply, !pending
}

func (h *Handler) servePacket(ctx context.Context, pkt []byte, client netip.Addr, proto Protocol, out []byte, block bool, start time.Time, t *tally) (reply []byte, pending bool) {
	defer func() {
		// a defect in answering one query must not take the server down
		if p := recover(); p != nil {
			h.metrics.panicked(h.Name)
			if h.OnPanic != nil {
				h.OnPanic(p, pkt)
			}
			reply = nil
			if len(pkt) >= headerLen {
				fail := errorReply(binary.BigEndian.Uint16(pkt), 0, dns.RcodeServerFailure)
				reply, _ = fail.PackBuffer(out[:cap(out)])
			}
			pending = false
		}
	}()
	if x := h.extension(pkt, proto); x != nil {
		if !block {
			return nil, true // it may write a file or wait: off the reading goroutine
		}
		return h.serveExtOne(ctx, x, pkt, client, proto, out), false
	}
	signer := h.signer(pkt) // a query signed with TSIG: the full way, the reply signed
	// Is this query to be described? One atomic load for the query log and
	// one for the bus. The query log describes answers the full way; events
	// alone keep the packed one, each told by its reply's bytes (events_packed.go).
	logging := h.qlog.On()
	qi := queryInfo{explain: logging || h.events.Active()}
	if signer == nil && !logging {
		if b, rcode, src, ok := h.serveCached(pkt, client, proto, out, qi.explain); ok {
			if b != nil { // nil: dropped by the rate limiter
				if !t.add(rcode) {
					h.metrics.observe(h.sm, h.Name, proto, rcode, start)
				}
				if qi.explain {
					h.reportPacked(b, client, proto, src, start)
				}
			}
			return b, false
		}
	}
	resp, size, pending := h.serve(ctx, pkt, client, proto, block, &qi)
	if pending {
		return nil, true
	}
	if resp == nil {
		h.metrics.dropped(h.Name)
		return nil, false
	}
	resp.Compress = true
	if proto == UDP {
		if lim := h.rrl.Load(); lim != nil && !limitMsg(lim, resp, client, qi.cookie) {
			return nil, false
		}
		truncate(resp, size-signer.room())
	}
	b, err := signer.pack(resp, pkt, out)
	if err != nil {
		// cannot happen for messages we built; answer SERVFAIL rather than nothing
		fail := new(dns.Msg)
		fail.Id, fail.Response, fail.Rcode = resp.Id, true, dns.RcodeServerFailure
		fail.Question = resp.Question
		b, _ = fail.PackBuffer(out[:cap(out)])
		resp = fail
	}
	h.metrics.observe(h.sm, h.Name, proto, resp.Rcode, start)
	if qi.explain {
		h.report(&qi, resp, client, proto, start, len(b))
	}
	return b, false
}
