package dnsd

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"netsim/dns/auth"
	"netsim/dns/dnstest"
	"netsim/dns/ede"
	"netsim/internal/testutil"
	"netsim/zones"
)

// startSecondary runs dnsd on listen as a secondary of example.test.
// from primary (SOA queries and transfers signed with test-key), keeping
// the copy in file, taking NOTIFYs signed with notifyKey ("": unsigned
// too), and allowing transfers out from loopback. It returns
// the daemon and a stop function (also run at the test's end).
func startSecondary(t *testing.T, listen, primary, notifyKey, file string) (*Daemon, func()) {
	t.Helper()
	cfg := fmt.Sprintf(`admin:
  listen: 127.0.0.1:0
  token: secret
servers:
  - listen: %s
    zones: [example.test.]
    rrl: "off"
tsig_keys:
  - {name: %s, secret: %q}
secondary:
  timeout: 5s
  zones:
    - {name: example.test., primaries: [%q], key: %s, notify_key: %s, file: %q}
primary:
  zones:
    - {name: example.test., allow_transfer: [{from: 127.0.0.0/8}]}
`, listen, keyName, testKey, primary, keyName, notifyKey, file)
	c, err := Load(writeFile(t, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(c, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	return d, start(t, d)
}

// soaSerial asks addr for example.test.'s SOA: the serial, or the rcode
// and EDE of a failure.
func soaSerial(t *testing.T, addr string) (uint32, *dns.Msg) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("example.test.", dns.TypeSOA)
	m.SetEdns0(1232, false)
	r := dnstest.Exchange(t, addr, "udp", m)
	if r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
		if soa, ok := r.Answer[0].(*dns.SOA); ok {
			return soa.Serial, r
		}
	}
	return 0, r
}

// TestSecondaryFollowsPrimary: dnsd as a secondary of dnsd. The first
// copy comes by AXFR; each signed update on the primary reaches the
// secondary through NOTIFY and IXFR (the counts are exact); both AXFR the
// same records; a reload keeps the copy; the secondary refuses updates (RFC 2136 and the record API) and
// NOTIFYs from elsewhere; restarted with the primary gone, it serves its copy at
// once.
func TestSecondaryFollowsPrimary(t *testing.T) {
	secAddr := testutil.FreeAddr(t)
	p := startPrimary(t, filepath.Join(t.TempDir(), "zones"), "127.0.0.0/8", "increment", secAddr)
	file := filepath.Join(t.TempDir(), "copies", "example.test.zone") // the directory is made
	d, stop := startSecondary(t, secAddr, p.addr, `""`, file)
	serialIs := func(want uint32) func() bool {
		return func() bool { s, _ := soaSerial(t, secAddr); return s == want }
	}
	testutil.WaitFor(t, "the first copy", 10*time.Second, serialIs(p.serial()))
	const changes = 5
	for i := range changes {
		r := update(t, p.addr, "tcp", keyName, testKey, func(m *dns.Msg) {
			m.Insert([]dns.RR{dnstest.RR(t, fmt.Sprintf("n%d.example.test. 60 IN A 127.0.0.%d", i, i+1))})
		})
		if r.Rcode != dns.RcodeSuccess {
			t.Fatalf("update %d: %s", i, dns.RcodeToString[r.Rcode])
		}
		took := testutil.WaitFor(t, fmt.Sprintf("change %d on the secondary", i), 10*time.Second, serialIs(p.serial()))
		t.Logf("change %d followed in %v", i, took)
	}
	for result, want := range map[string]float64{"axfr": 1, "ixfr": changes} {
		if got := testutil.MetricValue(t, d.Registry(), "dnsd_xfr_secondary_refreshes_total", "result", result); got != want {
			t.Errorf("refreshes %s: %v, want %v", result, got, want)
		}
	}
	pr, _, err := transfer(t, p.addr, 0, "", "")
	if err != nil {
		t.Fatal(err)
	}
	sr, _, err := transfer(t, secAddr, 0, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := texts(pr), texts(sr); !slices.Equal(a, b) {
		t.Fatalf("AXFR differs:\nprimary   %q\nsecondary %q", a, b)
	}
	// the copy's own IXFR out carries the last change only
	ir, _, err := transfer(t, secAddr, p.serial()-1, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ir) != 5 {
		t.Errorf("IXFR from the secondary, one change back: %d records %q, want 5 (SOA, old SOA, new SOA, the record, SOA)", len(ir), texts(ir))
	}

	if r := update(t, secAddr, "tcp", keyName, testKey, func(m *dns.Msg) {
		m.Insert([]dns.RR{dnstest.RR(t, "x.example.test. 60 IN A 127.0.0.9")})
	}); r.Rcode != dns.RcodeRefused {
		t.Errorf("an update sent to the secondary: %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	if err := d.Reload(d.Config()); err != nil { // a SIGHUP keeps the copy
		t.Fatal(err)
	}
	if s, r := soaSerial(t, secAddr); s != p.serial() {
		t.Fatalf("after a reload: serial %d (%s), want %d", s, dns.RcodeToString[r.Rcode], p.serial())
	}
	url := "http://" + d.AdminAddr() + "/api/v1/zones/example.test./records"
	if st, body := testutil.Call(t, "POST", url, `{"name":"x","type":"A","data":"192.0.2.1"}`, "secret"); st != http.StatusConflict || !strings.Contains(body, "secondary_zone") {
		t.Errorf("a record API change to the secondary zone: %d %s, want 409 secondary_zone", st, body)
	}
	for _, c := range []struct {
		from, key string
		rcode     int
	}{
		{"127.0.0.1", "", dns.RcodeSuccess},             // the primary's address, unsigned (notify_key unset)
		{"127.0.0.1", keyName, dns.RcodeSuccess},        // signed, checked
		{"127.0.0.2", "", dns.RcodeRefused},             // not a primary's address
		{"127.0.0.1", "unknown-key.", dns.RcodeNotAuth}, // a key dnsd does not have: BADKEY
	} {
		m := new(dns.Msg)
		m.SetNotify("example.test.")
		cl := &dns.Client{Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(c.from)}}}
		if c.key != "" {
			m.SetTsig(c.key, dns.HmacSHA256, 300, time.Now().Unix())
			cl.TsigSecret = map[string]string{c.key: testKey}
		}
		r, _, err := cl.Exchange(m, secAddr)
		if r == nil {
			t.Fatal(err) // an error reply to a bad key is not signed: err is set then
		}
		if r.Rcode != c.rcode {
			t.Errorf("NOTIFY from %s signed with %q: %s, want %s", c.from, c.key, dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode])
		}
	}

	last := p.serial()
	p.stop()
	stop()
	startSecondary(t, secAddr, p.addr, `""`, file)
	if s, r := soaSerial(t, secAddr); s != last {
		t.Fatalf("restarted with the primary gone: serial %d (%s), want the copy's %d at once", s, dns.RcodeToString[r.Rcode], last)
	}
	if r := exchange(t, secAddr, fmt.Sprintf("n%d.example.test.", changes-1)); len(r.Answer) != 1 {
		t.Fatalf("restarted: the last change is not served: %v", r)
	}
}

