package xfr

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"netsim/dns/dnstest"
	"netsim/internal/cfgerr"
	"netsim/internal/testutil"
	"netsim/zones"
)

// The timer tests run the followers in a synctest bubble against an
// upstream and a target in memory: time moves only when every goroutine
// waits, so each refresh, retry and expiry lands at its exact second.

// fakePrimary is an upstream whose zone and reachability the test sets.
type fakePrimary struct {
	mu        sync.Mutex
	up        bool
	zone      *zones.Zone
	soaAsked  int
	transfers int
}

func (p *fakePrimary) set(up bool, z *zones.Zone) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if z != nil {
		p.zone = z
	}
}

func (p *fakePrimary) counts() (soa, transfers int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.soaAsked, p.transfers
}

func (p *fakePrimary) serial(_ context.Context, primary string, f *follow) (uint32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.soaAsked++
	if !p.up {
		return 0, errors.New("no answer from " + primary)
	}
	return p.zone.SOA.Serial, nil
}

func (p *fakePrimary) transfer(_ context.Context, primary string, f *follow, have *zones.Zone) (*zones.Zone, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.transfers++
	if !p.up {
		return nil, "", errors.New("no answer from " + primary)
	}
	if have != nil && have.SOA.Serial == p.zone.SOA.Serial {
		return have, "uptodate", nil
	}
	return p.zone, "axfr", nil
}

// fakeTarget records what the secondary installs and takes down.
type fakeTarget struct {
	mu       sync.Mutex
	installs []uint32
	downs    []string
}

func (t *fakeTarget) Install(nz *zones.Zone) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.installs = append(t.installs, nz.SOA.Serial)
	return nil
}

func (t *fakeTarget) Down(origin, why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.downs = append(t.downs, why)
}

func (t *fakeTarget) state() ([]uint32, []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]uint32(nil), t.installs...), append([]string(nil), t.downs...)
}

// timedZone is example.test. at serial with SOA refresh, retry and
// expire (seconds).
func timedZone(t *testing.T, serial, refresh, retry, expire string) *zones.Zone {
	return dnstest.Zone(t, "example.test.", "$TTL 300\n@ SOA ns1 hostmaster "+serial+" "+refresh+" "+retry+" "+expire+" 300\n@ NS ns1\nns1 A 192.0.2.1\n")
}

// newTestSecondary follows example.test. from 127.0.0.9:53 (and
// keyed.test. signed with test-key) through p into target.
func newTestSecondary(t *testing.T, p *fakePrimary, target *fakeTarget, file string) *Secondary {
	t.Helper()
	keys := []KeyConfig{{Name: "test-key", Secret: "dGVzdC1rZXktZm9yLW5ldHNpbS14ZnItdGVzdHMtMzI="}}
	s, err := New(DefaultConfig(), keys, nil, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	cfg := SecondaryConfig{Zones: []SecondaryZone{
		{Name: "example.test", Primaries: []string{"127.0.0.9:53"}, File: file},
		{Name: "keyed.test.", Primaries: []string{"127.0.0.9:53"}, Key: "test-key", NotifyKey: "test-key"},
	}}
	sec, err := s.NewSecondary(cfg, target)
	if err != nil {
		t.Fatal(err)
	}
	sec.up = p
	delete(sec.zones, "keyed.test.") // followed for the NOTIFY checks only
	return sec
}

// TestSecondaryRefreshRetryExpire: the copy is checked every SOA
// refresh; while no primary answers, every retry; at expire after the
// last answer the zone goes down (SERVFAIL + EDE in dnsd), and it serves
// again as soon as a primary answers with the same serial.
func TestSecondaryRefreshRetryExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &fakePrimary{up: true, zone: timedZone(t, "1", "100", "10", "300")}
		target := &fakeTarget{}
		sec := newTestSecondary(t, p, target, "")
		sec.Start()
		defer sec.Close()
		step := func(d time.Duration) { time.Sleep(d); synctest.Wait() }
		check := func(when string, wantSOA, wantTransfers, wantInstalls, wantDowns int) {
			t.Helper()
			soa, tr := p.counts()
			ins, downs := target.state()
			if soa != wantSOA || tr != wantTransfers || len(ins) != wantInstalls || len(downs) != wantDowns {
				t.Fatalf("%s: %d SOA queries, %d transfers, installs %v, downs %q; want %d, %d, %d installs, %d downs",
					when, soa, tr, ins, downs, wantSOA, wantTransfers, wantInstalls, wantDowns)
			}
		}
		step(time.Second)
		check("at start", 0, 1, 1, 0) // no copy: transferred at once
		step(98 * time.Second)
		check("before refresh", 0, 1, 1, 0)
		step(2 * time.Second)
		check("at refresh (100s)", 1, 1, 1, 0) // same serial: no transfer
		p.set(false, nil)
		step(100 * time.Second)
		check("at the next refresh, primary gone (200s)", 2, 1, 1, 0)
		step(100 * time.Second) // retries at 210, 220 … 300
		check("retrying (301s)", 12, 1, 1, 0)
		step(98 * time.Second)
		check("just before expire (399s)", 21, 1, 1, 0)
		step(2 * time.Second) // expire: 300s after the last answer, at 100s
		check("at expire (400s)", 22, 1, 1, 1)
		if _, downs := target.state(); !strings.Contains(downs[0], "example.test. expired") {
			t.Errorf("why the zone is down: %q", downs[0])
		}
		p.set(true, nil)
		step(10 * time.Second)
		check("primary back (410s)", 23, 1, 2, 1) // served again, without a transfer
		step(100 * time.Second)
		check("refresh again (510s)", 24, 1, 2, 1)
	})
}

