package labs_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/labs"
	"netsim/internal/testutil"
)

// symptoms check, on a broken stack, what each lab says a student will see.
var symptoms = map[string]func(t *testing.T, s *stack){
	"lame-delegation": func(t *testing.T, s *stack) {
		s.wantServfail(t, "www.sub.example.test.")
		r := s.ask(t, question{"127.0.3.1", "www.sub.example.test.", dns.TypeA, ""})
		if r.Authoritative || !strings.Contains(answer(r, false), "NS\tns1.example.test.") {
			t.Fatalf("the lame server's answer %s: want a referral to itself, no aa", answer(r, false))
		}
	},
	"missing-glue": func(t *testing.T, s *stack) {
		s.wantServfail(t, "www.sub.example.test.")
		r := s.ask(t, question{"127.0.3.1", "www.sub.example.test.", dns.TypeA, ""})
		if got := answer(r, false); !strings.Contains(got, "NS\tns1.sub.example.test.") || strings.Contains(got, "\tA\t") || !strings.Contains(got, "AAAA\tfd00::53") {
			t.Fatalf("referral %s: want NS ns1.sub.example.test. with AAAA glue only", got)
		}
	},
	"wrong-glue": func(t *testing.T, s *stack) {
		s.wantServfail(t, "www.sub.example.test.")
		r := s.ask(t, question{"127.0.3.1", "www.sub.example.test.", dns.TypeA, ""})
		if got := answer(r, false); !strings.Contains(got, "A\t127.0.4.99") {
			t.Fatalf("referral %s: want glue ns1.sub.example.test. A 127.0.4.99", got)
		}
	},
	"cname-loop": func(t *testing.T, s *stack) {
		s.wantServfail(t, "alias.example.test.")
		r := s.ask(t, question{"127.0.3.1", "alias.example.test.", dns.TypeA, ""})
		if got := answer(r, false); !strings.Contains(got, "alias2.example.test.\t3600\tIN\tCNAME\talias.example.test.") {
			t.Fatalf("authoritative answer %s: want the loop alias -> alias2 -> alias", got)
		}
	},
	"ttl-too-long": func(t *testing.T, s *stack) {
		r := s.ask(t, question{"resolver", "web.example.test.", dns.TypeA, ""})
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.1" || r.Answer[0].Header().Ttl < 80000 {
			t.Fatalf("resolver's answer %v: want the old address 127.0.0.1 with a TTL near a day", r.Answer)
		}
		r = s.ask(t, question{"127.0.3.1", "web.example.test.", dns.TypeA, ""})
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.2" {
			t.Fatalf("authoritative answer %v: want the new address 127.0.0.2", r.Answer)
		}
	},
	"dead-backend": func(t *testing.T, s *stack) {
		s.waitBackend(t, "b2", false)
		if _, err := http.Get("http://" + s.env.Webd["b2"] + "/"); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("GET b2: %v, want connection refused", err)
		}
	},
	"slow-backend": func(t *testing.T, s *stack) {
		start := time.Now()
		resp, err := http.Get("http://" + s.env.Webd["b3"] + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if took := time.Since(start); took < s.env.SlowLatency || resp.StatusCode != 200 {
			t.Fatalf("GET b3: %d in %s, want 200 after at least %s", resp.StatusCode, took, s.env.SlowLatency)
		}
		s.waitBackend(t, "b3", true) // slow, but healthy: the balancer keeps it
	},
	"flapping-health": func(t *testing.T, s *stack) {
		s.waitBackend(t, "b1", false)
		s.waitBackend(t, "b1", true)
		s.waitBackend(t, "b1", false)
	},
	"expired-cert": func(t *testing.T, s *stack) {
		ca, err := os.ReadFile(filepath.Join(s.env.PKIDir, "ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(ca)
		_, err = tls.Dial("tcp", s.env.HTTPS, &tls.Config{RootCAs: roots, ServerName: "www.example.test"})
		var inv x509.CertificateInvalidError
		if !errors.As(err, &inv) || inv.Reason != x509.Expired {
			t.Fatalf("TLS to %s verified against the demo CA: %v, want certificate expired", s.env.HTTPS, err)
		}
	},
	"region-down": func(t *testing.T, s *stack) {
		if _, err := http.Get("http://" + net.JoinHostPort("127.0.10.1", s.http) + "/"); err == nil {
			t.Fatal("the EU lbd still answers")
		}
		testutil.WaitFor(t, "GeoDNS to stop giving Europe 127.0.10.1", 30*time.Second, func() bool {
			r := s.ask(t, question{"127.0.3.1", "www.example.test.", dns.TypeA, "127.0.10.0/24"})
			return r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 && !strings.Contains(answer(r, false), "127.0.10.1")
		})
	},
}

// TestBreakFix: for every lab, on one whole stack, break makes the fault
// (its symptom shows), a second break of it is refused, and fix puts back
// everything the snapshot sees: DNS answers, every lbd's backends, parts,
// knobs, zone and certificate files byte for byte, the certificate served.
func TestBreakFix(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	for _, f := range labs.Faults() {
		t.Run(f.Name, func(t *testing.T) {
			check, ok := symptoms[f.Name]
			if !ok {
				t.Fatalf("no symptom check for %s", f.Name)
			}
			before := s.steady(t)
			s.flushCache(t) // a cold cache: nothing the lab touches is cached yet
			if err := labs.Break(ctx, s.env, f.Name); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { // a failed check must not leave the next lab a broken stack
				if _, err := os.Stat(s.env.StateFile); err == nil {
					_ = labs.Fix(ctx, s.env)
				}
			})
			if err := labs.Break(ctx, s.env, f.Name); err == nil || !strings.Contains(err.Error(), "broken already") {
				t.Fatalf("second break of %s: %v, want refused", f.Name, err)
			}
			check(t, s)
			if err := labs.Fix(ctx, s.env); err != nil {
				t.Fatal(err)
			}
			// The stack converges back: on a loaded machine a health check
			// may time out once more after fix (a backend briefly down on one
			// lbd), so the snapshots must come equal, not be equal at once.
			var d []string
			deadline := time.Now().Add(60 * time.Second)
			for {
				if d = diff(before, s.steady(t)); len(d) == 0 || time.Now().After(deadline) {
					break
				}
			}
			if len(d) > 0 {
				t.Fatalf("after fix, %d differences:\n%s", len(d), strings.Join(d, "\n"))
			}
		})
	}
}

// TestFailedBreakUndone: a break that fails half way leaves nothing
// behind: the records it changed are back and the zone file it made dnsd
// rewrite is put back byte for byte.
func TestFailedBreakUndone(t *testing.T) {
	s := newStack(t)
	s.settled(t)
	before := s.snapshot(t)
	f := labs.Fault{Name: "half-way", Break: func(ctx context.Context, e *labs.Env, b *labs.Broken) error {
		if err := labs.ChangeRRset(ctx, e, b, labs.RRset{Zone: "example.test.", Name: "web", Type: "A", Data: []string{"127.0.0.9"}}); err != nil {
			return err
		}
		return errors.New("the second step fails")
	}}
	if err := labs.MakeFault(s.env, f); err == nil || !strings.Contains(err.Error(), "undone") {
		t.Fatalf("failed break: %v, want its error and that it was undone", err)
	}
	if d := diff(before, s.snapshot(t)); len(d) > 0 {
		t.Fatalf("after a failed break, %d differences:\n%s", len(d), strings.Join(d, "\n"))
	}
}

// flushCache empties the resolver's cache.
func (s *stack) flushCache(t *testing.T) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, "http://"+s.env.DNSAdmin+"/api/v1/cache", nil)
	req.Header.Set("Authorization", "Bearer "+s.env.DNSToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("flush: %s", resp.Status)
	}
}

// wantServfail waits for the resolver to answer name with SERVFAIL.
func (s *stack) wantServfail(t *testing.T, name string) {
	t.Helper()
	r := s.ask(t, question{"resolver", name, dns.TypeA, ""})
	if r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("resolver: %s, want SERVFAIL", answer(r, true))
	}
}

// waitBackend waits for the main lbd to see a backend healthy or not.
func (s *stack) waitBackend(t *testing.T, id string, healthy bool) {
	t.Helper()
	testutil.WaitFor(t, "lbd to see "+id+" healthy="+map[bool]string{true: "true", false: "false"}[healthy], 30*time.Second, func() bool {
		var b struct{ Healthy bool }
		return tryJSON("http://"+s.env.LBAdmins["lbd"]+"/api/v1/pools/web/backends/"+id, &b) == nil && b.Healthy == healthy
	})
}
