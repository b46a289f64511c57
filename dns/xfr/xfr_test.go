package xfr

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"netsim/dns/dnstest"
	"netsim/internal/cfgerr"
	"netsim/internal/testutil"
	"netsim/zones"
)

const zoneText = `$ORIGIN example.test.
$TTL 300
@     SOA ns1 hostmaster 100 7200 3600 1209600 300
@     NS  ns1
@     NS  ns2
ns1   A   192.0.2.1
ns2   A   192.0.2.2
www   A   192.0.2.10
www   A   192.0.2.11
alias CNAME www
`

func testZone(t *testing.T) *zones.Zone { return dnstest.Zone(t, "example.test.", zoneText) }

func next(z *zones.Zone, sets map[zones.SetKey][]dns.RR, t *testing.T) *zones.Zone {
	t.Helper()
	nz, err := z.WithSets(sets, func(o uint32) uint32 { return o + 1 })
	if err != nil {
		t.Fatal(err)
	}
	return nz
}

// TestJournalOnDisk: entries survive a reopen; a torn last entry (a
// crash mid-write) is cut off; past the bound the oldest go and a client
// older than the first gets no diffs (AXFR).
func TestJournalOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "example.test.zone.jnl")
	j, err := OpenJournal(path, 4)
	if err != nil {
		t.Fatal(err)
	}
	z := testZone(t)
	var zs []*zones.Zone
	for i := range 10 {
		nz := next(z, map[zones.SetKey][]dns.RR{{Name: "www.example.test.", Type: dns.TypeTXT}: {dnstest.RR(t, "www.example.test. 60 IN TXT \"v"+string(rune('a'+i))+"\"")}}, t)
		if err := j.Append(EntryOf(z, nz)); err != nil {
			t.Fatal(err)
		}
		zs = append(zs, nz)
		z = nz
	}
	if n := j.Len(); n > 5 || n < 4 {
		t.Fatalf("%d entries kept with a bound of 4", n)
	}
	if _, ok := j.Since(100); ok {
		t.Error("the first change was dropped and is still offered")
	}
	es, ok := j.Since(zs[6].SOA.Serial)
	if !ok || len(es) != 3 || es[0].Old.Serial != 107 || len(es[0].Del) != 1 || len(es[0].Add) != 1 {
		t.Fatalf("since 107: %v %+v", ok, es)
	}
	j.Close()

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0, 0, 1, 0, 9, 9}) // half an entry
	f.Close()
	j, err = OpenJournal(path, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if last, _ := j.Last(); last != 110 {
		t.Fatalf("after reopen the journal ends at %d, want 110", last)
	}
	if err := j.Append(EntryOf(zs[9], next(zs[9], map[zones.SetKey][]dns.RR{{Name: "new.example.test.", Type: dns.TypeA}: {dnstest.RR(t, "new.example.test. 60 IN A 192.0.2.9")}}, t))); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j2, err := OpenJournal(path, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if last, _ := j2.Last(); last != 111 {
		t.Fatalf("an entry appended after a torn tail was cut is lost on reopen: ends at %d, want 111", last)
	}
}

// TestJournalCatch: a journal one change ahead of its zone file (a crash
// between the two writes) brings the zone up to date; a file further
// behind, or of another history, is not rolled forward.
func TestJournalCatch(t *testing.T) {
	j, _ := OpenJournal("", 10)
	z0 := testZone(t)
	z1 := next(z0, map[zones.SetKey][]dns.RR{{Name: "www.example.test.", Type: dns.TypeA}: {dnstest.RR(t, "www.example.test. 300 IN A 192.0.2.10")}}, t)
	z2 := next(z1, map[zones.SetKey][]dns.RR{{Name: "x.example.test.", Type: dns.TypeAAAA}: {dnstest.RR(t, "x.example.test. 60 IN AAAA 2001:db8::1")}}, t)
	for _, p := range [][2]*zones.Zone{{z0, z1}, {z1, z2}} {
		if err := j.Append(EntryOf(p[0], p[1])); err != nil {
			t.Fatal(err)
		}
	}
	got, ok, err := j.Catch(z1)
	if err != nil || !ok || got.SOA.Serial != 102 {
		t.Fatalf("catch from 101: %v %v %v", got.SOA.Serial, ok, err)
	}
	del, add := zones.Diff(z2, got)
	if len(del)+len(add) != 0 {
		t.Fatalf("replayed zone differs: -%v +%v", del, add)
	}
	// two changes behind: not a crash (each change is saved before the
	// next), a file put back by hand (netsim fix does): not replayed
	if _, ok, _ := j.Catch(z0); ok {
		t.Error("a file two changes behind the journal was rolled forward")
	}
	other := next(z0, nil, t)
	other = next(other, nil, t)
	other = next(other, nil, t) // serial 103: not in the journal
	if _, ok, _ := j.Catch(other); ok {
		t.Error("a journal of another history was applied")
	}
}

func TestUpdateSemantics(t *testing.T) {
	z := testZone(t)
	rr := func(s string) dns.RR { return dnstest.RR(t, s) }
	none := func(s string) dns.RR { r := rr(s); r.Header().Class = dns.ClassNONE; r.Header().Ttl = 0; return r }
	anyT := func(name string, ty uint16) dns.RR {
		return &dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: ty, Class: dns.ClassANY}}
	}
	cases := []struct {
		name  string
		pre   []dns.RR
		ups   []dns.RR
		rcode int  // of the refusal; 0: accepted
		nochg bool // accepted, nothing changed
		check func(*zones.Zone) string
	}{
		{name: "name in use: missing", pre: []dns.RR{anyT("nope.example.test.", dns.TypeANY)}, rcode: dns.RcodeNameError},
		{name: "name not in use: present", pre: []dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: "www.example.test.", Rrtype: dns.TypeANY, Class: dns.ClassNONE}}}, rcode: dns.RcodeYXDomain},
		{name: "set exists: no", pre: []dns.RR{anyT("www.example.test.", dns.TypeMX)}, rcode: dns.RcodeNXRrset},
		{name: "set absent: present", pre: []dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: "www.example.test.", Rrtype: dns.TypeA, Class: dns.ClassNONE}}}, rcode: dns.RcodeYXRrset},
		{name: "exact set differs", pre: []dns.RR{func() dns.RR { r := rr("www.example.test. 0 IN A 192.0.2.10"); return r }()}, rcode: dns.RcodeNXRrset},
		{name: "exact set matches", pre: []dns.RR{rr("www.example.test. 0 IN A 192.0.2.10"), rr("www.example.test. 0 IN A 192.0.2.11")},
			ups: []dns.RR{rr("new.example.test. 60 IN A 192.0.2.5")}, check: has("new.example.test.", dns.TypeA, 1)},
		{name: "CNAME next to data is ignored", ups: []dns.RR{rr("www.example.test. 60 IN CNAME ns1.example.test.")}, nochg: true},
		{name: "data next to a CNAME is ignored", ups: []dns.RR{rr("alias.example.test. 60 IN A 192.0.2.7")}, nochg: true},
		{name: "a duplicate is no change", ups: []dns.RR{rr("www.example.test. 300 IN A 192.0.2.10")}, nochg: true},
		{name: "a new TTL applies to the set", ups: []dns.RR{rr("www.example.test. 30 IN A 192.0.2.10")}, check: func(z *zones.Zone) string {
			for _, r := range z.RRset("www.example.test.", dns.TypeA) {
				if r.Header().Ttl != 30 {
					return "TTL not 30: " + r.String()
				}
			}
			return ""
		}},
		{name: "delete everything at the apex keeps SOA and NS", ups: []dns.RR{anyT("example.test.", dns.TypeANY)}, nochg: true},
		{name: "the last NS stays", ups: []dns.RR{none("example.test. 0 IN NS ns1.example.test."), none("example.test. 0 IN NS ns2.example.test.")},
			check: has("example.test.", dns.TypeNS, 1)},
		{name: "delete one record", ups: []dns.RR{none("www.example.test. 0 IN A 192.0.2.10")}, check: has("www.example.test.", dns.TypeA, 1)},
		{name: "delete a set", ups: []dns.RR{anyT("www.example.test.", dns.TypeA)}, check: has("www.example.test.", dns.TypeA, 0)},
		{name: "add then delete in one update", ups: []dns.RR{rr("t.example.test. 60 IN TXT \"x\""), anyT("t.example.test.", dns.TypeTXT)}, nochg: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := checkPrereqs(z, c.pre)
			var sets map[zones.SetKey][]dns.RR
			if err == nil && c.ups != nil {
				sets, err = applyUpdate(z, c.ups)
			}
			var re *rcodeError
			switch {
			case c.rcode != 0:
				if !errors.As(err, &re) || re.rcode != c.rcode {
					t.Fatalf("got %v, want rcode %s", err, dns.RcodeToString[c.rcode])
				}
			case c.nochg:
				if !errors.Is(err, errNoChange) {
					t.Fatalf("got %v (sets %v), want no change", err, sets)
				}
			case err != nil:
				t.Fatal(err)
			case c.check != nil:
				nz, err := z.WithSets(sets, func(o uint32) uint32 { return o + 1 })
				if err != nil {
					t.Fatal(err)
				}
				if msg := c.check(nz); msg != "" {
					t.Fatal(msg)
				}
			}
		})
	}
}

