package dnsd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"netsim/dns/dnstest"
	"netsim/internal/testutil"
	"netsim/zones"
)

// testKey is a TSIG secret for tests (base64 of 32 bytes).
const (
	testKey   = "dGVzdC1rZXktZm9yLW5ldHNpbS14ZnItdGVzdHMtMzI="
	otherKey  = "b3RoZXIta2V5LWZvci1uZXRzaW0teGZyLXRlc3RzLTMy"
	keyName   = "test-key."
	limitedKN = "limited."
)

type primary struct {
	d    *Daemon
	addr string
	logs *observer.ObservedLogs
	stop func()
}

// startPrimary runs dnsd serving example.test. from dir (seeded with the
// demo zones when empty) with a primary section: transfers allowed from
// allowFrom, test-key may change the whole zone, limited only *.dyn.
func startPrimary(t *testing.T, dir, allowFrom, serial string, notify ...string) *primary {
	t.Helper()
	return startPrimaryWith(t, dir, allowFrom, serial, "", notify...)
}

// startPrimaryWith is startPrimary with extra config text (a dnssec section).
func startPrimaryWith(t *testing.T, dir, allowFrom, serial, extra string, notify ...string) *primary {
	t.Helper()
	if _, err := zones.Seed(dir); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`admin:
  listen: 127.0.0.1:0
  token: secret
zones:
  dir: %s
servers:
  - listen: 127.0.0.1:0
    zones: [example.test.]
tsig_keys:
  - {name: %s, secret: %q}
  - {name: %s, secret: %q}
primary:
  serial: %s
  journal_max: 50
  zones:
    - name: example.test.
      allow_transfer: [{from: %q}]
      notify: [%s]
      update:
        - {key: %s, names: [example.test., "*.example.test."]}
        - {key: %s, names: ["*.dyn.example.test."], types: [A, TXT]}
`, dir, keyName, testKey, limitedKN, otherKey, serial, allowFrom, strings.Join(notify, ", "), keyName, limitedKN) + extra
	c, err := Load(writeFile(t, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	d, err := New(c, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	p := &primary{d: d, logs: logs, stop: start(t, d)}
	p.addr = d.Listeners()["127.0.0.1:0"]
	return p
}

func (p *primary) serial() uint32 { return p.d.Zone("example.test.").SOA.Serial }

// update sends an RFC 2136 update signed with key/secret ("" : unsigned).
func update(t *testing.T, addr, proto, key, secret string, build func(m *dns.Msg)) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetUpdate("example.test.")
	build(m)
	c := &dns.Client{Net: proto, Timeout: 10 * time.Second}
	if key != "" {
		m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
		c.TsigSecret = map[string]string{key: secret}
	}
	r, _, err := c.Exchange(m, addr)
	if err != nil && (r == nil || !errors.Is(err, dns.ErrAuth) && !errors.Is(err, dns.ErrSig)) {
		t.Fatalf("update: %v", err) // an error reply to a bad TSIG is not signed (RFC 8945 §5.3.2)
	}
	if r == nil {
		t.Fatal("update: no reply")
	}
	return r
}

// transfer runs AXFR (or IXFR from serial) and returns the records and
// the envelopes' total wire size.
func transfer(t *testing.T, addr string, ixfrFrom uint32, key, secret string) ([]dns.RR, int, error) {
	t.Helper()
	m := new(dns.Msg)
	if ixfrFrom != 0 {
		m.SetIxfr("example.test.", ixfrFrom, "ns1.example.test.", "hostmaster.example.test.")
	} else {
		m.SetAxfr("example.test.")
	}
	tr := &dns.Transfer{}
	if key != "" {
		m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
		tr.TsigSecret = map[string]string{key: secret}
	}
	ch, err := tr.In(m, addr)
	if err != nil {
		return nil, 0, err
	}
	var out []dns.RR
	size := 0
	for env := range ch {
		if env.Error != nil {
			return out, size, env.Error
		}
		out = append(out, env.RR...)
		for _, r := range env.RR {
			size += dns.Len(r)
		}
	}
	return out, size, nil
}

func texts(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, r := range rrs {
		out[i] = r.String()
	}
	slices.Sort(out)
	return out
}

// TestUpdateThenTransfer: an nsupdate-style signed update is served at
// once with the serial bumped, written to the zone file and the journal;
// AXFR shows exactly the zone the store holds, and an IXFR from the
// previous serial carries only the change.
func TestUpdateThenTransfer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "zones")
	p := startPrimary(t, dir, "127.0.0.0/8", "increment")
	s0 := p.serial()
	r := update(t, p.addr, "udp", keyName, testKey, func(m *dns.Msg) {
		m.Insert([]dns.RR{dnstest.RR(t, "new.example.test. 60 IN A 127.0.0.99")})
	})
	if r.Rcode != dns.RcodeSuccess || r.IsTsig() == nil {
		t.Fatalf("update: rcode %s, signed %v; want NOERROR, signed", dns.RcodeToString[r.Rcode], r.IsTsig() != nil)
	}
	if got := p.serial(); got != s0+1 {
		t.Fatalf("serial %d after the update, want %d (increment)", got, s0+1)
	}
	if a := exchange(t, p.addr, "new.example.test."); len(a.Answer) != 1 {
		t.Fatalf("new.example.test. not served after the update: %v", a)
	}
	if f := checkFile(t, dir, s0+1); len(f.RRset("new.example.test.", dns.TypeA)) != 1 {
		t.Fatal("the zone file lacks the new record")
	}

	all, axfrSize, err := transfer(t, p.addr, 0, "", "")
	if err != nil {
		t.Fatal(err)
	}
	// the zone API lists what AXFR sends (AXFR has the SOA twice)
	var api struct {
		Data []struct{ Text string } `json:"data"`
	}
	resp, body := testutil.Fetch(t, "GET", "http://"+p.d.AdminAddr()+"/api/v1/zones/example.test./records?limit=100", "", "")
	if err := json.Unmarshal([]byte(body), &api); err != nil || resp.StatusCode != 200 {
		t.Fatalf("zone API: %d %s", resp.StatusCode, body)
	}
	var listed []string
	for _, r := range api.Data {
		listed = append(listed, r.Text)
	}
	listed = append(listed, p.d.Zone("example.test.").SOA.String())
	if got, w := texts(all), slices.Sorted(slices.Values(listed)); !slices.Equal(got, w) {
		t.Fatalf("AXFR differs from the zone API:\n got %q\nwant %q", got, w)
	}

	diff, ixfrSize, err := transfer(t, p.addr, s0, "", "")
	if err != nil {
		t.Fatal(err)
	}
	// current SOA, old SOA, (no deletions), new SOA, the addition, current SOA
	if len(diff) != 5 || diff[3].String() != dnstest.RR(t, "new.example.test. 60 IN A 127.0.0.99").String() {
		t.Fatalf("IXFR from %d: %d records, want 5 with the one addition:\n%v", s0, len(diff), diff)
	}
	t.Logf("one change: IXFR %d bytes of records, AXFR %d", ixfrSize, axfrSize)
	if ixfrSize >= axfrSize {
		t.Errorf("IXFR %d bytes, not less than AXFR %d", ixfrSize, axfrSize)
	}
	// up to date: the SOA alone
	if same, _, err := transfer(t, p.addr, s0+1, "", ""); err != nil || len(same) != 1 {
		t.Errorf("IXFR from the current serial: %v %v, want the SOA alone", same, err)
	}
	// the record API takes the same path: journal, serial method, IXFR
	if st, body := testutil.Call(t, "POST", "http://"+p.d.AdminAddr()+"/api/v1/zones/example.test./records", `{"name":"api","type":"TXT","ttl":60,"data":"\"rest\""}`, "secret"); st != 201 {
		t.Fatalf("POST: %d %s", st, body)
	}
	if got := p.serial(); got != s0+2 {
		t.Errorf("serial %d after the API change, want %d (increment, as configured)", got, s0+2)
	}
	diff, _, err = transfer(t, p.addr, s0+1, "", "")
	if err != nil || len(diff) != 5 || !strings.Contains(diff[3].String(), "rest") {
		t.Errorf("IXFR after an API change: %v %v, want that change alone", diff, err)
	}
}

