package server

import (
	"encoding/binary"

	"github.com/miekg/dns"

	"netsim/dns/ecs"
)

// wireQuery is what the packed-answer path reads from a query without
// unpacking it: the header fields a reply copies, the question, and the
// EDNS record. parseQuery fills it only for the plain shape of query
// (one question, at most an OPT in the additional section, no option
// but one COOKIE and one well-formed Client Subnet); anything else goes
// the full way, where it is validated and answered as before.
type wireQuery struct {
	id       uint16
	flags    uint16 // as sent; RD and CD are copied to the reply
	qnameEnd int    // offset just past the question name
	qtype    uint16
	qclass   uint16
	edns     bool
	do       bool
	udpSize  uint16
	cookie   []byte // the COOKIE option's data, nil when none (a slice of the packet)
	subnet   []byte // the Client Subnet option's data, nil when none (a slice of the packet)
	// key is the lower-case question name in wire form followed by the
	// type, the class and the EDNS flags: the packed-answer cache's key.
	key  [maxNameWire + 5]byte
	keyN int
}

// maxNameWire is the longest name in wire form (RFC 1035 §2.3.4).
const maxNameWire = 255

// EDNS flags in the cache key.
const (
	keyEDNS = 1 << iota
	keyDO
)

// parseQuery reads pkt into q and reports whether the query has the plain
// shape the packed-answer path serves.
func parseQuery(pkt []byte, q *wireQuery) bool {
	if len(pkt) < headerLen+5 {
		return false
	}
	q.id = binary.BigEndian.Uint16(pkt)
	q.flags = binary.BigEndian.Uint16(pkt[2:])
	// QR clear, opcode QUERY; one question, no answer or authority, at most one additional
	if q.flags&0xF800 != 0 || binary.BigEndian.Uint16(pkt[4:]) != 1 || binary.BigEndian.Uint16(pkt[6:]) != 0 ||
		binary.BigEndian.Uint16(pkt[8:]) != 0 || binary.BigEndian.Uint16(pkt[10:]) > 1 {
		return false
	}
	off, n := headerLen, 0
	for {
		l := int(pkt[off])
		if l == 0 {
			q.key[n] = 0
			n++
			off++
			break
		}
		// a compression pointer or an extended label type in a question: the full way
		if l&0xC0 != 0 || off+1+l >= len(pkt) || n+1+l+1 > maxNameWire {
			return false
		}
		q.key[n] = byte(l)
		for i := 1; i <= l; i++ {
			c := pkt[off+i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			} else if c == '.' || c == '\\' || c < '!' || c > '~' {
				return false // names the zone's text form escapes: the full way
			}
			q.key[n+i] = c
		}
		n += 1 + l
		off += 1 + l
	}
	if off+4 > len(pkt) {
		return false
	}
	q.qnameEnd = off
	q.qtype = binary.BigEndian.Uint16(pkt[off:])
	q.qclass = binary.BigEndian.Uint16(pkt[off+2:])
	off += 4
	q.edns, q.do, q.udpSize, q.cookie, q.subnet = false, false, 0, nil, nil
	if binary.BigEndian.Uint16(pkt[10:]) == 1 && !parseOPT(pkt[off:], q) {
		return false
	} else if binary.BigEndian.Uint16(pkt[10:]) == 0 && off != len(pkt) {
		return false // trailing bytes
	}
	var ef byte
	if q.edns {
		ef |= keyEDNS
	}
	if q.do {
		ef |= keyDO
	}
	binary.BigEndian.PutUint16(q.key[n:], q.qtype)
	binary.BigEndian.PutUint16(q.key[n+2:], q.qclass)
	q.key[n+4] = ef
	q.keyN = n + 5
	return true
}

// parseOPT reads the additional record, which must be an OPT owned by the
// root, version 0, and end the packet.
func parseOPT(b []byte, q *wireQuery) bool {
	if len(b) < 11 || b[0] != 0 || binary.BigEndian.Uint16(b[1:]) != dns.TypeOPT {
		return false
	}
	q.udpSize = binary.BigEndian.Uint16(b[3:])
	if b[6] != 0 { // version (b[5] is the extended rcode, ignored in a query)
		return false
	}
	q.edns, q.do = true, b[7]&0x80 != 0
	rdlen := int(binary.BigEndian.Uint16(b[9:]))
	opts := b[11:]
	if len(opts) != rdlen {
		return false
	}
	for len(opts) > 0 {
		if len(opts) < 4 {
			return false
		}
		code := binary.BigEndian.Uint16(opts)
		l := int(binary.BigEndian.Uint16(opts[2:]))
		if 4+l > len(opts) {
			return false
		}
		data := opts[4 : 4+l : 4+l]
		switch {
		case code == dns.EDNS0COOKIE && q.cookie == nil:
			q.cookie = data
		case code == dns.EDNS0SUBNET && q.subnet == nil:
			// held to the octet count too (ParseWire): a looser option
			// goes the full way, which echoes it as miekg/dns reads it
			if _, err := ecs.ParseWire(data); err != nil {
				return false
			}
			q.subnet = data
		default:
			// other options may change the reply or fail to parse (FORMERR),
			// and two cookies or two subnets: the full way decides
			return false
		}
		opts = opts[4+l:]
	}
	return true
}