func has(name string, ty uint16, n int) func(*zones.Zone) string {
	return func(z *zones.Zone) string {
		if got := len(z.RRset(name, ty)); got != n {
			return name + " " + dns.TypeToString[ty] + ": wrong count"
		}
		return ""
	}
}

func TestPermits(t *testing.T) {
	kr, err := NewKeyring([]KeyConfig{{Name: "k", Secret: "dGVzdC1rZXktZm9yLW5ldHNpbS14ZnItdGVzdHMtMzI="}}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	p, err := parsePolicy("update", "example.test.", []PolicyRule{{Key: "k", Names: []string{"*.dyn.example.test.", "www.example.test."}, Types: []string{"A"}}}, kr)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key, name string
		ty        uint16
		want      bool
	}{
		{"k.", "a.dyn.example.test.", dns.TypeA, true},
		{"k.", "a.b.dyn.example.test.", dns.TypeA, true},
		{"k.", "dyn.example.test.", dns.TypeA, false},
		{"k.", "www.example.test.", dns.TypeA, true},
		{"k.", "www.example.test.", dns.TypeTXT, false},
		{"other.", "www.example.test.", dns.TypeA, false},
		{"", "www.example.test.", dns.TypeA, false},
	} {
		if got := permits(p, c.key, c.name, c.ty); got != c.want {
			t.Errorf("key %q %s %s: %v, want %v", c.key, c.name, dns.TypeToString[c.ty], got, c.want)
		}
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	keys := []KeyConfig{{Name: "k", Secret: "dGVzdC1rZXktZm9yLW5ldHNpbS14ZnItdGVzdHMtMzI="}}
	for _, c := range []struct {
		cfg  func(*Config)
		keys []KeyConfig
		key  string
	}{
		{func(c *Config) { c.Serial = "weekly" }, keys, "primary.serial"},
		{func(c *Config) { c.JournalMax = 0 }, keys, "primary.journal_max"},
		{func(c *Config) {
			c.Zones = []ZoneConfig{{Name: "example.test.", AllowTransfer: []ACLRule{{From: "10.0.0.0/33"}}}}
		}, keys, "primary.zones[0].allow_transfer[0].from"},
		{func(c *Config) {
			c.Zones = []ZoneConfig{{Name: "example.test.", AllowTransfer: []ACLRule{{Key: "nokey"}}}}
		}, keys, "primary.zones[0].allow_transfer[0].key"},
		{func(c *Config) { c.Zones = []ZoneConfig{{Name: "example.test.", Notify: []string{"127.0.0.1"}}} }, keys, "primary.zones[0].notify[0]"},
		{func(c *Config) {
			c.Zones = []ZoneConfig{{Name: "example.test.", Update: []PolicyRule{{Key: "k", Names: []string{"other.test."}}}}}
		}, keys, "primary.zones[0].update[0].names[0]"},
		{func(*Config) {}, []KeyConfig{{Name: "k", Secret: "c2hvcnQ="}}, "tsig_keys[0].secret"},
		{func(*Config) {}, []KeyConfig{{Name: "k", Algorithm: "hmac-md5", Secret: keys[0].Secret}}, "tsig_keys[0].algorithm"},
	} {
		cfg := DefaultConfig()
		c.cfg(&cfg)
		err := Check(cfg, c.keys)
		found := false
		for _, e := range cfgerr.All(err) {
			found = found || e.Key == c.key
		}
		if !found {
			t.Errorf("want an error for %s, got %v", c.key, err)
		}
	}
}

// TestNotifyRetries: a secondary that does not answer is asked again
// until it does; a newer change takes over from an older one still
// being retried; Close stops every sender.
func TestNotifyRetries(t *testing.T) {
	var mu sync.Mutex
	tries := map[uint32]int{}
	block := make(chan struct{})
	exchange := func(ctx context.Context, m *dns.Msg, addr, key, secret string, timeout time.Duration) (*dns.Msg, error) {
		serial := m.Answer[0].(*dns.SOA).Serial
		mu.Lock()
		tries[serial]++
		n := tries[serial]
		mu.Unlock()
		switch {
		case serial == 1: // never answered until cancelled
			select {
			case <-ctx.Done():
			case <-block:
			}
			return nil, ctx.Err()
		case n < 3:
			return nil, errors.New("timeout")
		}
		r := new(dns.Msg)
		r.SetReply(m)
		return r, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	kr, _ := NewKeyring(nil, time.Now)
	n := &notifier{log: zap.NewNop(), keys: kr, exchange: exchange, retries: 5, timeout: time.Millisecond,
		metrics: newMetrics(nil), ctx: ctx, cancel: cancel, running: map[[2]string]*sender{}}
	soa := func(s uint32) *dns.SOA {
		return &dns.SOA{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET}, Serial: s}
	}
	n.notify("example.test.", soa(1), []string{"192.0.2.53:53"}, "")
	testutil.WaitFor(t, "the first NOTIFY sent", 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return tries[1] == 1 })
	n.notify("example.test.", soa(2), []string{"192.0.2.53:53"}, "")
	testutil.WaitFor(t, "the second change acknowledged", 10*time.Second, func() bool {
		return testutil.Value(t, n.metrics.notify.WithLabelValues("ok")) == 1
	})
	n.close()
	mu.Lock()
	defer mu.Unlock()
	if tries[2] != 3 {
		t.Errorf("serial 2 sent %d times, want 3 (two unanswered, then acknowledged)", tries[2])
	}
	if tries[1] != 1 {
		t.Errorf("serial 1 sent %d times after a newer change took over, want 1", tries[1])
	}
}

// TestJournalInMemoryGap: a zone held in memory whose journal falls out of
// step (the zone was replaced by other means) starts a new history, with
// no file to write (it tried to rename "./.tmp" and answered 500).
func TestJournalInMemoryGap(t *testing.T) {
	j, _ := OpenJournal("", 10)
	z0 := testZone(t)
	z1 := next(z0, nil, t)
	z2 := next(z1, nil, t)
	if err := j.Append(EntryOf(z0, z1)); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(EntryOf(z1, z2)); err != nil {
		t.Fatal(err)
	}
	// The zone was put back to z0 by other means, and changed again: this
	// change does not follow the last one.
	if err := j.Append(EntryOf(z0, z1)); err != nil {
		t.Fatalf("a gap in an in-memory journal: %v", err)
	}
}
