package dnsd

import (
	"net/http"
	"reflect"
	"sort"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"netsim/dns/rrl"
	"netsim/internal/api"
)

// limiter builds the rate limiter of listener s under settings rc, or nil
// when s's mode leaves it off.
func (d *Daemon) limiter(s ServerConfig, rc rrl.Config) (*rrl.Limiter, error) {
	on, logOnly := rrl.Active(s.RRL, s.Recursion)
	if !on {
		return nil, nil
	}
	lim, err := rrl.New(rc, logOnly, rrl.WithLogger(d.log.Named("rrl").With(zap.String("listener", s.Listen))), rrl.WithCounters(d.rrl.For(s.Listen)))
	if err != nil {
		return nil, err
	}
	return lim, nil
}

// keptLimiters builds the rate limiters of the listeners a reload to cfg
// keeps (by listen address; nil: off): a new one only where the settings
// changed, so that a reload does not forget who is limited. d.mu is held.
func (d *Daemon) keptLimiters(cfg Config) (map[string]*rrl.Limiter, error) {
	out := map[string]*rrl.Limiter{}
	for _, s := range cfg.Servers {
		r, ok := d.listeners[s.Listen]
		if !ok {
			continue
		}
		lim := r.l.Handler().RRL()
		if on, logOnly := rrl.Active(s.RRL, s.Recursion); !on {
			lim = nil
		} else if lim == nil || lim.LogOnly() != logOnly || !reflect.DeepEqual(lim.Config(), cfg.RRL) {
			var err error
			if lim, err = d.limiter(s, cfg.RRL); err != nil {
				return nil, err
			}
		}
		out[s.Listen] = lim
	}
	return out, nil
}

// limitedView is one account limited within the window, on one listener.
type limitedView struct {
	Listener string `json:"listener"`
	LogOnly  bool   `json:"log_only"`
	rrl.Account
	QType string `json:"qtype,omitempty"`
}

// limitedViews lists every listener's limited accounts, the most recently
// limited first.
func (d *Daemon) limitedViews() []limitedView {
	d.mu.Lock()
	type one struct {
		listen string
		lim    *rrl.Limiter
	}
	var ls []one
	for addr, r := range d.listeners {
		if lim := r.l.Handler().RRL(); lim != nil {
			ls = append(ls, one{addr, lim})
		}
	}
	d.mu.Unlock()
	out := []limitedView{}
	for _, l := range ls {
		got, _ := l.lim.Limited()
		for _, a := range got {
			v := limitedView{Listener: l.listen, LogOnly: l.lim.LogOnly(), Account: a}
			if a.QType != 0 {
				v.QType = dns.TypeToString[a.QType]
			}
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Last.Equal(out[j].Last) {
			return out[i].Last.After(out[j].Last)
		}
		if out[i].Listener != out[j].Listener {
			return out[i].Listener < out[j].Listener
		}
		return out[i].Prefix.String() < out[j].Prefix.String()
	})
	return out
}

// registerRateLimitRoutes: GET /api/v1/rate-limits lists the client
// prefixes limited within the window, per listener and account.
func (d *Daemon) registerRateLimitRoutes(mux *http.ServeMux) {
	api.Route(mux, "/api/v1/rate-limits", map[string]http.HandlerFunc{http.MethodGet: api.List(d.limitedViews)})
}