// TestRefusals: a bad TSIG, an unknown key, an unsigned update, an update
// outside the key's policy, a transfer from a prefix not allowed: each is
// refused with the right rcode (and TSIG error), nothing changes, and a
// warning is logged.
func TestRefusals(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "zones")
	p := startPrimary(t, dir, "10.0.0.0/8", "increment")
	s0 := p.serial()
	add := func(name string) func(m *dns.Msg) {
		return func(m *dns.Msg) { m.Insert([]dns.RR{dnstest.RR(t, name+" 60 IN A 127.0.0.7")}) }
	}
	cases := []struct {
		name, key, secret string
		build             func(*dns.Msg)
		rcode             int
		tsigErr           uint16
		log               string
	}{
		{"bad signature", keyName, otherKey, add("x.example.test."), dns.RcodeNotAuth, dns.RcodeBadSig, "TSIG check failed"},
		{"unknown key", "nokey.", testKey, add("x.example.test."), dns.RcodeNotAuth, dns.RcodeBadKey, "TSIG check failed"},
		{"unsigned", "", "", add("x.example.test."), dns.RcodeRefused, 0, "update refused"},
		{"outside the names", limitedKN, otherKey, add("www2.example.test."), dns.RcodeRefused, 0, "update refused"},
		{"outside the types", limitedKN, otherKey, func(m *dns.Msg) {
			m.Insert([]dns.RR{dnstest.RR(t, "h.dyn.example.test. 60 IN MX 10 mx.example.test.")})
		}, dns.RcodeRefused, 0, "update refused"},
		{"SOA by a key of the whole zone", keyName, testKey, func(m *dns.Msg) {
			m.Insert([]dns.RR{dnstest.RR(t, "example.test. 60 IN SOA ns1.example.test. h.example.test. 4000000000 1 1 1 1")})
		}, dns.RcodeRefused, 0, "update refused"},
		{"outside the zone", keyName, testKey, add("x.other.test."), dns.RcodeNotZone, 0, "update refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := p.logs.FilterMessageSnippet(c.log).Len()
			r := update(t, p.addr, "udp", c.key, c.secret, c.build)
			if r.Rcode != c.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode])
			}
			if c.tsigErr != 0 {
				ts := r.IsTsig()
				if ts == nil || ts.Error != c.tsigErr {
					t.Errorf("TSIG of the reply %v, want error %s", ts, dns.RcodeToString[int(c.tsigErr)])
				} else if d := time.Since(time.Unix(int64(ts.TimeSigned), 0)); d < -time.Hour || d > time.Hour {
					// nsupdate checks the time first: a zero time reads "clocks are unsynchronized"
					t.Errorf("the unsigned error reply's time is %d, want the server's time", ts.TimeSigned)
				}
			}
			if got := p.serial(); got != s0 {
				t.Errorf("serial %d, want %d: something changed", got, s0)
			}
			if p.logs.FilterMessageSnippet(c.log).Len() != before+1 {
				t.Errorf("no %q logged", c.log)
			}
		})
	}
	t.Run("transfer from a prefix not allowed", func(t *testing.T) {
		_, _, err := transfer(t, p.addr, 0, "", "")
		if err == nil || !strings.Contains(err.Error(), "REFUSED") && !strings.Contains(err.Error(), "bad xfr rcode: 5") {
			t.Fatalf("AXFR from 127.0.0.1 with only 10.0.0.0/8 allowed: %v, want REFUSED", err)
		}
		if p.logs.FilterMessageSnippet("zone transfer refused").Len() == 0 {
			t.Error("no refusal logged")
		}
	})
	t.Run("NOTIFY to the primary", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetNotify("example.test.")
		if r := dnstest.Exchange(t, p.addr, "udp", m); r.Rcode != dns.RcodeNotImplemented {
			t.Errorf("NOTIFY: %s, want NOTIMP (dnsd is no secondary; e2e/run.sh checks it)", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("transfer with a bad signature", func(t *testing.T) {
		_, _, err := transfer(t, p.addr, 0, keyName, otherKey)
		if err == nil {
			t.Fatal("AXFR signed with the wrong secret succeeded")
		}
	})
	// The TSIG error of each bad signature, on a transfer (from a prefix
	// the rules do not allow, so a pass would be a REFUSED) and on an
	// update; a request signed an hour ago is BADTIME (fudge 300 s).
	for _, c := range []struct {
		name, key, secret string
		signed            time.Time
		tsigErr           uint16
	}{
		{"bad signature", keyName, otherKey, time.Now(), dns.RcodeBadSig},
		{"unknown key", "nokey.", testKey, time.Now(), dns.RcodeBadKey},
		{"signed an hour ago", keyName, testKey, time.Now().Add(-time.Hour), dns.RcodeBadTime},
	} {
		for _, op := range []string{"AXFR", "UPDATE"} {
			t.Run(op+" "+c.name, func(t *testing.T) {
				m := new(dns.Msg)
				if op == "AXFR" {
					m.SetAxfr("example.test.")
				} else {
					m.SetUpdate("example.test.")
					m.Insert([]dns.RR{dnstest.RR(t, "x.example.test. 60 IN A 127.0.0.7")})
				}
				m.SetTsig(c.key, dns.HmacSHA256, 300, c.signed.Unix())
				before := p.logs.FilterMessageSnippet("TSIG check failed").Len()
				cl := &dns.Client{Net: "tcp", Timeout: 10 * time.Second, TsigSecret: map[string]string{c.key: c.secret}}
				r, _, err := cl.Exchange(m, p.addr)
				if r == nil {
					t.Fatalf("%s: no reply: %v", op, err)
				}
				if ts := r.IsTsig(); r.Rcode != dns.RcodeNotAuth || ts == nil || ts.Error != c.tsigErr {
					t.Errorf("%s: rcode %s, TSIG %v; want NOTAUTH with TSIG error %s", op, dns.RcodeToString[r.Rcode], ts, dns.RcodeToString[int(c.tsigErr)])
				}
				if len(r.Answer) > 0 {
					t.Errorf("%s: %d records sent with a bad TSIG", op, len(r.Answer))
				}
				if got := p.serial(); got != s0 {
					t.Errorf("serial %d, want %d: something changed", got, s0)
				}
				if p.logs.FilterMessageSnippet("TSIG check failed").Len() != before+1 {
					t.Error("the TSIG failure was not logged")
				}
			})
		}
	}
}

// TestConcurrentUpdaters: two updaters, one over UDP and one over TCP,
// each adding its own names at the same time: every change is in the
// zone at the end, each with its own serial.
func TestConcurrentUpdaters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "zones")
	p := startPrimary(t, dir, "127.0.0.0/8", "increment")
	s0 := p.serial()
	const each = 25
	var wg sync.WaitGroup
	for _, proto := range []string{"udp", "tcp"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := update(t, p.addr, proto, keyName, testKey, func(m *dns.Msg) {
					m.Insert([]dns.RR{dnstest.RR(t, fmt.Sprintf("%s%d.example.test. 60 IN TXT \"%s\"", proto, i, proto))})
				})
				if r.Rcode != dns.RcodeSuccess {
					t.Errorf("%s update %d: %s", proto, i, dns.RcodeToString[r.Rcode])
				}
			}
		}()
	}
	wg.Wait()
	z := p.d.Zone("example.test.")
	for _, proto := range []string{"udp", "tcp"} {
		for i := range each {
			if z.RRset(fmt.Sprintf("%s%d.example.test.", proto, i), dns.TypeTXT) == nil {
				t.Errorf("%s%d lost", proto, i)
			}
		}
	}
	if z.SOA.Serial != s0+2*each {
		t.Errorf("serial %d, want %d: one bump per change", z.SOA.Serial, s0+2*each)
	}
	checkFile(t, dir, s0+2*each)
}

