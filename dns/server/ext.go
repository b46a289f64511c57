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
	off := headerLen
	for off < len(pkt) && pkt[off] != 0 { // the question's name: plain labels
		if pkt[off]&0xC0 != 0 {
			return nil
		}
		off += int(pkt[off]) + 1
	}
	if off+3 > len(pkt) {
		return nil
	}
	switch binary.BigEndian.Uint16(pkt[off+1:]) {
	case dns.TypeIXFR:
		return x.Extension
	case dns.TypeAXFR:
		if proto == TCP {
			return x.Extension
		}
	}
	return nil
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
