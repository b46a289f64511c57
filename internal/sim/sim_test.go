package sim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"netsim/internal/api"
	"netsim/internal/testutil"
	"netsim/internal/webd"
)

// version asks a web server which version answers.
func version(t *testing.T, addr string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	f := strings.Fields(string(body)) // "b1 v1"
	if len(f) != 2 {
		t.Fatalf("GET %s: body %q, want \"<id> <version>\"", addr, body)
	}
	return f[1]
}

func newWebd(t *testing.T, tune func(*webd.Options)) (*Supervisor, string, *events) {
	s, addr, ev, _ := newWebdServer(t, tune)
	return s, addr, ev
}

// newWebdServer also returns the latest run's server.
func newWebdServer(t *testing.T, tune func(*webd.Options)) (*Supervisor, string, *events, func() *webd.Server) {
	t.Helper()
	s := New(nil)
	t.Cleanup(s.Close)
	ev := &events{}
	s.Subscribe(ev.add)
	addr := testutil.FreeAddr(t)
	var mu sync.Mutex
	var cur *webd.Server
	started := func(w *webd.Server) { mu.Lock(); cur = w; mu.Unlock() }
	if err := s.Add(Webd(WebdOptions{ID: "b1", Addr: addr, Tune: tune, Started: started}, "v1")); err != nil {
		t.Fatal(err)
	}
	return s, addr, ev, func() *webd.Server { mu.Lock(); defer mu.Unlock(); return cur }
}

type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.got = append(e.got, ev.Part+" "+string(ev.State)+" "+ev.Version)
	e.mu.Unlock()
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

func TestWebdStopStartVersion(t *testing.T) {
	s, addr, ev := newWebd(t, nil)
	if err := s.Start("b1", ""); err != nil {
		t.Fatal(err)
	}
	if v := version(t, addr); v != "v1" {
		t.Fatalf("version %q, want v1", v)
	}
	if err := s.Stop("b1"); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after stop", addr)
	}
	if err := s.Start("b1", "v2"); err != nil {
		t.Fatal(err)
	}
	if v := version(t, addr); v != "v2" {
		t.Fatalf("version after restart %q, want v2", v)
	}
	st, _ := s.Status("b1")
	if st.State != Running || st.Version != "v2" {
		t.Fatalf("status %+v, want running v2", st)
	}
	want := []string{"b1 running v1", "b1 stopped v1", "b1 running v2"}
	if got := ev.list(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// A stop drains: a request in flight completes. A kill resets it.
func TestStopDrainsKillResets(t *testing.T) {
	slow := func(o *webd.Options) { o.Latency = 300 * time.Millisecond }
	for _, tc := range []struct {
		name    string
		end     func(*Supervisor) error
		wantErr bool
	}{
		{"stop", func(s *Supervisor) error { return s.Stop("b1") }, false},
		{"kill", func(s *Supervisor) error { return s.Kill("b1") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, addr, _, server := newWebdServer(t, slow)
			if err := s.Start("b1", ""); err != nil {
				t.Fatal(err)
			}
			c := testutil.Dial(t, addr, "GET / HTTP/1.1\r\nHost: b1\r\n\r\n")
			// the request is in the server's hands once it counts it in flight
			testutil.WaitFor(t, "the request to be in flight", 10*time.Second, func() bool {
				return server().InFlight() == 1
			})
			if err := tc.end(s); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			reply, err := io.ReadAll(c)
			if tc.wantErr {
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("after kill: read %q, err %v; want a connection reset", reply, err)
				}
				return
			}
			if err != nil || !strings.HasPrefix(string(reply), "HTTP/1.1 200") {
				t.Fatalf("after stop: read %q, err %v; want the drained request's 200", reply, err)
			}
		})
	}
}