// TestRestartLosesNoAcknowledgedUpdate: dnsd is stopped while a stream of
// updates runs; started again on the same files, it serves every update
// that was acknowledged, and IXFR still reaches back across the restart.
func TestRestartLosesNoAcknowledgedUpdate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "zones")
	p := startPrimary(t, dir, "127.0.0.0/8", "increment")
	s0 := p.serial()
	var mu sync.Mutex
	var acked []string
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		for i := 0; ; i++ {
			name := fmt.Sprintf("s%d.example.test.", i)
			m := new(dns.Msg)
			m.SetUpdate("example.test.")
			m.Insert([]dns.RR{dnstest.RR(t, name+" 60 IN A 127.0.0.1")})
			m.SetTsig(keyName, dns.HmacSHA256, 300, time.Now().Unix())
			c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second, TsigSecret: map[string]string{keyName: testKey}}
			r, _, err := c.Exchange(m, p.addr)
			if err != nil {
				return // the server went away
			}
			if r.Rcode == dns.RcodeSuccess {
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
			}
		}
	}()
	testutil.WaitFor(t, "10 acknowledged updates", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 10
	})
	p.stop() // mid-stream
	<-streamDone
	mu.Lock()
	got := slices.Clone(acked)
	mu.Unlock()

	p2 := startPrimary(t, dir, "127.0.0.0/8", "increment")
	z := p2.d.Zone("example.test.")
	for _, name := range got {
		if z.RRset(name, dns.TypeA) == nil {
			t.Errorf("%s was acknowledged before the restart and is gone after it", name)
		}
	}
	if z.SOA.Serial < s0+uint32(len(got)) {
		t.Errorf("serial %d after %d acknowledged updates from %d", z.SOA.Serial, len(got), s0)
	}
	diff, _, err := transfer(t, p2.addr, s0, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if adds := len(diff) - 2 - 2*int(z.SOA.Serial-s0); adds < len(got) {
		t.Errorf("IXFR from %d after the restart: %d records, not every change", s0, len(diff))
	}
	t.Logf("%d updates acknowledged before the stop, all served after it", len(got))
}

