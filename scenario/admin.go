package scenario

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"netsim/internal/api"
	"netsim/internal/instance"
)

// LBD drives a running lbd through its admin REST API (/api/v1/pools/…)
// and its backends' webd knobs (/admin/config). Process-level actions
// (stop, kill, start a backend, a region's lbd) and DNS changes need
// netsim's control API and dnsd's record write path, which do not exist
// yet: they return ErrNotAvailable.
type LBD struct {
	Admin    string // http://127.0.0.1:8404
	Token    string
	Pool     string // web
	Front    string // http://127.0.0.1:8080/
	WebToken string // webd's admin token, if its knobs need one
	HTTP     *http.Client

	mu    sync.Mutex
	orig  map[string]BackendStatus  // as found, to put back at Close
	knobs map[string]map[string]any // backend → its webd knobs before the first SetKnobs
	given map[string]map[string]any // backend → the latency the scenario set, for a restarted process
}

var _ Stack = (*LBD)(nil)

// Token finds lbd's admin token: env LBD_TOKEN, then LBD_TOKEN= in envFile
// (var/netsim.env, written by netsim); "" when neither has it.
func Token(envFile string) string { return tokens(envFile).LBD }

// tokens are the running netsim's admin tokens (instance.ReadTokens): a
// missing or unreadable env file leaves "" where the environment has none.
func tokens(envFile string) instance.Tokens {
	t, _ := instance.ReadTokens(envFile)
	return t
}

func (l *LBD) client() *http.Client {
	if l.HTTP != nil {
		return l.HTTP
	}
	return &http.Client{Timeout: 5 * time.Second}
}

// Frontend implements Stack.
func (l *LBD) Frontend() string { return l.Front }

func (l *LBD) do(ctx context.Context, method, url, token string, body any, out any) error {
	_, err := api.Call(ctx, l.client(), method, url, token, body, out)
	return err
}

type backendView struct {
	ID       string  `json:"id"`
	Address  string  `json:"address"`
	State    string  `json:"state"`
	Healthy  bool    `json:"healthy"`
	Weight   int     `json:"weight"`
	InFlight int64   `json:"in_flight"`
	Ejected  *string `json:"ejected_at"` // when passive checks took it out; null while they do not
}

func (l *LBD) backendsURL() string { return l.Admin + "/api/v1/pools/" + l.Pool + "/backends" }

