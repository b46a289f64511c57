package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Netsim drives the running netsim: backend states and weights through the
// main lbd's admin API and, for every backend-level action, through every
// regional lbd that fronts the same backend too (as an operator would); the
// processes (stop, kill, start a backend; a region's lbd) through netsim's
// control API (/api/v1/parts); the resolver cache through dnsd's admin API.
type Netsim struct {
	*LBD
	Control      string   // http://127.0.0.1:8000
	ControlToken string   // NETSIM_CONTROL_TOKEN
	DNSAdmin     string   // http://127.0.0.1:9153
	DNSToken     string   // DNSD_TOKEN
	Peers        []string // admin URLs of the regional lbds
}

var _ Stack = (*Netsim)(nil)

// peers are the regional lbds that front backend id now (a stopped region,
// or one without that backend, is skipped).
func (n *Netsim) peers(ctx context.Context, id string) []*LBD {
	var out []*LBD
	for _, p := range n.Peers {
		peer := &LBD{Admin: p, Token: n.Token, Pool: n.Pool, HTTP: n.HTTP}
		if _, err := peer.backend(ctx, id); err == nil {
			out = append(out, peer)
		}
	}
	return out
}

// everywhere applies f on the main lbd, then on every regional lbd that
// fronts the backend; the first error wins, the others are joined.
func (n *Netsim) everywhere(ctx context.Context, id string, f func(*LBD) error) error {
	errs := []error{f(n.LBD)}
	for _, p := range n.peers(ctx, id) {
		if err := f(p); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Admin, err))
		}
	}
	return errors.Join(errs...)
}

// SetState implements Stack on every lbd that fronts the backend.
func (n *Netsim) SetState(ctx context.Context, id, state string) error {
	return n.everywhere(ctx, id, func(l *LBD) error { return l.SetState(ctx, id, state) })
}

// SetWeight implements Stack on every lbd that fronts the backend.
func (n *Netsim) SetWeight(ctx context.Context, id string, weight int) error {
	return n.everywhere(ctx, id, func(l *LBD) error { return l.SetWeight(ctx, id, weight) })
}

func (n *Netsim) part(ctx context.Context, name string, change map[string]any) error {
	return n.do(ctx, http.MethodPatch, n.Control+"/api/v1/parts/"+url.PathEscape(name), n.ControlToken, change, nil)
}

// StopBackend implements Stack: a graceful stop of the backend's process.
func (n *Netsim) StopBackend(ctx context.Context, id string) error {
	return n.part(ctx, id, map[string]any{"state": "stopped"})
}

// KillBackend implements Stack: the process dies; its connections are reset.
func (n *Netsim) KillBackend(ctx context.Context, id string) error {
	return n.part(ctx, id, map[string]any{"state": "killed"})
}

// StartBackend implements Stack.
func (n *Netsim) StartBackend(ctx context.Context, id, version string) error {
	return n.part(ctx, id, map[string]any{"state": "running", "version": version})
}

// StopRegion implements Stack: the region's lbd stops.
func (n *Netsim) StopRegion(ctx context.Context, region string) error {
	return n.part(ctx, "lbd-"+region, map[string]any{"state": "stopped"})
}

// StartRegion implements Stack.
func (n *Netsim) StartRegion(ctx context.Context, region string) error {
	return n.part(ctx, "lbd-"+region, map[string]any{"state": "running"})
}

// FlushCache implements Stack: one name, or the whole cache when name is "".
func (n *Netsim) FlushCache(ctx context.Context, name string) error {
	u := n.DNSAdmin + "/api/v1/cache"
	if name != "" {
		u += "?name=" + url.QueryEscape(name)
	}
	return n.do(ctx, http.MethodDelete, u, n.DNSToken, nil, nil)
}

// Close implements Stack: the main lbd's backends get back their state and
// weight, and so do the regional lbds'; a backend process the scenario left
// stopped is started again with the version it had.
func (n *Netsim) Close(ctx context.Context) error {
	errs := []error{}
	n.mu.Lock()
	orig := make(map[string]BackendStatus, len(n.orig))
	for k, v := range n.orig {
		orig[k] = v
	}
	n.mu.Unlock()
	for _, id := range sortedKeys(orig) {
		if o := orig[id]; o.Running {
			var st struct {
				Data struct{ State string } `json:"data"`
			}
			err := n.do(ctx, http.MethodGet, n.Control+"/api/v1/parts/"+url.PathEscape(id), "", nil, &st)
			if err == nil && st.Data.State != "running" {
				errs = append(errs, n.StartBackend(ctx, id, o.Version))
			}
		}
	}
	errs = append(errs, n.LBD.Close(ctx))
	for _, p := range n.Peers {
		peer := &LBD{Admin: p, Token: n.Token, Pool: n.Pool, HTTP: n.HTTP, orig: orig}
		if _, err := peer.Backends(ctx); err != nil {
			continue // a stopped region has nothing to put back
		}
		peer.orig = orig
		errs = append(errs, peer.Close(ctx))
	}
	return errors.Join(errs...)
}

// trimURL is an admin base URL without a trailing slash.
func trimURL(s string) string { return strings.TrimSuffix(s, "/") }
