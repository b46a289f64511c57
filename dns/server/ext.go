package server

import (
	"context"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Extension answers what the query path leaves out: dynamic updates
// (opcode UPDATE, RFC 2136), NOTIFY (RFC 1996), and zone transfers (AXFR
// over TCP, IXFR over either). dns/xfr implements it; a handler without
// one answers them NOTIMP or REFUSED as before.
type Extension interface {
	// ServeExt answers the message pkt. send writes one reply (wire
	// format); over TCP a transfer calls it once per message, and an
	// error from send means the client is gone.
	ServeExt(ctx context.Context, pkt []byte, client netip.Addr, tcp bool, send func([]byte) error)
	// SignReply packs the reply to a query signed with TSIG (nsupdate
	// asks for the zone's SOA so): signed with the query's key, or the
	// RFC 8945 error reply when the query's signature does not verify.
	SignReply(pkt []byte, resp *dns.Msg) ([]byte, error)
}

type extBox struct{ Extension }

// SetExtension installs the extension (nil removes it).
func (h *Handler) SetExtension(x Extension) {
	if x == nil {
		h.ext.Store(nil)
		return
	}
	h.ext.Store(&extBox{x})
}

// extension returns the extension that answers pkt, or nil when the query
// path does: it looks at the header's opcode and, for a query, the type
// of its one question.
func (h *Handler) extension(pkt []byte, proto Protocol) Extension {
	x := h.ext.Load()
	if x == nil || len(pkt) < headerLen {
		return nil
	}
	switch int(pkt[2]>>3) & 0xF {
	case dns.OpcodeUpdate, dns.OpcodeNotify:
		return x.Extension
	case dns.OpcodeQuery:
	default:
		return nil
	}
	if binary.BigEndian.Uint16(pkt[4:]) != 1 {
		return nil
	}
	off := skipName(pkt, headerLen)
	if off < 0 || off+4 > len(pkt) {
		return nil
	}
	switch binary.BigEndian.Uint16(pkt[off:]) {
	case dns.TypeIXFR:
		return x.Extension
	case dns.TypeAXFR:
		if proto == TCP {
			return x.Extension
		}
	}
	return nil
}

// signed reports whether the last record of pkt, a query, is a TSIG: a
// walk over the few records a query has, done only when it has
// additional records.
func signed(pkt []byte) bool {
	ar := int(binary.BigEndian.Uint16(pkt[10:]))
	if ar == 0 {
		return false
	}
	n := int(binary.BigEndian.Uint16(pkt[6:])) + int(binary.BigEndian.Uint16(pkt[8:])) + ar
	off := headerLen
	for range binary.BigEndian.Uint16(pkt[4:]) {
		if off = skipName(pkt, off); off < 0 || off+4 > len(pkt) {
			return false
		}
		off += 4
	}
	for i := range n {
		if off = skipName(pkt, off); off < 0 || off+10 > len(pkt) {
			return false
		}
		if i == n-1 {
			return binary.BigEndian.Uint16(pkt[off:]) == dns.TypeTSIG
		}
		off += 10 + int(binary.BigEndian.Uint16(pkt[off+8:]))
	}
	return false
}

// skipName returns the offset after the name at off (-1: malformed).
func skipName(pkt []byte, off int) int {
	for off < len(pkt) {
		switch l := int(pkt[off]); {
		case l == 0:
			return off + 1
		case l&0xC0 == 0xC0:
			return off + 2
		case l&0xC0 != 0:
			return -1
		default:
			off += l + 1
		}
	}
	return -1
}

// replySigner packs the reply to a query signed with TSIG (nil: a plain
// query, packed as it is).
type replySigner struct{ x Extension }

// signer returns the signer for pkt, or nil when pkt carries no TSIG or
// no extension is installed.
func (h *Handler) signer(pkt []byte) *replySigner {
	if x := h.ext.Load(); x != nil && len(pkt) >= headerLen && signed(pkt) {
		return &replySigner{x.Extension}
	}
	return nil
}

// room is what a UDP reply must leave free for its TSIG record.
func (s *replySigner) room() int {
	if s == nil {
		return 0
	}
	return 128
}

func (s *replySigner) pack(resp *dns.Msg, pkt, out []byte) ([]byte, error) {
	if s == nil {
		return resp.PackBuffer(out[:cap(out)])
	}
	b, err := s.x.SignReply(pkt, resp)
	if err != nil {
		return nil, err
	}
	return append(out[:0], b...), nil
}

// serveExt runs x for pkt with the same accounting as the query path: a
// panic is a SERVFAIL, and the first reply's rcode is counted.
func (h *Handler) serveExt(ctx context.Context, x Extension, pkt []byte, client netip.Addr, proto Protocol, send func([]byte) error) {
	start := time.Now()
	counted := false
	defer func() {
		if p := recover(); p != nil {
			h.metrics.panicked(h.Name)
			if h.OnPanic != nil {
				h.OnPanic(p, pkt)
			}
		}
	}()
	x.ServeExt(ctx, pkt, client, proto == TCP, func(b []byte) error {
		if !counted && len(b) >= headerLen {
			counted = true
			h.metrics.observe(h.sm, h.Name, proto, int(b[3]&0xF), start)
		}
		return send(b)
	})
}

// serveExtOne is serveExt for one reply, packed into out.
func (h *Handler) serveExtOne(ctx context.Context, x Extension, pkt []byte, client netip.Addr, proto Protocol, out []byte) (reply []byte) {
	h.serveExt(ctx, x, pkt, client, proto, func(b []byte) error {
		if reply == nil {
			reply = append(out[:0], b...)
		}
		return nil
	})
	return reply
}
