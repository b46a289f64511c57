package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/testutil"
	"netsim/web"
)

// daemon is a fake admin API that records what reaches it.
type daemon struct {
	*httptest.Server
	mu   sync.Mutex
	got  []string // "METHOD path Authorization"
	feed *feed
}

func newDaemon(t *testing.T, stream bool) *daemon {
	t.Helper()
	d := &daemon{}
	mux := http.NewServeMux()
	if stream {
		d.feed = newFeed()
		mux.Handle("GET /api/v1/events", d.feed.Handler())
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.got = append(d.got, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization"))
		d.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":{}}`)
	})
	d.Server = httptest.NewServer(mux)
	t.Cleanup(func() {
		if d.feed != nil {
			d.feed.Close()
		}
		d.Close()
	})
	return d
}

func (d *daemon) addr() string { return d.Listener.Addr().String() }

func (d *daemon) calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.got...)
}

func page(t *testing.T, o web.Options) string {
	t.Helper()
	base, stop := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(web.Handler(o))
	srv.Config.BaseContext = func(net.Listener) context.Context { return base }
	srv.Start()
	t.Cleanup(func() { stop(); srv.Close() })
	return srv.URL
}

func tokens(o *web.Options) {
	o.Token = func() string { return "control" }
	o.DNSToken = func() string { return "dns-secret" }
	o.LBToken = func() string { return "lb-secret" }
}

func do(t *testing.T, method, url, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(`{"state":"draining"}`))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestProxyExchangesToken: a change through the page needs netsim's token,
// and reaches the daemon with the daemon's own token instead; reads are
// open on loopback.
func TestProxyExchangesToken(t *testing.T) {
	dnsd, lbd := newDaemon(t, false), newDaemon(t, false)
	o := web.Options{DNSAdmin: dnsd.addr(), LBAdmins: map[string]string{"lbd": lbd.addr()}}
	tokens(&o)
	base := page(t, o)

	cases := []struct {
		name, method, path, auth string
		status                   int
		reached                  string // the call the daemon saw, "" for none
	}{
		{"change with netsim's token", "PATCH", "/lb/lbd/api/v1/pools/web/backends/b2", "Bearer control", 200, "PATCH /api/v1/pools/web/backends/b2 Bearer lb-secret"},
		{"change without a token", "PATCH", "/lb/lbd/api/v1/pools/web/backends/b2", "", 401, ""},
		{"change with a wrong token", "PATCH", "/lb/lbd/api/v1/pools/web/backends/b2", "Bearer guess", 401, ""},
		{"change with the daemon's own token", "DELETE", "/dns/api/v1/cache", "Bearer dns-secret", 401, ""},
		{"flush with netsim's token", "DELETE", "/dns/api/v1/cache", "bearer control", 200, "DELETE /api/v1/cache Bearer dns-secret"},
		{"read on loopback", "GET", "/dns/api/v1/cache?name=www.example.test", "", 200, "GET /api/v1/cache?name=www.example.test Bearer dns-secret"},
		{"unknown lbd", "GET", "/lb/lbd-xx/api/v1/pools", "", 404, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(dnsd.calls()) + len(lbd.calls())
			status, body := do(t, c.method, base+c.path, c.auth)
			if status != c.status {
				t.Fatalf("%s %s: status %d, want %d (%s)", c.method, c.path, status, c.status, body)
			}
			all := append(dnsd.calls(), lbd.calls()...)
			switch {
			case c.reached == "" && len(all) != before:
				t.Fatalf("the daemon was called: %q", all[before:])
			case c.reached != "" && (len(all) != before+1 || !contains(all, c.reached)):
				t.Fatalf("daemon calls %q, want one more: %q", all, c.reached)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestProxyNamesDeadDaemon: a daemon that is not there is a 502 naming it.
func TestProxyNamesDeadDaemon(t *testing.T) {
	gone := testutil.FreeAddr(t)
	o := web.Options{LBAdmins: map[string]string{"lbd-eu": gone}}
	tokens(&o)
	status, body := do(t, "GET", page(t, o)+"/lb/lbd-eu/api/v1/pools", "")
	if status != http.StatusBadGateway || !strings.Contains(body, "lbd-eu at "+gone) || !strings.Contains(body, "daemon_unreachable") {
		t.Fatalf("status %d %s, want 502 daemon_unreachable naming lbd-eu at %s", status, body, gone)
	}
}

// sse reads one server-sent event stream.
type sse struct {
	body io.Closer
	msgs chan map[string]string
}

func openSSE(t *testing.T, url string) *sse {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET %s: %d %s, want 200 text/event-stream", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sse{body: resp.Body, msgs: make(chan map[string]string, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.msgs)
		sc := bufio.NewScanner(resp.Body)
		m := map[string]string{}
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if len(m) > 0 {
					s.msgs <- m
				}
				m = map[string]string{}
				continue
			}
			if k, v, ok := strings.Cut(line, ":"); ok && k != "" {
				m[k] = strings.TrimPrefix(v, " ")
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close(); <-done })
	return s
}

// next waits for a message matching want (a failure bound, not a speed check).
func (s *sse) next(t *testing.T, what string, want func(map[string]string) bool) map[string]string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				t.Fatalf("the stream ended before %s", what)
			}
			if want(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("timed out after 10s waiting for %s", what)
		}
	}
}

