package wiretext

import (
	"math/rand/v2"

	"github.com/miekg/dns"
)

// Query is a query for name and qtype as r draws it, for tests that send
// two ways of answering the same queries: each letter's case (0x20), the
// ID, RD (one in two) and CD (one in four), and EDNS (three in four) with
// 512, 1,232 or 4,096 bytes and DO (one in two). A test adds what else it
// varies (options, AD) to the message.
func Query(r *rand.Rand, name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(MixedCase(r, name), qtype)
	m.Id = uint16(r.Uint32())
	m.RecursionDesired = r.IntN(2) == 0
	m.CheckingDisabled = r.IntN(4) == 0
	if r.IntN(4) > 0 {
		m.SetEdns0([]uint16{512, 1232, 4096}[r.IntN(3)], r.IntN(2) == 0)
	}
	return m
}

// MixedCase is name with each letter's case drawn by r.
func MixedCase(r *rand.Rand, name string) string {
	b := []byte(name)
	for i, c := range b {
		if c >= 'a' && c <= 'z' && r.IntN(2) == 0 {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
