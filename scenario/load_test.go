package scenario

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func collect(t *testing.T, g *Generator) []Record {
	t.Helper()
	col := &Collector{}
	g.Sink = col.Add
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.Run(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	return col.Records()
}

// The name resolves through the resolver to two addresses; nothing listens
// on the first, so every request connects to the second.
func TestLoadResolvesAndTriesNextAddress(t *testing.T) {
	var mu sync.Mutex
	peers := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		peers[host]++
		mu.Unlock()
		w.Header().Set("X-Backend-Id", "b1")
		w.Header().Set("X-Backend-Version", "v1")
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ds := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, ip := range []string{"127.0.0.2", "127.0.0.1"} {
			rr, _ := dns.NewRR(fmt.Sprintf("%s 30 IN A %s", q.Question[0].Name, ip))
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = ds.ActivateAndServe() }()
	defer ds.Shutdown()

	g := &Generator{Load: Load{Rate: 100, Duration: 300 * time.Millisecond, Clients: 4, Regions: []string{"eu", "na"}, Method: "GET",
		Timeout: 5 * time.Second, Resolver: pc.LocalAddr().String()}, Target: "http://www.example.test:" + port + "/"}
	recs := collect(t, g)
	if len(recs) != 30 {
		t.Fatalf("%d records, want 30", len(recs))
	}
	for _, r := range recs {
		if !r.OK() || r.Resolved != "127.0.0.1" || r.Backend != "b1" || r.Version != "v1" {
			t.Fatalf("record %+v: want ok from b1 v1 through 127.0.0.1", r)
		}
		if (r.Region == "eu") != strings.HasPrefix(r.Client, "127.0.10.") {
			t.Errorf("client %s stands in region %s", r.Client, r.Region)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for host := range peers {
		if !strings.HasPrefix(host, "127.0.10.") && !strings.HasPrefix(host, "127.0.20.") {
			t.Errorf("a request came from %s, not a region's address", host)
		}
	}
	if len(peers) != 4 {
		t.Errorf("requests from %d addresses, want the 4 clients': %v", len(peers), peers)
	}
}

// With one request allowed in flight and the first one slow, the second
// is sent late; its latency counts from when it should have been sent.
func TestLoadNoCoordinatedOmission(t *testing.T) {
	var first sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first.Do(func() { time.Sleep(300 * time.Millisecond) }) // a slow answer, not synchronisation
	}))
	defer srv.Close()
	g := &Generator{Load: Load{Rate: 50, Duration: 200 * time.Millisecond, Concurrency: 1, Clients: 1, KeepAlive: true, Method: "GET", Timeout: 5 * time.Second}, Target: srv.URL}
	recs := collect(t, g)
	if len(recs) != 10 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[1]
	waited := r.Started.Sub(r.Intended)
	if waited < 200*time.Millisecond {
		t.Fatalf("request 1 started %v after its intended time; the cap should have held it behind the slow one", waited)
	}
	if r.Latency() < waited {
		t.Errorf("latency %v does not include the %v it waited to be sent", r.Latency(), waited)
	}
}

func TestClassify(t *testing.T) {
	lbdBody := `{"error": {"code": "backend_error", "message": "backend b2(127.0.0.1:9002) failed: read: connection reset by peer", "status": 502}}`
	resp := func(status int, hdr map[string]string) *http.Response {
		r := &http.Response{StatusCode: status, Header: http.Header{}}
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		return r
	}
	cases := []struct {
		name              string
		resp              *http.Response
		body              string
		err               error
		cause, code, back string
	}{
		{"ok", resp(200, nil), "b1 v1", nil, "", "", ""},
		{"lbd 502", resp(502, map[string]string{"X-LB-Error": "backend_error"}), lbdBody, nil, "lbd_502", "backend_error", "b2"},
		{"lbd 503", resp(503, nil), `{"error": {"code": "no_backend", "message": "pool web has no backend able to take the request"}}`, nil, "lbd_503", "no_backend", ""},
		{"backend 500", resp(500, map[string]string{"X-Backend-Id": "b1"}), "b1 v2 injected error\n", nil, "backend_5xx", "", ""},
		{"refused", nil, "", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, "refused", "", ""},
		{"reset", nil, "", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, "reset", "", ""},
		{"timeout", nil, "", context.DeadlineExceeded, "timeout", "", ""},
		{"dns", nil, "", &dnsError{"no such name"}, "dns", "", ""},
		{"other", nil, "", errors.New("tls: bad certificate"), "other", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rec Record
			classify(&rec, c.resp, []byte(c.body), c.err)
			if rec.Cause != c.cause || rec.Code != c.code || rec.Backend != c.back {
				t.Errorf("cause %q code %q backend %q; want %q %q %q", rec.Cause, rec.Code, rec.Backend, c.cause, c.code, c.back)
			}
			if rec.Cause != "" && rec.Error == "" {
				t.Error("a failure without a message")
			}
		})
	}
}
