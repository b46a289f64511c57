package webd

import (
	"net/http"
	"testing"
	"time"

	"netsim/internal/testutil"
)

// TestFlap: with a flap period, /healthz passes for one period, fails for
// the next, and so on; flap 0 steadies it; the healthy knob off wins.
func TestFlap(t *testing.T) {
	clock := testutil.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := New(Options{ID: "b1", Version: "v1", Now: clock.Now})
	health := func() int { return testutil.Do(s, http.MethodGet, "/healthz", "", nil).Code }
	patch := func(body string) {
		t.Helper()
		if rec := testutil.Do(s, http.MethodPatch, "/admin/config", body, nil); rec.Code != http.StatusOK {
			t.Fatalf("PATCH %s: %d %s", body, rec.Code, rec.Body)
		}
	}
	patch(`{"flap":"10s"}`)
	if got := s.Config().Flap; got != "10s" {
		t.Fatalf("config flap %q, want 10s", got)
	}
	steps := []struct {
		advance time.Duration
		want    int
	}{
		{0, 200}, {9 * time.Second, 200}, {time.Second, 503}, {9 * time.Second, 503},
		{time.Second, 200}, {10 * time.Second, 503},
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		if got := health(); got != st.want {
			t.Fatalf("step %d (+%s): /healthz %d, want %d", i, st.advance, got, st.want)
		}
		if s.Healthy() != (st.want == 200) || s.LoadReport().Healthy != (st.want == 200) {
			t.Fatalf("step %d: Healthy %v / load report %v disagree with /healthz %d", i, s.Healthy(), s.LoadReport().Healthy, st.want)
		}
	}
	patch(`{"flap":"0s"}`) // steady again, from a failing half
	if got := health(); got != 200 {
		t.Fatalf("/healthz after flap 0: %d, want 200", got)
	}
	patch(`{"flap":"10s","healthy":false}`)
	if got := health(); got != 503 {
		t.Fatalf("/healthz with healthy false and flap: %d, want 503", got)
	}
	if rec := testutil.Do(s, http.MethodPatch, "/admin/config", `{"flap":"-1s"}`, nil); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("flap -1s: %d, want 422", rec.Code)
	}
}
