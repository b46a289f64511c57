package lb

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"netsim/internal/events"
)

func next(t *testing.T, s *events.Subscription) events.Event {
	t.Helper()
	select {
	case m := <-s.C():
		return m.Event
	case <-time.After(10 * time.Second): // bound: fail rather than hang
		t.Fatal("no event")
		return nil
	}
}

// A request with a subscriber gives one lb.request with the decision; a
// request with X-LB-Explain: 1 from loopback gets X-LB-Decision.
func TestRequestEventAndDecision(t *testing.T) {
	h := newHarness(t, 3, func(c *Config) { c.Name = "lbd-eu" })
	sub := h.srv.Events().Subscribe("lb.request")
	defer sub.Close()
	c := newClient()
	id, resp, err := h.get(c, "/hello", "X-LB-Explain", "1")
	if err != nil {
		t.Fatal(err)
	}
	e := next(t, sub).(*RequestEvent)
	if e.LBD != "lbd-eu" || e.Pool != "web" || e.Frontend != "http" || e.Backend != id || e.Status != 200 ||
		e.Method != "GET" || e.Path != "/hello" || e.Attempts != 1 || e.Reason != policyReason(h.cfg.Pools[0].Policy) ||
		strings.Join(e.Candidates, ",") != "b1,b2,b3" || e.Error != "" {
		t.Fatalf("event %+v (answered by %s)", e, id)
	}
	dec := resp.Header.Get("X-LB-Decision")
	if !strings.Contains(dec, "candidates=b1,b2,b3") || !strings.Contains(dec, "chosen="+id) || !strings.Contains(dec, "reason=") {
		t.Fatalf("X-LB-Decision %q", dec)
	}
	if _, resp, _ := h.get(c, "/hello"); resp.Header.Get("X-LB-Decision") != "" {
		t.Fatal("X-LB-Decision without X-LB-Explain")
	}
	// no backend: lbd's error code is in the event
	for _, id := range []string{"b1", "b2", "b3"} {
		h.adminJSON(http.MethodPatch, "/api/v1/pools/web/backends/"+id, map[string]string{"state": "maintenance"}, http.StatusOK, nil)
	}
	for len(sub.C()) > 0 {
		<-sub.C()
	}
	h.get(c, "/hello")
	if e := next(t, sub).(*RequestEvent); e.Status != 503 || e.Error != "no_backend" || e.Backend != "" {
		t.Fatalf("no backend: %+v", e)
	}
}

// Draining a backend is an lb.backend event naming the lbd.
func TestBackendAndHealthEvents(t *testing.T) {
	h := newHarness(t, 2, nil)
	sub := h.srv.Events().Subscribe("lb.backend", "lb.health")
	defer sub.Close()
	h.adminJSON(http.MethodPatch, "/api/v1/pools/web/backends/b2", map[string]string{"state": "draining"}, http.StatusOK, nil)
	sawChange, sawCheck := false, false
	for !sawChange || !sawCheck {
		switch e := next(t, sub).(type) {
		case *BackendEvent:
			if e.LBD != "lbd" || e.Pool != "web" || e.Backend != "b2" || e.From != "up" || e.To != "draining" {
				t.Fatalf("backend event %+v", e)
			}
			sawChange = true
		case *HealthEvent:
			if e.LBD != "lbd" || e.Pool != "web" || !e.OK || e.DurationUS < 0 {
				t.Fatalf("health event %+v", e)
			}
			sawCheck = true
		}
	}
}

func TestAccessLogSwitch(t *testing.T) {
	h := newHarness(t, 1, nil)
	var v AccessLogView
	h.adminJSON(http.MethodGet, "/api/v1/accesslog", nil, http.StatusOK, &v)
	if v.Enabled {
		t.Fatal("access log on by default")
	}
	h.adminJSON(http.MethodPatch, "/api/v1/accesslog", map[string]any{"enabled": true, "sample_rate": 0.5}, http.StatusOK, &v)
	if !v.Enabled || v.SampleRate != 0.5 || h.srv.accessLog.Load() == nil || h.srv.accessLog.Load().every != 2 {
		t.Fatalf("after PATCH: %+v", v)
	}
	h.adminJSON(http.MethodPatch, "/api/v1/accesslog", map[string]any{"sample_rate": 2}, http.StatusUnprocessableEntity, nil)
	h.adminJSON(http.MethodPatch, "/api/v1/accesslog", map[string]any{"enabled": false}, http.StatusOK, &v)
	if v.Enabled || h.srv.accessLog.Load() != nil {
		t.Fatalf("after switching off: %+v", v)
	}
}
