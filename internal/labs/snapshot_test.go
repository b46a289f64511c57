package labs_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/labs"
	"netsim/internal/testutil"
)

// question is one query of the snapshot.
type question struct {
	server string // "resolver" or host (the DNS port is the stack's)
	name   string
	qtype  uint16
	subnet string
}

var questions = []question{
	{"resolver", "www.sub.example.test.", dns.TypeA, ""},
	{"resolver", "alias.example.test.", dns.TypeA, ""},
	{"resolver", "web.example.test.", dns.TypeA, ""},
	{"resolver", "www.example.test.", dns.TypeA, "127.0.10.0/24"},
	{"resolver", "mail.example.test.", dns.TypeMX, ""},
	{"127.0.3.1", "example.test.", dns.TypeSOA, ""},
	{"127.0.3.2", "example.test.", dns.TypeSOA, ""},
	{"127.0.3.1", "www.sub.example.test.", dns.TypeA, ""},
	{"127.0.3.1", "alias.example.test.", dns.TypeA, ""},
	{"127.0.3.1", "web.example.test.", dns.TypeA, ""},
	{"127.0.3.1", "www.example.test.", dns.TypeA, "127.0.10.0/24"},
	{"127.0.2.1", "www.example.test.", dns.TypeA, ""},
	{"127.0.4.1", "www.sub.example.test.", dns.TypeA, ""},
}

// ask asks one question of the stack.
func (s *stack) ask(t *testing.T, q question) *dns.Msg {
	t.Helper()
	server, rd := s.env.Resolver, true
	if q.server != "resolver" {
		server, rd = net.JoinHostPort(q.server, s.dnsPort), false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r, err := labs.Query(ctx, server, q.name, q.qtype, rd, q.subnet)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// answer is a response in one line per record, sorted; TTLs of the
// resolver's answers count down, so they are kept only as "above the
// zone's longest TTL" (3600) or not: a day-long TTL left in the cache
// after fix is a difference.
func answer(r *dns.Msg, fromResolver bool) string {
	var lines []string
	for _, sec := range [][]dns.RR{r.Answer, r.Ns, r.Extra} {
		for _, rr := range sec {
			if rr.Header().Rrtype == dns.TypeOPT {
				continue
			}
			rr = dns.Copy(rr)
			if fromResolver {
				rr.Header().Ttl = map[bool]uint32{true: 99999, false: 0}[rr.Header().Ttl > 3600]
			}
			lines = append(lines, rr.String())
		}
	}
	slices.Sort(lines)
	return fmt.Sprintf("%s aa=%v [%s]", dns.RcodeToString[r.Rcode], r.Authoritative, strings.Join(lines, " | "))
}

// snapshot is what the stack serves and holds: DNS answers, every lbd's
// view of its backends, the parts, the web servers' knobs, the zone and
// certificate files, the certificate served, the state file.
func (s *stack) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, q := range questions {
		key := fmt.Sprintf("dns %s %s %s %s", q.server, q.name, dns.TypeToString[q.qtype], q.subnet)
		out[key] = answer(s.ask(t, q), q.server == "resolver")
	}
	for name, admin := range s.env.LBAdmins {
		var bs []struct {
			ID, State, AdminState string
			Healthy               bool
			Weight                int
		}
		getJSON(t, "http://"+admin+"/api/v1/pools/web/backends", &bs)
		for _, b := range bs {
			out["lbd "+name+" "+b.ID] = fmt.Sprintf("%s admin=%s healthy=%v weight=%d", b.State, b.AdminState, b.Healthy, b.Weight)
		}
	}
	var parts []struct{ Name, State, Version string }
	getJSON(t, "http://"+s.env.Control+"/api/v1/parts", &parts)
	for _, p := range parts {
		out["part "+p.Name] = p.State + " " + p.Version
	}
	for id, addr := range s.env.Webd {
		var k map[string]any
		getJSON(t, "http://"+addr+"/admin/config", &k)
		b, _ := json.Marshal(k)
		out["knobs "+id] = string(b)
	}
	for _, dir := range []string{s.zonesDir, s.env.PKIDir} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, f := range files {
			if filepath.Base(f) == "ca.crl" {
				continue // the demo CA signs a new CRL (this update: now) at every reload
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			out["file "+filepath.Base(f)] = hex.EncodeToString(sum[:8])
		}
	}
	c, err := tls.Dial("tcp", s.env.HTTPS, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.ConnectionState().PeerCertificates[0].Raw)
	c.Close()
	out["cert served"] = hex.EncodeToString(sum[:8])
	_, err = os.Stat(s.env.StateFile)
	out["state file"] = fmt.Sprint(!os.IsNotExist(err))
	return out
}

// diff lists what differs between two snapshots.
func diff(before, after map[string]string) []string {
	var d []string
	for k, v := range before {
		if after[k] != v {
			d = append(d, fmt.Sprintf("%s:\n  before %s\n  after  %s", k, v, after[k]))
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok {
			d = append(d, fmt.Sprintf("%s: only after: %s", k, v))
		}
	}
	slices.Sort(d)
	return d
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	if err := tryJSON(url, out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// settled waits for every lbd to see every backend healthy and GeoDNS to
// count every region: the state a snapshot is taken in.
// steady is a snapshot taken while the stack is settled: settled before it
// and still settled after it (on a loaded machine a health check may time
// out between the two, and a snapshot of that moment compares as a fault).
func (s *stack) steady(t *testing.T) map[string]string {
	t.Helper()
	for {
		s.settled(t)
		snap := s.snapshot(t)
		if s.isSettled() {
			return snap
		}
	}
}

func (s *stack) settled(t *testing.T) {
	t.Helper()
	testutil.WaitFor(t, "every lbd sees b1..b3 healthy and GeoDNS every region", 60*time.Second, s.isSettled)
}

// isSettled: every lbd sees b1..b3 healthy and GeoDNS counts every region.
func (s *stack) isSettled() bool {
	for _, admin := range s.env.LBAdmins {
		var bs []struct{ Healthy bool }
		if err := tryJSON("http://"+admin+"/api/v1/pools/web/backends", &bs); err != nil || len(bs) != 3 {
			return false
		}
		for _, b := range bs {
			if !b.Healthy {
				return false
			}
		}
	}
	var raw []struct {
		Members []struct{ Available bool }
	}
	if err := tryJSON("http://"+s.env.DNSAdmin+"/api/v1/geo/pools?limit=100", &raw); err != nil {
		return false
	}
	for _, p := range raw {
		for _, m := range p.Members {
			if !m.Available {
				return false
			}
		}
	}
	return true
}

func tryJSON(url string, out any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(&struct{ Data any }{out})
}