// TestSecondaryNotify: a NOTIFY from a primary refreshes at once (no
// time passes); one from another address, or unsigned for a zone with a
// key, is REFUSED and changes nothing; one for a zone not followed is
// not the secondary's (-1: NOTIMP).
func TestSecondaryNotify(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &fakePrimary{up: true, zone: timedZone(t, "1", "3600", "600", "86400")}
		target := &fakeTarget{}
		sec := newTestSecondary(t, p, target, "")
		sec.zones["keyed.test."] = &follower{f: &follow{origin: "keyed.test.", addrs: []netip.Addr{netip.MustParseAddr("127.0.0.9")}, notifyKey: "test-key."},
			kick: make(chan struct{}, 1)}
		sec.Start()
		defer sec.Close()
		synctest.Wait()
		p.set(true, timedZone(t, "2", "3600", "600", "86400"))
		primary, other := netip.MustParseAddr("127.0.0.9"), netip.MustParseAddr("127.0.0.10")
		for _, c := range []struct {
			name   string
			zone   string
			from   netip.Addr
			key    string
			rcode  int
			serial []uint32
		}{
			{"from another address", "example.test.", other, "", dns.RcodeRefused, []uint32{1}},
			{"keyed zone, unsigned", "keyed.test.", primary, "", dns.RcodeRefused, []uint32{1}},
			{"not followed", "other.test.", primary, "", -1, []uint32{1}},
			{"from the primary", "example.test.", primary, "", dns.RcodeSuccess, []uint32{1, 2}},
		} {
			if rc := sec.notified(c.zone, c.from, c.key, nil); rc != c.rcode {
				t.Errorf("%s: rcode %d, want %d", c.name, rc, c.rcode)
			}
			synctest.Wait()
			if ins, _ := target.state(); !slices.Equal(ins, c.serial) {
				t.Errorf("%s: installed serials %v, want %v", c.name, ins, c.serial)
			}
		}
	})
}