// TestSignedQueryGetsSignedReply: nsupdate without a "zone" line first
// asks for the SOA with a signed query and gives up on an unsigned reply
// ("expected a TSIG or SIG(0)"); a signed query gets a signed answer, and
// a query signed with a wrong secret gets NOTAUTH/BADSIG.
func TestSignedQueryGetsSignedReply(t *testing.T) {
	p := startPrimary(t, filepath.Join(t.TempDir(), "zones"), "127.0.0.0/8", "increment")
	for _, c := range []struct {
		secret string
		rcode  int
	}{{testKey, dns.RcodeNameError}, {otherKey, dns.RcodeNotAuth}} {
		m := new(dns.Msg)
		m.SetQuestion("new.dyn.example.test.", dns.TypeSOA)
		m.SetTsig(keyName, dns.HmacSHA256, 300, time.Now().Unix())
		cl := &dns.Client{TsigSecret: map[string]string{keyName: c.secret}}
		r, _, err := cl.Exchange(m, p.addr)
		if r == nil {
			t.Fatal(err)
		}
		if r.Rcode != c.rcode || r.IsTsig() == nil {
			t.Errorf("signed SOA query (secret %s…): rcode %s, TSIG %v; want %s with a TSIG", c.secret[:6], dns.RcodeToString[r.Rcode], r.IsTsig(), dns.RcodeToString[c.rcode])
		}
		if c.rcode == dns.RcodeNameError && (err != nil || len(r.Ns) != 1) {
			t.Errorf("signed SOA query: %v, authority %v; want a verified reply with the SOA", err, r.Ns)
		}
	}
}