// TestProxyStreamsEvents: a daemon's stream comes through the proxy event
// by event, while it is still open (nothing waits for a buffer to fill).
func TestProxyStreamsEvents(t *testing.T) {
	dnsd := newDaemon(t, true)
	o := web.Options{DNSAdmin: dnsd.addr()}
	tokens(&o)
	s := openSSE(t, page(t, o)+"/dns/api/v1/events")
	testutil.WaitFor(t, "the proxied subscriber", 10*time.Second, func() bool { return dnsd.feed.subscribers(t) == 1 })
	dnsd.feed.publish("dns.query", map[string]any{"name": "www.example.test.", "qtype": "A"})
	m := s.next(t, "the event", func(m map[string]string) bool { return m["event"] == "dns.query" })
	if !strings.Contains(m["data"], `"www.example.test."`) {
		t.Fatalf("data %q, want the query", m["data"])
	}
}

// TestMergedEvents: /ui/events carries every daemon's events with "src",
// says which daemons have no stream, passes ?types= on, and lets go of
// the daemons when the page goes.
func TestMergedEvents(t *testing.T) {
	dnsd, lbd, old := newDaemon(t, true), newDaemon(t, true), newDaemon(t, false)
	o := web.Options{DNSAdmin: dnsd.addr(), LBAdmins: map[string]string{"lbd": lbd.addr(), "lbd-old": old.addr()}}
	tokens(&o)
	s := openSSE(t, page(t, o)+"/ui/events?types=dns.,lb.")
	want := map[string]string{ // each daemon's first word, in any order
		`"src":"dnsd"`:    `"state":"up"`,
		`"src":"lbd"`:     `"state":"up"`,
		`"src":"lbd-old"`: "has no event stream",
	}
	s.next(t, "a word on each daemon's stream", func(m map[string]string) bool {
		for src, say := range want {
			if m["event"] == "source" && strings.Contains(m["data"], src) && strings.Contains(m["data"], say) {
				delete(want, src)
			}
		}
		return len(want) == 0
	})
	if got := old.calls(); len(got) == 0 || !strings.HasPrefix(got[0], "GET /api/v1/events?types=dns.%2Clb. ") {
		t.Fatalf("lbd-old was asked %q, want GET /api/v1/events?types=dns.%%2Clb.", got)
	}
	lbd.feed.publish("lb.request", map[string]any{"lbd": "lbd", "backend": "b2", "status": 200})
	m := s.next(t, "the request", func(m map[string]string) bool { return m["event"] == "lb.request" })
	var ev map[string]any
	if err := json.Unmarshal([]byte(m["data"]), &ev); err != nil {
		t.Fatalf("data %q: %v", m["data"], err)
	}
	if ev["src"] != "lbd" || ev["backend"] != "b2" || ev["type"] != "lb.request" {
		t.Fatalf("event %v, want src lbd, backend b2, type lb.request", ev)
	}
	s.body.Close()
	testutil.WaitFor(t, "the daemons' streams closed after the page left", 10*time.Second, func() bool {
		return dnsd.feed.subscribers(t) == 0 && lbd.feed.subscribers(t) == 0
	})
}