// TestSecondaryCopyOnDisk: a copy kept in the zone's file serves at once
// at the next start (Initial), fresh as of the file's time; one past its
// expire starts down; no file: down until the first transfer.
func TestSecondaryCopyOnDisk(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "example.test.zone")
	if err := timedZone(t, "7", "100", "10", "300").Save(file); err != nil {
		t.Fatal(err)
	}
	sec := newTestSecondary(t, &fakePrimary{}, &fakeTarget{}, file)
	serve, down := sec.Initial()
	if len(serve) != 1 || serve[0].SOA.Serial != 7 || len(down) != 0 {
		t.Fatalf("a fresh copy on disk: serve %d zones, down %v; want serial 7 served", len(serve), down)
	}
	old := time.Now().Add(-301 * time.Second)
	if err := os.Chtimes(file, old, old); err != nil {
		t.Fatal(err)
	}
	sec = newTestSecondary(t, &fakePrimary{}, &fakeTarget{}, file)
	if serve, down := sec.Initial(); len(serve) != 0 || !strings.Contains(down["example.test."], "expired") {
		t.Fatalf("a copy past expire: serve %d zones, down %v; want it down as expired", len(serve), down)
	}
	sec = newTestSecondary(t, &fakePrimary{}, &fakeTarget{}, filepath.Join(dir, "none.zone"))
	if serve, down := sec.Initial(); len(serve) != 0 || !strings.Contains(down["example.test."], "no copy yet") {
		t.Fatalf("no copy: serve %d zones, down %v; want it down, waiting", len(serve), down)
	}
}

// rrs parses records, one a line.
func rrs(t *testing.T, lines ...string) []dns.RR {
	out := make([]dns.RR, len(lines))
	for i, l := range lines {
		out[i] = dnstest.RR(t, l)
	}
	return out
}

// TestApplyIXFR: the three shapes of an IXFR answer.
func TestApplyIXFR(t *testing.T) {
	f := &follow{origin: "example.test."}
	have := timedZone(t, "1", "100", "10", "300")
	soa := func(s string) string {
		return "example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. " + s + " 100 10 300 300"
	}
	cases := []struct {
		name    string
		answer  []dns.RR
		how     string
		serial  uint32
		www     int
		wantErr bool
	}{
		{"up to date", rrs(t, soa("1")), "uptodate", 1, 0, false},
		{"two changes", rrs(t, soa("3"),
			soa("1"), soa("2"), "www.example.test. 60 IN A 192.0.2.10",
			soa("2"), "www.example.test. 60 IN A 192.0.2.10", soa("3"), "www.example.test. 60 IN A 192.0.2.11",
			soa("3")), "ixfr", 3, 1, false},
		{"the whole zone (journal short)", rrs(t, soa("5"), "example.test. 300 IN NS ns1.example.test.", "ns1.example.test. 300 IN A 192.0.2.1",
			"www.example.test. 60 IN A 192.0.2.12", soa("5")), "ixfr-axfr", 5, 1, false},
		{"a deletion of what is not there", rrs(t, soa("2"), soa("1"), "nope.example.test. 60 IN A 192.0.2.1", soa("2"), soa("2")), "", 0, 0, true},
		{"a change that skips a serial", rrs(t, soa("3"), soa("2"), soa("3"), soa("3")), "", 0, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nz, how, err := applyIXFR(f, have, c.answer)
			if c.wantErr {
				if err == nil {
					t.Fatalf("applied (%s, serial %d), want an error", how, nz.SOA.Serial)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if how != c.how || nz.SOA.Serial != c.serial || len(nz.RRset("www.example.test.", dns.TypeA)) != c.www {
				t.Fatalf("%s serial %d with %d www A; want %s %d with %d", how, nz.SOA.Serial, len(nz.RRset("www.example.test.", dns.TypeA)), c.how, c.serial, c.www)
			}
		})
	}
}

// TestTransferFallsBackToAXFR: against a primary on the network, an IXFR
// it refuses is followed by an AXFR, and one it answers with changes is
// applied as they come.
func TestTransferFallsBackToAXFR(t *testing.T) {
	have := timedZone(t, "1", "100", "10", "300")
	cur := timedZone(t, "2", "100", "10", "300")
	cur, err := cur.WithSets(map[zones.SetKey][]dns.RR{{Name: "new.example.test.", Type: dns.TypeA}: rrs(t, "new.example.test. 60 IN A 192.0.2.99")},
		func(o uint32) uint32 { return o })
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		refuse   bool
		how      string
		requests []uint16
	}{
		{"IXFR refused", true, "axfr", []uint16{dns.TypeIXFR, dns.TypeAXFR}},
		{"IXFR served", false, "ixfr", []uint16{dns.TypeIXFR}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			var asked []uint16
			addr := serveTransfers(t, func(w dns.ResponseWriter, req *dns.Msg) {
				q := req.Question[0].Qtype
				mu.Lock()
				asked = append(asked, q)
				mu.Unlock()
				r := new(dns.Msg)
				r.SetReply(req)
				switch {
				case q == dns.TypeIXFR && c.refuse:
					r.Rcode = dns.RcodeRefused
				case q == dns.TypeIXFR:
					r.Answer = append([]dns.RR{cur.SOA, have.SOA}, cur.SOA, cur.RRset("new.example.test.", dns.TypeA)[0], cur.SOA)
				default:
					r.Answer = []dns.RR{cur.SOA}
					for _, rr := range cur.Records() {
						if rr.Header().Rrtype != dns.TypeSOA {
							r.Answer = append(r.Answer, rr)
						}
					}
					r.Answer = append(r.Answer, cur.SOA)
				}
				_ = w.WriteMsg(r)
			})
			u := &netUpstream{keys: &Keyring{now: time.Now}, timeout: 5 * time.Second, log: zap.NewNop()}
			nz, how, err := u.transfer(context.Background(), addr, &follow{origin: "example.test."}, have)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if how != c.how || nz.SOA.Serial != 2 || len(nz.RRset("new.example.test.", dns.TypeA)) != 1 || !slices.Equal(asked, c.requests) {
				t.Fatalf("%s, serial %d, asked %v; want %s, serial 2 with new.example.test., asked %v", how, nz.SOA.Serial, asked, c.how, c.requests)
			}
		})
	}
}