// TestRestartReplaysJournal: a crash after the journal was written and
// before the zone file was (the file put back as it was before the
// change) loses nothing: the next start replays the journal, serves the
// change and rewrites the file.
func TestRestartReplaysJournal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "zones")
	p := startPrimary(t, dir, "127.0.0.0/8", "increment")
	s0 := p.serial()
	file, before := zoneFile(t, dir)
	if r := update(t, p.addr, "tcp", keyName, testKey, func(m *dns.Msg) {
		m.Insert([]dns.RR{dnstest.RR(t, "late.example.test. 60 IN A 127.0.0.5")})
	}); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("update: %s", dns.RcodeToString[r.Rcode])
	}
	p.stop()
	if err := os.WriteFile(file, before, 0o644); err != nil { // the rename never happened
		t.Fatal(err)
	}
	p2 := startPrimary(t, dir, "127.0.0.0/8", "increment")
	if got := p2.serial(); got != s0+1 {
		t.Fatalf("serial %d after the restart, want %d (the journal's)", got, s0+1)
	}
	if a := exchange(t, p2.addr, "late.example.test."); len(a.Answer) != 1 {
		t.Fatalf("the change in the journal is not served: %v", a)
	}
	checkFile(t, dir, s0+1)
	if p2.logs.FilterMessageSnippet("brought up to date from its journal").Len() != 1 {
		t.Error("the replay was not logged")
	}
}

