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
	"netsim/dns/ecs"
)

// Recursor answers queries for names outside the listener's zones. The
// resolver package implements it.
type Recursor interface {
	Allowed(client netip.Addr) bool
	Answer(ctx context.Context, req *dns.Msg, client netip.Addr) *dns.Msg
	// AnswerCached answers without waiting on upstreams (a cache hit, a
	// query without RD, a refusal); ok is false when the query needs a
	// resolution.
	AnswerCached(req *dns.Msg, client netip.Addr) (resp *dns.Msg, ok bool)
}

// Geo answers names managed by GeoDNS before the zone data is consulted.
// It returns handled=false for names it does not manage.
// It fills resp (already a reply to req) and may add EDNS options (Client
// Subnet) to opt, the reply's OPT record, which is nil when the query had none.
type Geo interface {
	Manages(qname string) bool
	Answer(req, resp *dns.Msg, qname string, client netip.Addr, opt *dns.OPT) (handled bool)
}

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
	Name    string // listen address, used in metrics and logs
	zones   atomic.Pointer[auth.Set]
	rec     atomic.Pointer[recursorBox]
	geo     atomic.Pointer[geoBox]
	metrics *Metrics
	sm      *serverMetrics
	cookies *Cookies
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

// SetZones swaps in a new zone set.
func (h *Handler) SetZones(s *auth.Set) {
	if s == nil {
		s = auth.NewSet(nil)
	}
	h.zones.Store(s)
}

// Zones returns the current zone set.
func (h *Handler) Zones() *auth.Set { return h.zones.Load() }

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
	reply, _ := h.servePacket(ctx, pkt, client, proto, out, true)
	return reply
}

// TryServePacket is ServePacket that never waits on upstream servers:
// done is false when the query needs a resolution, and the caller then
// calls ServePacket from a goroutine of its own.
func (h *Handler) TryServePacket(pkt []byte, client netip.Addr, proto Protocol, out []byte) (reply []byte, done bool) {
	reply, pending := h.servePacket(context.Background(), pkt, client, proto, out, false)
	return reply, !pending
}

func (h *Handler) servePacket(ctx context.Context, pkt []byte, client netip.Addr, proto Protocol, out []byte, block bool) (reply []byte, pending bool) {
	start := time.Now()
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
	resp, size, pending := h.serve(ctx, pkt, client, proto, block)
	if pending {
		return nil, true
	}
	if resp == nil {
		h.metrics.dropped(h.Name)
		return nil, false
	}
	resp.Compress = true
	if proto == UDP {
		truncate(resp, size)
	}
	b, err := resp.PackBuffer(out[:cap(out)])
	if err != nil {
		// cannot happen for messages we built; answer SERVFAIL rather than nothing
		fail := new(dns.Msg)
		fail.Id, fail.Response, fail.Rcode = resp.Id, true, dns.RcodeServerFailure
		fail.Question = resp.Question
		b, _ = fail.PackBuffer(out[:cap(out)])
		resp = fail
	}
	h.metrics.observe(h.sm, h.Name, proto, resp.Rcode, start)
	return b, false
}

