package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Cookies makes and checks DNS server cookies (RFC 7873) in the layout of
// RFC 9018 §4: version 1, three reserved bytes, a 32-bit timestamp and an
// 8-byte hash of the client cookie, version, timestamp and client address.
// The hash is HMAC-SHA-256 truncated to 8 bytes with a per-process secret
// (RFC 9018 uses SipHash-2-4 so that anycast instances can share a secret;
// a single server only has to recognise its own cookies).
type Cookies struct {
	secret [32]byte
	now    func() time.Time
	macs   sync.Pool // of hash.Hash: HMAC-SHA-256 keyed with secret
}

// NewCookies returns a cookie maker with a random secret.
func NewCookies() *Cookies {
	c := &Cookies{now: time.Now}
	_, _ = rand.Read(c.secret[:])
	return c
}

const (
	clientCookieLen = 8
	serverCookieLen = 16
)

// cookieVerdict is what the server makes of a query's COOKIE option.
type cookieVerdict int

const (
	cookieMalformed  cookieVerdict = iota // wrong lengths: FORMERR (RFC 7873 §5.2.2)
	cookieClientOnly                      // only a client cookie, or a server cookie we did not make
	cookieValid                           // a server cookie of ours, fresh
)

// check looks at the option (hex-encoded by miekg/dns) and returns the
// verdict and the raw client cookie.
func (c *Cookies) check(o *dns.EDNS0_COOKIE, client netip.Addr) (cookieVerdict, []byte) {
	raw, err := hex.DecodeString(o.Cookie)
	if err != nil {
		return cookieMalformed, nil
	}
	return c.checkRaw(raw, client)
}

// checkRaw is check on the option's data as it is on the wire.
func (c *Cookies) checkRaw(raw []byte, client netip.Addr) (cookieVerdict, []byte) {
	if len(raw) != clientCookieLen && (len(raw) < clientCookieLen+8 || len(raw) > clientCookieLen+32) {
		return cookieMalformed, nil
	}
	cc := raw[:clientCookieLen]
	sc := raw[clientCookieLen:]
	if len(sc) != serverCookieLen || sc[0] != 1 {
		return cookieClientOnly, cc
	}
	ts := binary.BigEndian.Uint32(sc[4:8])
	now := uint32(c.now().Unix())
	// RFC 9018 §4.3: valid for an hour, and not from more than 5 minutes ahead
	if int32(now-ts) > 3600 || int32(ts-now) > 300 {
		return cookieClientOnly, cc
	}
	var sum [sha256.Size]byte
	if !hmac.Equal(sc[8:], c.hash(sum[:0], cc, sc[:8], client)) {
		return cookieClientOnly, cc
	}
	return cookieValid, cc
}

// make returns the reply option: the client cookie and a new server cookie.
func (c *Cookies) make(cc []byte, client netip.Addr) *dns.EDNS0_COOKIE {
	var b [clientCookieLen + serverCookieLen]byte
	return &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hex.EncodeToString(c.appendCookie(b[:0], cc, client))}
}

// appendCookie appends the reply option's data: the client cookie cc
// and a new server cookie.
func (c *Cookies) appendCookie(dst, cc []byte, client netip.Addr) []byte {
	dst = append(dst, cc...)
	n := len(dst)
	dst = append(dst, 1, 0, 0, 0, 0, 0, 0, 0) // version 1, reserved, timestamp
	binary.BigEndian.PutUint32(dst[n+4:], uint32(c.now().Unix()))
	var sum [sha256.Size]byte
	return append(dst, c.hash(sum[:0], cc, dst[n:n+8], client)...)
}

// hash appends to dst the 8 bytes of the server cookie's hash.
func (c *Cookies) hash(dst, cc, head []byte, client netip.Addr) []byte {
	m, _ := c.macs.Get().(*cookieMAC)
	if m == nil {
		m = &cookieMAC{h: hmac.New(sha256.New, c.secret[:])}
	}
	m.h.Reset()
	// one Write of a buffer that lives with the hash: nothing escapes per call
	m.in = append(append(append(m.in[:0], cc...), head...), make([]byte, 16)...)
	a := client.Unmap().As16()
	copy(m.in[len(m.in)-16:], a[:])
	m.h.Write(m.in)
	m.sum = m.h.Sum(m.sum[:0])
	dst = append(dst, m.sum[:8]...)
	c.macs.Put(m)
	return dst
}

// cookieMAC is a pooled HMAC with its buffers.
type cookieMAC struct {
	h   hash.Hash
	in  []byte
	sum []byte
}