// TestSecondaryDownServfail: a secondary zone with no copy yet, and one
// taken down (expired), answer SERVFAIL with Extended DNS Error 24 and
// the reason — also for a name whose answer was packed before.
func TestSecondaryDownServfail(t *testing.T) {
	nobody := testutil.FreeAddr(t) // no primary listens there
	addr := testutil.FreeAddr(t)
	d, _ := startSecondary(t, addr, nobody, `""`, filepath.Join(t.TempDir(), "example.test.zone"))
	check := func(when, text string) {
		t.Helper()
		_, r := soaSerial(t, addr)
		e := ede.Find(r)
		if r.Rcode != dns.RcodeServerFailure || e == nil || e.InfoCode != ede.InvalidData || !strings.Contains(e.ExtraText, text) {
			t.Fatalf("%s: %s with EDE %v, want SERVFAIL with EDE 24 saying %q", when, dns.RcodeToString[r.Rcode], e, text)
		}
	}
	check("no copy yet", "no copy yet")

	// a copy, served, then expired
	z := dnstest.Zone(t, "example.test.", "$TTL 60\n@ SOA ns hostmaster 5 100 10 300 60\n@ NS ns\nns A 192.0.2.1\n")
	if err := d.Install(z); err != nil {
		t.Fatal(err)
	}
	if s, r := soaSerial(t, addr); s != 5 {
		t.Fatalf("installed copy: %v", r)
	}
	d.Down("example.test.", "zone example.test. expired: test")
	check("expired", "expired")
	if r := exchange(t, addr, "ns.example.test."); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("expired, an A query: %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
}

// TestSecondaryConfigRefused: a secondary zone with an update policy is
// refused at load, and one also loaded from a zone file at start.
func TestSecondaryConfigRefused(t *testing.T) {
	base := fmt.Sprintf(`admin: {listen: "127.0.0.1:0", token: secret}
servers: [{listen: "127.0.0.1:0", zones: [example.test.]}]
tsig_keys: [{name: %s, secret: %q}]
secondary:
  zones: [{name: example.test., primaries: ["127.0.0.1:1"]}]
`, keyName, testKey)
	_, err := Load(writeFile(t, base+"primary:\n  zones: [{name: example.test., update: [{key: "+keyName+", names: [example.test.]}]}]\n"), nil)
	testutil.WantErr(t, "Load with an update policy for a secondary zone", err, "primary.zones[0].update")
	dir := t.TempDir()
	writeZone(t, dir, "")
	c, err := Load(writeFile(t, base+"zones: {dir: "+dir+"}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(c, zap.NewNop())
	testutil.WantErr(t, "New with a secondary zone also loaded from a file", err, "also loaded from")
}

// TestCNAMEIntoDownZone: a CNAME chased from a zone into a secondary zone
// out of service stops at the CNAME (the client asks on and gets SERVFAIL
// there), as a CNAME out of the server's zones does.
func TestCNAMEIntoDownZone(t *testing.T) {
	a := dnstest.Zone(t, "a.test.", "$TTL 60\n@ SOA ns hostmaster 1 2 3 4 60\n@ NS ns\nns A 192.0.2.1\nalias CNAME www.example.test.\n")
	set := auth.NewSet([]*zones.Zone{a, {Origin: "example.test.", Down: "zone example.test.: no copy yet"}})
	q := dns.Question{Name: "alias.a.test.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	resp := new(dns.Msg)
	resp.SetQuestion(q.Name, q.Qtype)
	set.Answer(resp, q, q.Name, a)
	if _, err := resp.Pack(); err != nil || len(resp.Answer) != 1 || len(resp.Ns) != 0 {
		t.Fatalf("answer %v (pack: %v), want the CNAME alone", resp, err)
	}
}
