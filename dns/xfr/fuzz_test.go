package xfr

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"netsim/dns/dnstest"
	"netsim/zones"
)

// memStore is a Store in memory, for tests.
type memStore struct {
	mu sync.Mutex
	z  *zones.Zone
	s  *Service
}

func (m *memStore) Zone(origin string) *zones.Zone {
	m.mu.Lock()
	defer m.mu.Unlock()
	if origin == m.z.Origin {
		return m.z
	}
	return nil
}

func (m *memStore) Change(origin string, build func(*zones.Zone) (*zones.Zone, error)) (*zones.Zone, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	nz, err := build(m.z)
	if err != nil {
		return nil, err
	}
	if err := m.s.Record(m.z, nz); err != nil {
		return nil, err
	}
	m.z = nz
	return nz, nil
}

const fuzzKey = "dGVzdC1rZXktZm9yLW5ldHNpbS14ZnItdGVzdHMtMzI="

func fuzzService(t testing.TB) (*Listener, *memStore) {
	z := dnstest.Zone(t, "example.test.", zoneText)
	z.File = "" // held in memory: the journal too
	st := &memStore{z: z}
	cfg := DefaultConfig()
	cfg.Serial = "increment"
	cfg.Zones = []ZoneConfig{{Name: "example.test.", AllowTransfer: []ACLRule{{From: "127.0.0.0/8"}},
		Update: []PolicyRule{{Key: "k", Names: []string{"example.test.", "*.example.test."}}}}}
	s, err := New(cfg, []KeyConfig{{Name: "k", Secret: fuzzKey}}, st, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	st.s = s
	return s.For([]string{"example.test."}), st
}

// FuzzServeExt: no message makes the extension panic, and every reply
// it sends unpacks.
func FuzzServeExt(f *testing.F) {
	seed := func(m *dns.Msg, sign bool) {
		if sign {
			m.SetTsig("k.", dns.HmacSHA256, 300, time.Now().Unix())
			b, _, err := dns.TsigGenerate(m, fuzzKey, "", false)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			return
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	u := new(dns.Msg)
	u.SetUpdate("example.test.")
	u.Insert([]dns.RR{dnstest.RR(f, "new.example.test. 60 IN A 192.0.2.1")})
	u.RemoveRRset([]dns.RR{dnstest.RR(f, "www.example.test. 0 IN A 192.0.2.1")})
	u.NameUsed([]dns.RR{dnstest.RR(f, "www.example.test. 0 IN A 192.0.2.1")})
	seed(u, true)
	seed(u.Copy(), false)
	a := new(dns.Msg)
	a.SetAxfr("example.test.")
	seed(a, false)
	i := new(dns.Msg)
	i.SetIxfr("example.test.", 99, "ns1.example.test.", "h.example.test.")
	seed(i, true)
	n := new(dns.Msg)
	n.SetNotify("example.test.")
	seed(n, false)
	l, _ := fuzzService(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if len(pkt) < 12 {
			return
		}
		for _, tcp := range []bool{false, true} {
			l.ServeExt(context.Background(), pkt, netip.MustParseAddr("127.0.0.1"), tcp, func(b []byte) error {
				if err := new(dns.Msg).Unpack(b); err != nil {
					t.Fatalf("a reply that does not unpack: %v", err)
				}
				return nil
			})
		}
	})
}
