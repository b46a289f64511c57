package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"netsim/internal/tick"
)

// reapplyKnobs gives a restarted backend the knobs the scenario set on
// it, once its process answers.
func (n *Netsim) reapplyKnobs(ctx context.Context, id string) error {
	n.mu.Lock()
	patch := n.given[id]
	addr := n.orig[id].Address
	n.mu.Unlock()
	if len(patch) == 0 || addr == "" {
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := n.do(ctx, http.MethodPost, "http://"+addr+"/admin/config", n.WebToken, patch, nil)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("backend %s restarted but its knobs could not be set again: %w", id, err)
		}
		if err := tick.Sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

func (n *Netsim) partState(ctx context.Context, name string) (string, error) {
	var st struct {
		Data struct{ State string } `json:"data"`
	}
	err := n.do(ctx, http.MethodGet, n.Control+"/api/v1/parts/"+url.PathEscape(name), "", nil, &st)
	return st.Data.State, err
}

// Close implements Stack: a region the scenario stopped is started again,
// so is a backend process it left stopped, and a backend it left on
// another version is drained, restarted on the version it had and let
// back in; then the main lbd's backends get back their state and weight,
// and so do the regional lbds'; webd's knobs, DNS records and the
// resolver's knobs are put back as found.
func (n *Netsim) Close(ctx context.Context) error {
	errs := []error{}
	n.regions.Range(func(k, _ any) bool {
		if st, err := n.partState(ctx, "lbd-"+k.(string)); err == nil && st != "running" {
			errs = append(errs, n.StartRegion(ctx, k.(string)))
		}
		return true
	})
	n.mu.Lock()
	orig := make(map[string]BackendStatus, len(n.orig))
	for k, v := range n.orig {
		orig[k] = v
	}
	n.given = nil // put back as found, not as the scenario set them
	n.mu.Unlock()
	for _, id := range sortedKeys(orig) {
		o := orig[id]
		if !o.Running {
			continue
		}
		if st, err := n.partState(ctx, id); err == nil && st != "running" {
			errs = append(errs, n.StartBackend(ctx, id, o.Version))
			continue
		}
		if now, err := n.backend(ctx, id); err == nil && now.Running && now.Version != o.Version {
			errs = append(errs, n.redeploy(ctx, id, o.Version))
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
	errs = append(errs, n.closeDNS(ctx)...)
	return errors.Join(errs...)
}

// redeploy puts a backend back on version without failing a request:
// drained everywhere, stopped once idle, started, let back in when its
// /healthz answers.
func (n *Netsim) redeploy(ctx context.Context, id, version string) error {
	if err := n.SetState(ctx, id, "draining"); err != nil {
		return err
	}
	wait := func(what string, cond func(BackendStatus) bool) error {
		for {
			if b, err := n.backend(ctx, id); err == nil && cond(b) {
				return nil
			}
			if err := tick.Sleep(ctx, 50*time.Millisecond); err != nil {
				return fmt.Errorf("putting %s back on %s: waiting for %s: %w", id, version, what, err)
			}
		}
	}
	if err := wait("in-flight 0", func(b BackendStatus) bool { return b.InFlight == 0 }); err != nil {
		return err
	}
	if err := n.StopBackend(ctx, id); err != nil {
		return err
	}
	if err := n.StartBackend(ctx, id, version); err != nil {
		return err
	}
	hc := &http.Client{Timeout: time.Second}
	return wait("ready", func(b BackendStatus) bool {
		if !b.Running || !b.Healthy || b.Version != version {
			return false
		}
		resp, err := hc.Get("http://" + b.Address + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode/100 == 2
	})
}
