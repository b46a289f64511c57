package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
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
	if err != nil || len(raw) != clientCookieLen && (len(raw) < clientCookieLen+8 || len(raw) > clientCookieLen+32) {
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
	if !hmac.Equal(sc[8:], c.hash(cc, sc[:8], client)) {
		return cookieClientOnly, cc
	}
	return cookieValid, cc
}

// make returns the reply option: the client cookie and a new server cookie.
func (c *Cookies) make(cc []byte, client netip.Addr) *dns.EDNS0_COOKIE {
	sc := make([]byte, 8, serverCookieLen)
	sc[0] = 1 // version
	binary.BigEndian.PutUint32(sc[4:], uint32(c.now().Unix()))
	sc = append(sc, c.hash(cc, sc[:8], client)...)
	return &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hex.EncodeToString(append(append([]byte(nil), cc...), sc...))}
}

func (c *Cookies) hash(cc, head []byte, client netip.Addr) []byte {
	m := hmac.New(sha256.New, c.secret[:])
	m.Write(cc)
	m.Write(head)
	a := client.Unmap().As16()
	m.Write(a[:])
	return m.Sum(nil)[:8]
}
