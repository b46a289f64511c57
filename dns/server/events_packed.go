package server

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/events"
)

// PackedQueryEvent is the "dns.query" event of a query answered from a
// packed wire form (fast.go). The query path only copies the reply: the
// name, type, rcode and answers are read from those bytes by the stream
// of each subscriber that takes the event (AppendFields), so a reading
// subscriber keeps queries on the packed path. Its JSON is a QueryEvent's.
type PackedQueryEvent struct {
	server   string
	client   netip.Addr
	proto    Protocol
	source   source // srcAuth or srcResolver (a cache hit)
	duration time.Duration
	// wire is the reply as sent but for the question name, in lower case
	// as the answer was packed, so that names compressed against it read
	// as the full way's records have them
	wire []byte
	// asked is the question name as the client cased it (wire form),
	// nil when that is all lower case
	asked []byte
}

// EventType names the event.
func (*PackedQueryEvent) EventType() string { return "dns.query" }

// newPackedQueryEvent copies reply, a packed-path answer to client.
func (h *Handler) newPackedQueryEvent(reply []byte, client netip.Addr, proto Protocol, src source, start time.Time) *PackedQueryEvent {
	e := &PackedQueryEvent{server: h.Name, client: client, proto: proto, source: src, duration: time.Since(start)}
	e.wire = append(make([]byte, 0, len(reply)), reply...)
	w, cased := e.wire, false
	off := headerLen
	for ; off < len(w) && w[off] != 0 && w[off]&0xC0 == 0; off += 1 + int(w[off]) {
		for i := off + 1; i <= off+int(w[off]) && i < len(w); i++ {
			if c := w[i]; c >= 'A' && c <= 'Z' {
				w[i], cased = c+'a'-'A', true
			}
		}
	}
	if cased && off < len(w) {
		e.asked = append([]byte(nil), reply[headerLen:off+1]...)
	}
	return e
}

// Query decodes the event into the QueryEvent the full way would have
// published for the same reply.
func (p *PackedQueryEvent) Query() *QueryEvent {
	e := new(QueryEvent)
	off, n := p.head(e)
	for ; n > 0 && off < len(p.wire); n-- {
		rr, next, err := dns.UnpackRR(p.wire, off)
		if err != nil {
			break
		}
		e.answers, off = append(e.answers, rr), next
	}
	return e
}

// head fills e but for the answers, and returns where the answer section
// starts and how many of its records the event shows (at most 8).
func (p *PackedQueryEvent) head(e *QueryEvent) (off, answers int) {
	*e = QueryEvent{
		Server: p.server, Client: p.client, Proto: p.proto.String(), Source: sourceNames[p.source],
		Size: len(p.wire), Duration: p.duration,
	}
	if p.source == srcResolver {
		e.Cache = "hit" // the packed path answers fresh cache hits only
	}
	w := p.wire
	if len(w) < headerLen {
		return len(w), 0
	}
	rcode := int(w[3] & 0xF) // no extended RCODE on the packed path
	e.RCode = rcodeName(rcode)
	if p.source == srcAuth && rcode == dns.RcodeRefused {
		e.Source = "refused"
	}
	name, off, err := dns.UnpackDomainName(w, headerLen)
	if err != nil || off+4 > len(w) {
		return len(w), 0
	}
	if p.asked != nil {
		if asked, _, err := dns.UnpackDomainName(p.asked, 0); err == nil {
			name = asked
		}
	}
	e.Name, e.QType = name, qtypeName(binary.BigEndian.Uint16(w[off:]))
	return off + 4, min(int(binary.BigEndian.Uint16(w[6:])), 8)
}