// serve decodes and answers; size is the UDP payload limit for the reply.
// With block false, a query that needs a resolution comes back pending.
func (h *Handler) serve(ctx context.Context, pkt []byte, client netip.Addr, proto Protocol, block bool) (resp *dns.Msg, size int, pending bool) {
	if len(pkt) < headerLen {
		return nil, 0, false
	}
	id := binary.BigEndian.Uint16(pkt)
	flags := binary.BigEndian.Uint16(pkt[2:])
	if flags&(1<<15) != 0 { // QR: a response, never answer it
		return nil, 0, false
	}
	opcode := int(flags>>11) & 0xF
	req := new(dns.Msg)
	if err := req.Unpack(pkt); err != nil {
		return errorReply(id, opcode, dns.RcodeFormatError), dns.MinMsgSize, false
	}
	if opcode != dns.OpcodeQuery {
		r := errorReply(id, opcode, dns.RcodeNotImplemented)
		if len(req.Question) == 1 {
			r.Question = req.Question
		}
		return r, dns.MinMsgSize, false
	}
	// an IXFR request carries the client's SOA in authority (RFC 1995 §3):
	// well-formed, refused below like every transfer
	ixfr := len(req.Question) == 1 && req.Question[0].Qtype == dns.TypeIXFR && len(req.Ns) == 1
	if len(req.Question) != 1 || len(req.Answer) > 0 || (len(req.Ns) > 0 && !ixfr) {
		return errorReply(id, opcode, dns.RcodeFormatError), dns.MinMsgSize, false
	}
	resp = new(dns.Msg)
	resp.SetReply(req) // copies RD and CD

	size = dns.MinMsgSize
	var ropt *dns.OPT
	opt := req.IsEdns0()
	if opt != nil {
		if len(req.Extra) > 1 && countOPT(req.Extra) > 1 || opt.Hdr.Name != "." {
			// two OPTs, or one not owned by the root (RFC 6891 §6.1.1-2)
			return formerrWithQuestion(resp), dns.MinMsgSize, false
		}
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		size = min(size, maxUDPSize)
		ropt = new(dns.OPT)
		ropt.Hdr.Name = "."
		ropt.Hdr.Rrtype = dns.TypeOPT
		ropt.SetUDPSize(advertisedUDPSize)
		ropt.SetDo(opt.Do()) // RFC 3225 §3: copy DO
		if opt.Version() != 0 {
			resp.Rcode = dns.RcodeBadVers // RFC 6891 §6.1.3
			resp.Extra = []dns.RR{ropt}
			return resp, size, false
		}
		for _, o := range opt.Option {
			switch o := o.(type) {
			case *dns.EDNS0_COOKIE:
				v, cc := h.cookies.check(o, client)
				if v == cookieMalformed {
					resp.Rcode = dns.RcodeFormatError
					resp.Extra = []dns.RR{ropt}
					return resp, size, false
				}
				ropt.Option = append(ropt.Option, h.cookies.make(cc, client))
			case *dns.EDNS0_SUBNET:
				if _, err := ecs.Parse(o); err != nil {
					resp.Rcode = dns.RcodeFormatError // RFC 7871 §7.1.2
					resp.Extra = []dns.RR{ropt}
					return resp, size, false
				}
			}
		}

		reply := resp // not the named result: a pending query returns nil
		defer func() { reply.Extra = append(reply.Extra, ropt) }()
	}
	answered := h.answer(ctx, req, resp, client, ropt, block)
	if answered == nil {
		return nil, 0, true
	}
	if answered == resp && ropt != nil {
		echoSubnet(req, ropt) // our own (authoritative) answer
	}
	if answered != resp { // the recursor built its own reply
		answered.Id = req.Id
		answered.Question = req.Question
		answered.Extra = removeOPT(answered.Extra)
		resp.MsgHdr = answered.MsgHdr
		resp.Answer, resp.Ns, resp.Extra = answered.Answer, answered.Ns, answered.Extra
	}
	return resp, size, false
}