// Backends implements Stack: lbd's view, plus each backend's own version.
func (l *LBD) Backends(ctx context.Context) ([]BackendStatus, error) {
	var env struct{ Data []backendView }
	if err := l.do(ctx, http.MethodGet, l.backendsURL()+"?limit=100", "", nil, &env); err != nil {
		return nil, err
	}
	out := make([]BackendStatus, 0, len(env.Data))
	for _, v := range env.Data {
		st := BackendStatus{ID: v.ID, Address: v.Address, State: v.State, Healthy: v.Healthy, Ejected: v.Ejected != nil, InFlight: v.InFlight, Weight: v.Weight}
		var cfg struct{ Data struct{ Version string } }
		if err := l.do(ctx, http.MethodGet, "http://"+v.Address+"/admin/config", "", nil, &cfg); err == nil {
			st.Version, st.Running = cfg.Data.Version, true
		}
		out = append(out, st)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.orig == nil {
		l.orig = map[string]BackendStatus{}
		for _, b := range out {
			l.orig[b.ID] = b
		}
	}
	return out, nil
}

func (l *LBD) backend(ctx context.Context, id string) (BackendStatus, error) {
	bs, err := l.Backends(ctx)
	if err != nil {
		return BackendStatus{}, err
	}
	for _, b := range bs {
		if b.ID == id {
			return b, nil
		}
	}
	return BackendStatus{}, fmt.Errorf("pool %s has no backend %q", l.Pool, id)
}

// SetState implements Stack.
func (l *LBD) SetState(ctx context.Context, id, state string) error {
	return l.do(ctx, http.MethodPatch, l.backendsURL()+"/"+id, l.Token, map[string]any{"state": state}, nil)
}

// SetWeight implements Stack.
func (l *LBD) SetWeight(ctx context.Context, id string, weight int) error {
	return l.do(ctx, http.MethodPatch, l.backendsURL()+"/"+id, l.Token, map[string]any{"weight": weight}, nil)
}

// register adds a backend that already runs at addr to lbd's pool.
func (l *LBD) register(ctx context.Context, id, addr string, weight int) error {
	return l.do(ctx, http.MethodPost, l.backendsURL(), l.Token, map[string]any{"id": id, "address": addr, "weight": weight}, nil)
}

// AddBackend implements Stack: starting a new webd needs netsim's control API.
func (l *LBD) AddBackend(ctx context.Context, id, version string, weight int) error {
	return fmt.Errorf("add backend %s: starting a webd in the running stack needs netsim's control API: %w", id, ErrNotAvailable)
}

// RemoveBackend implements Stack.
func (l *LBD) RemoveBackend(ctx context.Context, id string) error {
	return l.do(ctx, http.MethodDelete, l.backendsURL()+"/"+id, l.Token, nil, nil)
}

func needsControl(what string) error {
	return fmt.Errorf("%s needs netsim's control API (stop, kill and start a simulated part): %w; run with --standalone", what, ErrNotAvailable)
}

// StopBackend implements Stack.
func (l *LBD) StopBackend(ctx context.Context, id string) error { return needsControl("stop " + id) }

// KillBackend implements Stack.
func (l *LBD) KillBackend(ctx context.Context, id string) error { return needsControl("kill " + id) }

// StartBackend implements Stack.
func (l *LBD) StartBackend(ctx context.Context, id, version string) error {
	return needsControl("start " + id)
}

// StopRegion implements Stack.
func (l *LBD) StopRegion(ctx context.Context, region string) error {
	return needsControl("stop region " + region)
}

// StartRegion implements Stack.
func (l *LBD) StartRegion(ctx context.Context, region string) error {
	return needsControl("start region " + region)
}

// SetRecord implements Stack.
func (l *LBD) SetRecord(ctx context.Context, r RecordChange) error {
	return fmt.Errorf("change %s %s: dnsd's record write path (POST /api/v1/zones/{zone}/records): %w", r.Name, r.Type, ErrNotAvailable)
}

// FlushCache implements Stack.
func (l *LBD) FlushCache(ctx context.Context, name string) error {
	return fmt.Errorf("flush the resolver cache: %w", ErrNotAvailable)
}

// SetKnobs implements Stack through the backend's POST /admin/config.
func (l *LBD) SetKnobs(ctx context.Context, id string, k Knobs) error {
	b, err := l.backend(ctx, id)
	if err != nil {
		return err
	}
	patch := map[string]any{}
	if k.Healthy != nil {
		patch["healthy"] = *k.Healthy
	}
	if k.Latency != nil {
		patch["latency"] = k.Latency.String()
	}
	if k.Jitter != nil {
		patch["jitter"] = k.Jitter.String()
	}
	if k.ErrorRate != nil {
		patch["error_rate"] = *k.ErrorRate
	}
	if err := l.rememberKnobs(ctx, b); err != nil {
		return err
	}
	l.mu.Lock()
	if l.given == nil {
		l.given = map[string]map[string]any{}
	}
	if l.given[id] == nil {
		l.given[id] = map[string]any{}
	}
	for k, v := range patch {
		if k == "latency" || k == "jitter" { // the place's, not the build's: errors and health go with the process
			l.given[id][k] = v
		}
	}
	l.mu.Unlock()
	return l.do(ctx, http.MethodPost, "http://"+b.Address+"/admin/config", l.WebToken, patch, nil)
}

// rememberKnobs keeps a backend's knobs as found, before the scenario's
// first change of them, for Close.
func (l *LBD) rememberKnobs(ctx context.Context, b BackendStatus) error {
	l.mu.Lock()
	_, seen := l.knobs[b.ID]
	l.mu.Unlock()
	if seen {
		return nil
	}
	var cfg struct {
		Data struct {
			Latency   string  `json:"latency"`
			Jitter    string  `json:"jitter"`
			ErrorRate float64 `json:"error_rate"`
			Healthy   bool    `json:"healthy"`
		} `json:"data"`
	}
	if err := l.do(ctx, http.MethodGet, "http://"+b.Address+"/admin/config", "", nil, &cfg); err != nil {
		return fmt.Errorf("backend %s: reading its knobs before changing them: %w", b.ID, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.knobs == nil {
		l.knobs = map[string]map[string]any{}
	}
	l.knobs[b.ID] = map[string]any{"latency": cfg.Data.Latency, "jitter": cfg.Data.Jitter,
		"error_rate": cfg.Data.ErrorRate, "healthy": cfg.Data.Healthy, "addr": b.Address}
	return nil
}

// Close implements Stack: every backend it found is in the pool again
// (added back if a step removed it) with its admin state and weight, and
// webd's knobs the scenario changed (failing health, slow, errors) are as
// they were.
func (l *LBD) Close(ctx context.Context) error {
	var errs []string
	var now struct{ Data []backendView }
	nowErr := l.do(ctx, http.MethodGet, l.backendsURL()+"?limit=100", "", nil, &now)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range sortedKeys(l.knobs) {
		k := l.knobs[id]
		addr, _ := k["addr"].(string)
		delete(k, "addr")
		if err := l.do(ctx, http.MethodPost, "http://"+addr+"/admin/config", l.WebToken, k, nil); err != nil {
			errs = append(errs, err.Error())
		}
	}
	l.knobs, l.given = nil, nil
	for _, id := range sortedKeys(l.orig) {
		o := l.orig[id]
		present := nowErr != nil // unknown: try the PATCH
		for _, v := range now.Data {
			present = present || v.ID == id
		}
		if !present {
			if err := l.register(ctx, id, o.Address, o.Weight); err != nil {
				errs = append(errs, err.Error())
				continue
			}
		}
		state := "up"
		if o.State == "draining" || o.State == "maintenance" {
			state = o.State
		}
		if err := l.do(ctx, http.MethodPatch, l.backendsURL()+"/"+id, l.Token, map[string]any{"state": state, "weight": o.Weight}, nil); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("putting the stack back: %s", strings.Join(errs, "; "))
	}
	return nil
}