// AppendFields encodes the event's fields as QueryEvent does
// (events.FieldAppender), reading the answers' data from the wire.
func (p *PackedQueryEvent) AppendFields(dst []byte) []byte {
	var e QueryEvent
	off, n := p.head(&e)
	dst = e.appendHead(dst)
	if n > 0 {
		mark, read := len(dst), 0
		dst = append(events.AppendKey(dst, "answers"), '[')
		for ; read < n && off < len(p.wire); read++ {
			if read > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, off, ok = appendWireAnswer(dst, p.wire, off); !ok {
				dst = dst[:len(dst)-min(1, read)] // no comma after the last one read
				break
			}
		}
		if read == 0 {
			dst = dst[:mark] // none read: no key, as QueryEvent has none
		} else {
			dst = append(dst, ']')
		}
	}
	return e.appendTail(dst)
}

// appendWireAnswer appends the data of the record at off in msg as a
// JSON string, as appendAnswer does for the unpacked record, and returns
// the offset of the next record; ok is false when msg holds no record there.
func appendWireAnswer(dst, msg []byte, off int) (_ []byte, next int, ok bool) {
	at := off
	if off = skipName(msg, off); off < 0 || off+10 > len(msg) {
		return dst, 0, false
	}
	typ := binary.BigEndian.Uint16(msg[off:])
	rd := off + 10
	next = rd + int(binary.BigEndian.Uint16(msg[off+8:]))
	if next > len(msg) {
		return dst, 0, false
	}
	n := len(dst)
	dst = append(dst, '"')
	switch {
	case typ == dns.TypeA && next-rd == 4:
		dst, ok = netip.AddrFrom4([4]byte(msg[rd:next])).AppendTo(dst), true
	case typ == dns.TypeAAAA && next-rd == 16:
		dst, ok = netip.AddrFrom16([16]byte(msg[rd:next])).AppendTo(dst), true
	case typ == dns.TypeCNAME:
		dst, ok = appendPlainName(dst, msg, rd)
	case typ == dns.TypeMX && next-rd > 2:
		dst = append(strconv.AppendUint(dst, uint64(binary.BigEndian.Uint16(msg[rd:])), 10), ' ')
		dst, ok = appendPlainName(dst, msg, rd+2)
	}
	if !ok { // anything else as dig shows it: miekg/dns unpacks and prints it
		rr, end, err := dns.UnpackRR(msg, at)
		if err != nil {
			return dst[:n], 0, false
		}
		return appendAnswer(dst[:n], rr), end, true
	}
	return append(dst, '"'), next, true
}

// appendPlainName appends the name at off in msg (compression followed)
// in text form; ok is false when the name is malformed or has a byte the
// text form escapes (miekg/dns then prints it) or JSON does.
func appendPlainName(dst, msg []byte, off int) (_ []byte, ok bool) {
	start := len(dst)
	for hops := 0; off < len(msg) && hops < 32; {
		l := int(msg[off])
		switch {
		case l == 0:
			if len(dst) == start {
				dst = append(dst, '.')
			}
			return dst, true
		case l&0xC0 == 0xC0:
			if off+1 >= len(msg) {
				return dst, false
			}
			off = int(binary.BigEndian.Uint16(msg[off:]) & 0x3FFF)
			hops++
			continue
		case l&0xC0 != 0 || off+1+l > len(msg):
			return dst, false
		}
		for _, c := range msg[off+1 : off+1+l] {
			if c <= ' ' || c >= 0x7F || strings.IndexByte(`.'@;()"\<>&`, c) >= 0 {
				return dst, false
			}
		}
		dst = append(append(dst, msg[off+1:off+1+l]...), '.')
		off += 1 + l
	}
	return dst, false
}

// MarshalJSON encodes the event's fields as an object.
func (p *PackedQueryEvent) MarshalJSON() ([]byte, error) { return events.Object(p), nil }

// reportPacked publishes the dns.query event of a packed-path reply.
func (h *Handler) reportPacked(reply []byte, client netip.Addr, proto Protocol, src source, start time.Time) {
	if h.events.Wants("dns.query") {
		h.events.Publish(h.newPackedQueryEvent(reply, client, proto, src, start))
	}
}
