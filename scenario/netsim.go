package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/miekg/dns"
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
	Resolver     string   // the recursive resolver, host:port ("" = 127.0.0.1:1053)

	undo    dnsUndo
	regions sync.Map // region → true once the scenario stopped its lbd
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

// AddBackend implements Stack: refused, since the running stack's backends
// are netsim's parts b1..b3 and its control API starts no new ones.
func (n *Netsim) AddBackend(ctx context.Context, id, version string, weight int) error {
	return fmt.Errorf("add backend %s: the running stack has the webd backends netsim started (b1, b2, b3) and its control API "+
		"starts no new one; replace a backend's version instead (weight 0, stop, start {backend: b3, version: %s}, as the canary "+
		"scenario does), or run with --standalone: %w", id, version, ErrNotAvailable)
}

// RemoveBackend implements Stack on every lbd that fronts the backend;
// Close adds it back.
func (n *Netsim) RemoveBackend(ctx context.Context, id string) error {
	return n.everywhere(ctx, id, func(l *LBD) error { return l.RemoveBackend(ctx, id) })
}

// StopBackend implements Stack: a graceful stop of the backend's process.
func (n *Netsim) StopBackend(ctx context.Context, id string) error {
	return n.part(ctx, id, map[string]any{"state": "stopped"})
}

// KillBackend implements Stack: the process dies; its connections are reset.
func (n *Netsim) KillBackend(ctx context.Context, id string) error {
	return n.part(ctx, id, map[string]any{"state": "killed"})
}

// StartBackend implements Stack. A latency the scenario gave the backend
// is the place's (a slow disk, a far network): the new process gets it
// too, once it answers; errors and a failing health check belong to the
// build and end with the process.
func (n *Netsim) StartBackend(ctx context.Context, id, version string) error {
	if err := n.part(ctx, id, map[string]any{"state": "running", "version": version}); err != nil {
		return err
	}
	return n.reapplyKnobs(ctx, id)
}

// StopRegion implements Stack: the region's lbd stops.
func (n *Netsim) StopRegion(ctx context.Context, region string) error {
	n.regions.Store(region, true)
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
		u += "/" + url.PathEscape(dns.Fqdn(name))
	}
	err := n.do(ctx, http.MethodDelete, u, n.DNSToken, nil, nil)
	if err != nil && strings.Contains(err.Error(), ": 404 not_cached:") {
		return nil // nothing cached for the name: flushed already
	}
	return err
}

// trimURL is an admin base URL without a trailing slash.
func trimURL(s string) string { return strings.TrimSuffix(s, "/") }
