package scenario

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeDNSD answers the parts of dnsd's admin API that Netsim uses and logs
// every change it is sent.
type fakeDNSD struct {
	mu      sync.Mutex
	records map[string][]string // "name type" → data
	knobs   resolverKnobs
	calls   []string
}

func (f *fakeDNSD) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	limited := func(w http.ResponseWriter, r *http.Request) bool { // as the real API pages
		if l := r.URL.Query().Get("limit"); l != "" && (len(l) > 3 || l > "100" && len(l) == 3) {
			http.Error(w, `{"error":{"code":"bad_limit","message":"limit must be an integer from 1 to 100"}}`, http.StatusBadRequest)
			return false
		}
		return true
	}
	write := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": v})
	}
	mux.HandleFunc("GET /api/v1/zones", func(w http.ResponseWriter, r *http.Request) {
		if !limited(w, r) {
			return
		}
		write(w, []map[string]string{{"origin": "."}, {"origin": "test."}, {"origin": "example.test."}})
	})
	mux.HandleFunc("/api/v1/zones/example.test./records", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		q := r.URL.Query()
		switch r.Method {
		case http.MethodGet:
			if !limited(w, r) {
				return
			}
			var out []map[string]any
			for _, d := range f.records[q.Get("name")+" "+q.Get("type")] {
				out = append(out, map[string]any{"ttl": 300, "data": d})
			}
			write(w, out)
			return
		case http.MethodPut:
			var body struct {
				Name, Type string
				Data       []string
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				t.Errorf("PUT body: %v", err)
			}
			f.records[body.Name+" "+body.Type] = body.Data
			f.calls = append(f.calls, "PUT "+body.Name+" "+strings.Join(body.Data, ","))
		case http.MethodDelete:
			delete(f.records, q.Get("name")+" "+q.Get("type"))
			f.calls = append(f.calls, "DELETE "+q.Get("name"))
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/api/v1/resolver", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.Method == http.MethodPatch {
			var p map[string]bool
			_ = json.NewDecoder(r.Body).Decode(&p)
			if v, ok := p["coalesce"]; ok {
				f.knobs.Coalesce = v
			}
			if v, ok := p["prefetch"]; ok {
				f.knobs.Prefetch = v
			}
		}
		write(w, f.knobs)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("# TYPE dnsd_resolver_upstream_queries_total counter\n" +
			`dnsd_resolver_upstream_queries_total{result="ok",transport="udp"} 40` + "\n" +
			`dnsd_resolver_upstream_queries_total{result="timeout",transport="udp"} 2` + "\n"))
	})
	mux.HandleFunc("GET /api/v1/pools/web/backends", func(w http.ResponseWriter, r *http.Request) { write(w, []any{}) })
	return mux
}

// TestNetsimPutsDNSBack: a record the scenario created is deleted at
// Close, one it changed gets its old data back, and so do the resolver's
// knobs.
func TestNetsimPutsDNSBack(t *testing.T) {
	f := &fakeDNSD{records: map[string][]string{"www.example.test. A": {"127.0.10.1", "127.0.20.1"}}, knobs: resolverKnobs{Coalesce: true, Prefetch: true}}
	srv := httptest.NewServer(f.handler(t))
	defer srv.Close()
	n := &Netsim{LBD: &LBD{Admin: srv.URL, Pool: "web"}, Control: srv.URL, DNSAdmin: srv.URL}
	ctx := context.Background()
	for _, rc := range []RecordChange{
		{Name: "app.example.test", Type: "A", Value: "127.0.10.1", TTL: 10},
		{Name: "app.example.test", Type: "A", Value: "127.0.20.1", TTL: 10},
		{Name: "www.example.test.", Type: "A", Value: "127.0.30.1", TTL: 5},
	} {
		if err := n.SetRecord(ctx, rc); err != nil {
			t.Fatal(err)
		}
	}
	off := false
	if err := n.SetResolverKnobs(ctx, nil, &off); err != nil {
		t.Fatal(err)
	}
	if got, err := n.UpstreamQueries(ctx); err != nil || got != 42 {
		t.Errorf("upstream queries = %v, %v; want 42 (the sum over labels)", got, err)
	}
	if f.knobs.Prefetch {
		t.Fatal("prefetch still on")
	}
	if err := n.Close(ctx); err != nil {
		t.Logf("close: %v", err) // the fake has no control API for parts
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.records["app.example.test. A"]; ok {
		t.Errorf("the record the scenario created is still there; calls %v", f.calls)
	}
	if got := strings.Join(f.records["www.example.test. A"], ","); got != "127.0.10.1,127.0.20.1" {
		t.Errorf("www is %s after Close, want its old data; calls %v", got, f.calls)
	}
	if !f.knobs.Prefetch || !f.knobs.Coalesce {
		t.Errorf("resolver knobs %+v after Close, want both on as found", f.knobs)
	}
}

// TestLBDCloseRestoresKnobs: webd's knobs a scenario set (failing health,
// errors, slow) are as found after Close.
func TestLBDCloseRestoresKnobs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := StartStandalone(ctx, (&dec{}).stack(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	l := &LBD{Admin: st.Admin, Token: st.Token, Pool: st.Pool}
	bad, rate, slow := false, 0.5, 300*time.Millisecond
	if err := l.SetKnobs(ctx, "b2", Knobs{Healthy: &bad, ErrorRate: &rate, Latency: &slow}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := l.backend(ctx, "b2")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Data struct {
			Healthy   bool    `json:"healthy"`
			ErrorRate float64 `json:"error_rate"`
			Latency   string  `json:"latency"`
		} `json:"data"`
	}
	if err := l.do(ctx, http.MethodGet, "http://"+b.Address+"/admin/config", "", nil, &cfg); err != nil {
		t.Fatal(err)
	}
	if !cfg.Data.Healthy || cfg.Data.ErrorRate != 0 || cfg.Data.Latency == slow.String() {
		t.Errorf("b2's knobs after Close: %+v, want healthy, no errors, its old latency", cfg.Data)
	}
}

func TestRefuseBreak(t *testing.T) {
	p := filepath.Join(t.TempDir(), "break.json")
	if err := refuseBreak(p); err != nil {
		t.Fatalf("no break active: %v", err)
	}
	if err := os.WriteFile(p, []byte(`{"faults":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := refuseBreak(p); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "netsim fix") {
		t.Errorf("err = %v, want a refusal naming %s and netsim fix", err, p)
	}
}

func TestNeedsRunningStack(t *testing.T) {
	for name, want := range map[string]bool{"rolling-deploy": false, "canary": false, "blue-green": false, "bad-deploy": false,
		"backend-crash": false, "region-outage": true, "dns-change": true, "thundering-herd": true} {
		sc, err := Open(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := needsRunningStack(sc) != ""; got != want {
			t.Errorf("%s needs the running stack: %v, want %v", name, got, want)
		}
	}
}