// TestNotifyOnChange: every change sends the zone's secondary a NOTIFY
// with the new SOA.
func TestNotifyOnChange(t *testing.T) {
	var mu sync.Mutex
	var got []uint32
	secondary := testutil.ServeDNS(t, dns.HandlerFunc(func(w dns.ResponseWriter, m *dns.Msg) {
		if m.Opcode == dns.OpcodeNotify && len(m.Answer) == 1 {
			mu.Lock()
			got = append(got, m.Answer[0].(*dns.SOA).Serial)
			mu.Unlock()
		}
		r := new(dns.Msg)
		r.SetReply(m)
		_ = w.WriteMsg(r)
	}))
	p := startPrimary(t, filepath.Join(t.TempDir(), "zones"), "127.0.0.0/8", "increment", secondary)
	s0 := p.serial()
	for i := range 3 {
		update(t, p.addr, "udp", keyName, testKey, func(m *dns.Msg) {
			m.Insert([]dns.RR{dnstest.RR(t, fmt.Sprintf("n%d.example.test. 60 IN A 127.0.0.1", i))})
		})
		testutil.WaitFor(t, fmt.Sprintf("NOTIFY of serial %d", s0+uint32(i)+1), 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.Contains(got, s0+uint32(i)+1)
		})
	}
}

// TestPutBackFileNotRolledForward: `netsim fix` undoes a lab's change
// through the API, then writes the zone file back as it was and sends
// SIGHUP; the reload serves that file at its own serial, not the journal
// replayed over it.
func TestPutBackFileNotRolledForward(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "zones")
	p := startPrimary(t, dir, "127.0.0.0/8", "increment")
	s0 := p.serial()
	file, before := zoneFile(t, dir)
	for _, build := range []func(m *dns.Msg){
		func(m *dns.Msg) { m.Insert([]dns.RR{dnstest.RR(t, "lab.example.test. 60 IN A 127.0.0.5")}) },
		func(m *dns.Msg) { m.RemoveRRset([]dns.RR{dnstest.RR(t, "lab.example.test. 0 IN A 127.0.0.5")}) },
	} {
		if r := update(t, p.addr, "tcp", keyName, testKey, build); r.Rcode != dns.RcodeSuccess {
			t.Fatalf("update: %s", dns.RcodeToString[r.Rcode])
		}
	}
	if err := os.WriteFile(file, before, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.d.Reload(p.d.Config()); err != nil {
		t.Fatal(err)
	}
	if got := p.serial(); got != s0 {
		t.Fatalf("serial %d after the file was put back, want the file's %d", got, s0)
	}
	if b, _ := os.ReadFile(file); string(b) != string(before) {
		t.Error("the file put back was rewritten")
	}
	// the zones directory is as it was (internal/labs compares it file by file)
	if _, err := os.Stat(file + ".jnl"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the emptied journal is still there: %v", err)
	}
}

// zoneFile is the path and the bytes of example.test.'s file in dir.
func zoneFile(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	file := filepath.Join(dir, "example.test.zone")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return file, b
}