// answer decides who answers: GeoDNS, our zones, the recursor, or nobody.
// With block false it returns nil instead of waiting on the recursor.
func (h *Handler) answer(ctx context.Context, req, resp *dns.Msg, client netip.Addr, ropt *dns.OPT, block bool) *dns.Msg {
	q := req.Question[0]
	rec := h.rec.Load()
	allowed := rec != nil && rec.Allowed(client)
	resp.RecursionAvailable = allowed
	switch q.Qclass {
	case dns.ClassINET, dns.ClassANY:
	case dns.ClassCHAOS:
		h.chaos(q, resp)
		return resp
	default:
		resp.Rcode = dns.RcodeRefused // we serve class IN only
		return resp
	}
	switch q.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR, dns.TypeMAILA, dns.TypeMAILB:
		resp.Rcode = dns.RcodeRefused // zone transfer is not offered
		return resp
	case dns.TypeOPT:
		resp.Rcode = dns.RcodeFormatError
		return resp
	}
	qname := strings.ToLower(q.Name)
	set := h.zones.Load()
	if z := set.Find(qname); z != nil {
		// a geo name answers only where its zone is authoritative for it,
		// not from a parent that holds a delegation above it
		if g := h.geo.Load(); g != nil && g.Manages(qname) && !z.Delegated(qname) {
			if g.Answer(req, resp, qname, client, ropt) {
				return resp
			}
		}
		set.Answer(resp, q, qname, z)
		if g := h.geo.Load(); g != nil {
			h.geoAfterCNAME(g.Geo, set, req, resp, client, ropt)
		}
		return resp
	}
	if !allowed {
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	if !block {
		r, ok := rec.AnswerCached(req, client)
		if !ok {
			return nil
		}
		r.RecursionAvailable = true
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	r := rec.Answer(ctx, req, client)
	if r == nil {
		resp.Rcode = dns.RcodeServerFailure
		return resp
	}
	r.RecursionAvailable = true
	return r
}

// geoAfterCNAME: when a CNAME chain chased inside our zones ends at a geo
// name (shop → www), the final addresses come from GeoDNS, as a query for
// that name would get, not from the zone's static records.
func (h *Handler) geoAfterCNAME(g Geo, set *auth.Set, req, resp *dns.Msg, client netip.Addr, ropt *dns.OPT) {
	q := req.Question[0]
	if q.Qtype != dns.TypeA && q.Qtype != dns.TypeAAAA {
		return
	}
	var target string
	last := -1
	for i, rr := range resp.Answer {
		if c, ok := rr.(*dns.CNAME); ok {
			target, last = c.Target, i
		}
	}
	if last < 0 {
		return
	}
	t := strings.ToLower(target)
	z := set.Find(t)
	if z == nil || !g.Manages(t) || z.Delegated(t) {
		return
	}
	sub := new(dns.Msg)
	sub.SetQuestion(target, q.Qtype)
	sub.Extra = req.Extra // the client's EDNS options, ECS included
	subResp := new(dns.Msg)
	subResp.SetReply(sub)
	if !g.Answer(sub, subResp, t, client, ropt) || subResp.Rcode != dns.RcodeSuccess {
		return
	}
	resp.Answer = append(resp.Answer[:last+1], subResp.Answer...)
	resp.Ns = nil
}

// truncate fits a UDP reply into size bytes the way RFC 2181 §9 asks:
// additional records are dropped first, from the end, without TC; if the
// answer and authority sections still do not fit, no partial RRset is
// sent — they are emptied and TC tells the client to ask again over TCP.
func truncate(m *dns.Msg, size int) {
	if m.Len() <= size {
		return
	}
	var opt dns.RR
	extra := m.Extra[:0:0]
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opt = rr
		} else {
			extra = append(extra, rr)
		}
	}
	withOPT := func(rrs []dns.RR) []dns.RR {
		if opt != nil {
			return append(rrs[:len(rrs):len(rrs)], opt)
		}
		return rrs
	}
	for len(extra) > 0 {
		extra = extra[:len(extra)-1]
		m.Extra = withOPT(extra)
		if m.Len() <= size {
			return
		}
	}
	m.Truncated = true
	m.Answer, m.Ns = nil, nil
	m.Extra = withOPT(nil)
}

// chaos answers the CH-class identity queries operators use to tell
// servers apart (RFC 4892): id.server and hostname.bind give this host and
// listener, version.server and version.bind the software. Anything else in
// class CH is REFUSED.
func (h *Handler) chaos(q dns.Question, resp *dns.Msg) {
	var txt string
	switch strings.ToLower(q.Name) {
	case "id.server.", "hostname.bind.":
		txt = h.Identity
	case "version.server.", "version.bind.":
		txt = "netsim dnsd"
	default:
		resp.Rcode = dns.RcodeRefused
		return
	}
	resp.Authoritative = true
	if q.Qtype != dns.TypeTXT && q.Qtype != dns.TypeANY {
		return // NODATA
	}
	resp.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS}, Txt: []string{txt}}}
}

// echoSubnet: a query that carried a Client Subnet option gets one back
// from an authoritative answer (RFC 7871 §7.2.1); when nothing tailored
// the answer (GeoDNS set no scope), the scope is 0: it holds for every
// client. (Recursive answers carry no option back: the resolver's cached
// scope is not passed through.)
func echoSubnet(req *dns.Msg, ropt *dns.OPT) {
	q := ecs.Find(req)
	if q == nil {
		return
	}
	for _, o := range ropt.Option {
		if _, ok := o.(*dns.EDNS0_SUBNET); ok {
			return
		}
	}
	ropt.Option = append(ropt.Option, ecs.Reply(q, 0))
}

func errorReply(id uint16, opcode, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.Id, m.Response, m.Opcode, m.Rcode = id, true, opcode, rcode
	return m
}

func formerrWithQuestion(resp *dns.Msg) *dns.Msg {
	resp.Rcode = dns.RcodeFormatError
	resp.Answer, resp.Ns, resp.Extra = nil, nil, nil
	return resp
}

func countOPT(rrs []dns.RR) int {
	n := 0
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			n++
		}
	}
	return n
}

func removeOPT(rrs []dns.RR) []dns.RR {
	out := rrs[:0:0]
	for _, rr := range rrs {
		if rr.Header().Rrtype != dns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}