// TestAskSendsRegionSubnet: standing in a region sends its network as EDNS
// Client Subnet, and the answer comes back with the path dnsd explains.
func TestAskSendsRegionSubnet(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var sent []string
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		addr := "192.0.2.1"
		if o := r.IsEdns0(); o != nil {
			for _, opt := range o.Option {
				if e, ok := opt.(*dns.EDNS0_SUBNET); ok {
					mu.Lock()
					sent = append(sent, e.Address.String()+"/"+strconv.Itoa(int(e.SourceNetmask)))
					mu.Unlock()
					if e.Address.String() == "127.0.10.0" {
						addr = "127.0.10.1"
					}
				}
			}
		}
		rr, _ := dns.NewRR(r.Question[0].Name + " 20 IN A " + addr)
		m.Answer = append(m.Answer, rr)
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })

	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/resolutions" || r.URL.Query().Get("client") != "127.0.10.0" {
			http.Error(w, `{"error":{"code":"x","message":"unexpected `+r.URL.String()+`"}}`, 400)
			return
		}
		_, _ = io.WriteString(w, `{"data":{"name":"www.example.test.","hops":[{"step":1,"server":"127.0.1.1:1053","zone":".","kind":"referral"}]}}`)
	}))
	t.Cleanup(admin.Close)
	o := web.Options{DNSAdmin: admin.Listener.Addr().String(), Resolver: pc.LocalAddr().String(),
		Regions: []web.Region{{Name: "eu", Label: "Europe", Subnet: netip.MustParsePrefix("127.0.10.0/24")}}}
	tokens(&o)
	base := page(t, o)

	status, body := do(t, "GET", base+"/ui/ask?region=eu&name=www.example.test&type=A", "")
	if status != 200 {
		t.Fatalf("ask: %d %s", status, body)
	}
	var env struct {
		Data struct {
			Addresses []string `json:"addresses"`
			Subnet    string   `json:"subnet"`
			Path      struct {
				Hops []struct{ Kind string } `json:"hops"`
			} `json:"path"`
			PathError string `json:"path_error"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatal(err)
	}
	if d := env.Data; len(d.Addresses) != 1 || d.Addresses[0] != "127.0.10.1" || d.Subnet != "127.0.10.0/24" || len(d.Path.Hops) != 1 || d.PathError != "" {
		t.Fatalf("answer %+v, want 127.0.10.1 for 127.0.10.0/24 with one hop", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 1 || sent[0] != "127.0.10.0/24" {
		t.Fatalf("client subnets sent %q, want [127.0.10.0/24]", sent)
	}
	for _, bad := range []string{"region=mars&name=www.example.test", "region=eu&name=", "region=eu&name=x&type=NOPE"} {
		if status, body := do(t, "GET", base+"/ui/ask?"+bad, ""); status != 400 {
			t.Errorf("ask %s: %d %s, want 400", bad, status, body)
		}
	}
}

// TestPageAndControl: the page and its files are served, everything else
// goes to the control API.
func TestPageAndControl(t *testing.T) {
	control := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "control "+r.URL.Path) })
	o := web.Options{Control: control}
	tokens(&o)
	base := page(t, o)
	for path, want := range map[string]string{
		"/":               "<title>netsim live</title>",
		"/ui/app.js":      "EventSource('/ui/events')",
		"/ui/config":      `"pool": "web"`,
		"/api/v1/parts":   "control /api/v1/parts",
		"/something/else": "control /something/else",
	} {
		status, body := do(t, "GET", base+path, "")
		if status != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, want 200 with %q; got %.200s", path, status, want, body)
		}
	}
}