// A killed part can be started again on the same address at once.
func TestKillThenStart(t *testing.T) {
	s, addr, ev := newWebd(t, nil)
	for i := 0; i < 3; i++ {
		if err := s.Start("b1", ""); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if err := s.Kill("b1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Start("b1", "v3"); err != nil {
		t.Fatal(err)
	}
	if v := version(t, addr); v != "v3" {
		t.Fatalf("version %q, want v3", v)
	}
	if n := len(ev.list()); n != 7 {
		t.Fatalf("%d events, want 7: %q", n, ev.list())
	}
}

// fakeRun is an instance that ends by itself when told to.
type fakeRun struct {
	done chan struct{}
	err  error
}

func (f *fakeRun) Stop()                 { close(f.done) }
func (f *fakeRun) Kill()                 { close(f.done) }
func (f *fakeRun) Done() <-chan struct{} { return f.done }
func (f *fakeRun) Err() error            { return f.err }

func TestExitIsNoticed(t *testing.T) {
	s := New(nil)
	defer s.Close()
	ev := &events{}
	s.Subscribe(ev.add)
	var f *fakeRun
	_ = s.Add(Spec{Name: "x", Kind: "test", Start: func(context.Context, string) (Instance, error) {
		f = &fakeRun{done: make(chan struct{}), err: errors.New("port in use")}
		return f, nil
	}})
	if err := s.Start("x", ""); err != nil {
		t.Fatal(err)
	}
	close(f.done) // the process dies on its own
	testutil.WaitFor(t, "the exit to be noticed", 10*time.Second, func() bool {
		st, _ := s.Status("x")
		return st.State == Exited
	})
	if st, _ := s.Status("x"); st.Error != "port in use" {
		t.Fatalf("status error %q, want the exit's cause", st.Error)
	}
	if err := s.Start("x", ""); err != nil {
		t.Fatalf("an exited part must start again: %v", err)
	}
}

func TestStateErrors(t *testing.T) {
	s, _, _ := newWebd(t, nil)
	var se *ErrState
	if err := s.Stop("b1"); !errors.As(err, &se) {
		t.Fatalf("stop of a stopped part: %v, want ErrState", err)
	}
	var ue *ErrUnknown
	if err := s.Start("nope", ""); !errors.As(err, &ue) || len(ue.Known) != 1 {
		t.Fatalf("unknown part: %v", err)
	}
	if err := s.Start("b1", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Start("b1", ""); !errors.As(err, &se) {
		t.Fatalf("start of a running part: %v, want ErrState", err)
	}
	if err := s.Add(Spec{Name: "b1", Start: func(context.Context, string) (Instance, error) { return nil, nil }}); err == nil {
		t.Fatal("a duplicate name was accepted")
	}
}

func TestAPI(t *testing.T) {
	s, addr, _ := newWebd(t, nil)
	mux := http.NewServeMux()
	s.Routes(mux, func(h http.Handler) http.Handler { return api.Auth("tok", h) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	call := func(method, path, body, token string) (int, map[string]any) {
		t.Helper()
		st, b := testutil.Call(t, method, srv.URL+path, body, token)
		var m map[string]any
		_ = json.Unmarshal([]byte(b), &m)
		return st, m
	}
	cases := []struct {
		name, method, path, body, token string
		status                          int
		code                            string
	}{
		{"list", "GET", "/api/v1/parts", "", "", 200, ""},
		{"one", "GET", "/api/v1/parts/b1", "", "", 200, ""},
		{"unknown", "GET", "/api/v1/parts/zz", "", "", 404, "unknown_part"},
		{"no token", "PATCH", "/api/v1/parts/b1", `{"state":"running"}`, "", 401, "unauthorized"},
		{"bad state", "PATCH", "/api/v1/parts/b1", `{"state":"paused"}`, "tok", 422, "bad_state"},
		{"unknown field", "PATCH", "/api/v1/parts/b1", `{"status":"running"}`, "tok", 400, "unknown_field"},
		{"start", "PATCH", "/api/v1/parts/b1", `{"state":"running","version":"v7"}`, "tok", 200, ""},
		{"start twice", "PATCH", "/api/v1/parts/b1", `{"state":"running"}`, "tok", 409, "bad_state_change"},
		{"version with stop", "PATCH", "/api/v1/parts/b1", `{"state":"stopped","version":"v2"}`, "tok", 422, "bad_field"},
		{"kill", "PATCH", "/api/v1/parts/b1", `{"state":"killed"}`, "tok", 200, ""},
		{"wrong verb", "DELETE", "/api/v1/parts/b1", "", "tok", 405, "method_not_allowed"},
	}
	for _, tc := range cases {
		status, body := call(tc.method, tc.path, tc.body, tc.token)
		if status != tc.status {
			t.Fatalf("%s: status %d, want %d (%v)", tc.name, status, tc.status, body)
		}
		if tc.code != "" {
			e, _ := body["error"].(map[string]any)
			if e["code"] != tc.code {
				t.Fatalf("%s: error %v, want code %s", tc.name, body, tc.code)
			}
		}
		if tc.name == "start" {
			if v := version(t, addr); v != "v7" {
				t.Fatalf("started through the API: version %q, want v7", v)
			}
		}
	}
	if st, _ := s.Status("b1"); st.State != Killed {
		t.Fatalf("state %s after the API's kill", st.State)
	}
}