// serveTransfers runs a TCP DNS server on 127.0.0.1:0 until the test ends.
func serveTransfers(t *testing.T, h dns.HandlerFunc) string {
	t.Helper()
	ln := testutil.Listen(t)
	started := make(chan struct{})
	srv := &dns.Server{Listener: ln, Handler: h, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// TestSecondaryConfigErrorsNameTheKey: each bad value is refused with
// its key.
func TestSecondaryConfigErrorsNameTheKey(t *testing.T) {
	keys := []KeyConfig{{Name: "k", Secret: "dGVzdC1rZXktZm9yLW5ldHNpbS14ZnItdGVzdHMtMzI="}}
	zone := func(z SecondaryZone) []SecondaryZone {
		if z.Name == "" {
			z.Name = "example.org."
		}
		if z.Primaries == nil {
			z.Primaries = []string{"127.0.61.1:5300"}
		}
		return []SecondaryZone{z}
	}
	for _, c := range []struct {
		cfg SecondaryConfig
		key string
	}{
		{SecondaryConfig{Timeout: -time.Second}, "secondary.timeout"},
		{SecondaryConfig{Zones: zone(SecondaryZone{Name: "bad..name"})}, "secondary.zones[0].name"},
		{SecondaryConfig{Zones: append(zone(SecondaryZone{}), zone(SecondaryZone{})...)}, "secondary.zones[1].name"},
		{SecondaryConfig{Zones: zone(SecondaryZone{Primaries: []string{}})}, "secondary.zones[0].primaries"},
		{SecondaryConfig{Zones: zone(SecondaryZone{Primaries: []string{"127.0.61.1"}})}, "secondary.zones[0].primaries[0]"},
		{SecondaryConfig{Zones: zone(SecondaryZone{Key: "nokey"})}, "secondary.zones[0].key"},
		{SecondaryConfig{Zones: zone(SecondaryZone{NotifyKey: "nokey"})}, "secondary.zones[0].notify_key"},
		{SecondaryConfig{Zones: append(zone(SecondaryZone{File: "a.zone"}), zone(SecondaryZone{Name: "example.net.", File: "a.zone"})...)}, "secondary.zones[1].file"},
	} {
		err := CheckSecondary(c.cfg, keys)
		found := false
		for _, e := range cfgerr.All(err) {
			found = found || e.Key == c.key
		}
		if !found {
			t.Errorf("want an error for %s, got %v", c.key, err)
		}
	}
	if err := CheckSecondary(SecondaryConfig{Zones: zone(SecondaryZone{Key: "k", NotifyKey: "k", File: "a.zone"})}, keys); err != nil {
		t.Errorf("a good section refused: %v", err)
	}
}
