package cache

import (
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The byte bound holds for what the cache really holds: 1,000,000
// distinct names (answers of one A record and of four, and negative
// answers with their SOA, in turn), each served once from its packed
// reply, through a cache of 32 MiB leave the heap within 10 % of 32 MiB,
// not a multiple of it.
func TestByteBoundMillionNames(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 1,000,000 inserts take too long; make test runs it")
	}
	const bound = 32 << 20
	before := int64(heapInUse())
	c, err := New(Config{MaxEntries: 10_000_000, MaxBytes: bound}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 300},
		Ns: "ns1.example.test.", Mbox: "hostmaster.example.test.", Serial: 1, Refresh: 2, Retry: 3, Expire: 4, Minttl: 300}
	var scratch []byte
	for i := 0; i < 1_000_000; i++ {
		name := "h" + strconv.Itoa(i) + ".example.test."
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		switch i % 3 {
		case 0:
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, byte(i))}}
		case 1:
			for j := 0; j < 4; j++ {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, byte(j))})
			}
		default:
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{soa}
		}
		k := Key{Name: name, Type: dns.TypeA, Class: dns.ClassINET}
		if _, err := c.Set(k, m); err != nil {
			t.Fatal(err)
		}
		// served once the packed way, as the resolver's hits are: the
		// packed replies count against the bound too
		if h, ok := c.Get(k); ok {
			scratch, _ = h.AppendWire(scratch[:0], time.Now(), false)
		}
	}
	used := int64(heapInUse()) - before
	t.Logf("heap %d bytes for a bound of %d (%.2f×), %d entries", used, bound, float64(used)/bound, c.Len())
	if used > bound*11/10 {
		t.Errorf("heap %d bytes, over the %d-byte bound by more than 10 %% (%.2f×)", used, bound, float64(used)/bound)
	}
	runtime.KeepAlive(c)
}
