package lb

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"netsim/lb/backend"
	"netsim/lb/policy"
)

// TestHashAfterRemoveAndAdd replaces b2 by b4 through the admin API with
// no request in between (the same first backend, count and weights as
// before): b4 must take traffic, b2 none, and no request may fail. A ring
// cached on the set's shape kept b2, and the proxy crashed on its missing
// member (an empty reply).
func TestHashAfterRemoveAndAdd(t *testing.T) {
	hashPolicies(t, func(t *testing.T, pol string, hashed func(*Config)) {
		h := newHarness(t, 3, func(c *Config) {
			hashed(c)
			c.Pools[0].Health.Type = "none"
			c.Frontends[0].BackendHeader = true
		})
		w4 := startWebd(t, "b4", "v1", "127.0.0.1:0")
		clients := make([]*http.Client, 20)
		for i := range clients {
			clients[i] = clientFrom(fmt.Sprintf("127.0.0.%d", 2+i))
		}
		send := func(i int) (string, error) {
			id, _, err := h.get(clients[i%len(clients)], "/", "X-User", fmt.Sprint("user-", i))
			return id, err
		}
		for i := range 40 { // the policy sees the old set
			if _, err := send(i); err != nil {
				t.Fatalf("before the change: %v", err)
			}
		}
		h.adminJSON(http.MethodDelete, "/api/v1/pools/web/backends/b2", nil, http.StatusNoContent, nil)
		h.adminJSON(http.MethodPost, "/api/v1/pools/web/backends", map[string]any{"id": "b4", "address": w4.addr}, http.StatusCreated, nil)
		by := map[string]int{}
		failed := 0
		for i := range 200 {
			id, err := send(i)
			if err != nil {
				failed++
				if failed < 4 {
					t.Errorf("request %d: %v", i, err)
				}
				continue
			}
			by[id]++
		}
		if failed > 0 || by["b2"] > 0 || by["b4"] == 0 {
			t.Fatalf("after DELETE b2 and POST b4: %d failed, by backend %v; want 0 failed, none on b2, some on b4", failed, by)
		}
	})
}

// hashPolicies runs f for each hashing policy, header_hash (on the
// header X-User) and source_ip_hash; hashed sets it on pool web.
func hashPolicies(t *testing.T, f func(t *testing.T, pol string, hashed func(*Config))) {
	for _, pol := range []string{"header_hash", "source_ip_hash"} {
		t.Run(pol, func(t *testing.T) {
			f(t, pol, func(c *Config) {
				c.Pools[0].Policy = pol
				c.Pools[0].HashKey = "X-User"
			})
		})
	}
}

// strayPolicy returns, on its first n picks, a backend that is in no
// pool; then it delegates.
type strayPolicy struct {
	stray *backend.Backend
	left  chan struct{}
	next  policy.Policy
}

func (p *strayPolicy) Pick(bs []*backend.Backend, h policy.Hint) *backend.Backend {
	select {
	case <-p.left:
		return p.stray
	default:
		return p.next.Pick(bs, h)
	}
}

// TestPickOutsideSnapshotIsRetried: a policy that returns a backend the
// request's snapshot does not hold is a failed pick, tried again on
// another backend, not a crash (an empty reply to the client).
func TestPickOutsideSnapshotIsRetried(t *testing.T) {
	w := startWebd(t, "b1", "v1", "127.0.0.1:0")
	cfg := testConfig(w.addr)
	cfg.Pools[0].Health.Type = "none"
	zero := 0
	cfg.Pools[0].Retries = &zero // a failed pick is not a retry
	srv := newServer(t, cfg)
	const strays = 5
	sp := &strayPolicy{
		stray: backend.New(backend.Options{ID: "gone", Address: "127.0.0.1:1", Weight: 1, Healthy: true}),
		left:  make(chan struct{}, strays),
		next:  srv.pool("web").pol,
	}
	for range strays {
		sp.left <- struct{}{}
	}
	srv.pool("web").pol = sp // before Run: no request has started yet
	run(t, srv)
	waitBackends(t, srv, "up")
	c := newClient()
	for i := range strays + 2 {
		resp, err := c.Get("http://" + srv.Addr("http").String() + "/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "b1 ") {
			t.Fatalf("request %d: status %d: %s", i, resp.StatusCode, body)
		}
	}
	if len(sp.left) != 0 {
		t.Fatalf("%d stray picks left: the policy was not asked", len(sp.left))
	}
}
