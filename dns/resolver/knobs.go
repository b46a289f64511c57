package resolver

import (
	"net/http"

	"go.uber.org/zap"

	"netsim/internal/api"
)

// Knobs are the resolver settings that can be switched while it runs,
// without a restart and without losing the cache: the thundering-herd
// lesson turns both off to let many clients meet an expired name at once.
type Knobs struct {
	// Coalesce: identical questions in flight share one resolution.
	Coalesce bool `json:"coalesce"`
	// Prefetch: popular entries are refreshed before they expire.
	Prefetch bool `json:"prefetch"`
}

// Knobs returns the settings in force: as configured (resolver.coalesce,
// resolver.prefetch) until SetKnobs or the admin API changes them.
func (r *Resolver) Knobs() Knobs {
	if k := r.knobs.Load(); k != nil {
		return *k
	}
	return Knobs{Coalesce: r.cfg.Coalesce, Prefetch: r.cfg.Prefetch}
}

// SetKnobs switches the knobs; resolutions already in flight finish as
// they started.
func (r *Resolver) SetKnobs(k Knobs) {
	r.knobs.Store(&k)
	r.log.Info("resolver knobs set", zap.Bool("coalesce", k.Coalesce), zap.Bool("prefetch", k.Prefetch))
}

// knobsPatch is the body of PATCH /api/v1/resolver: fields left out keep
// their value.
type knobsPatch struct {
	Coalesce *bool `json:"coalesce"`
	Prefetch *bool `json:"prefetch"`
}

// RegisterKnobRoutes adds GET and PATCH /api/v1/resolver (the knobs) to
// mux. Mutating calls are expected to be wrapped with api.Auth by the caller.
func (r *Resolver) RegisterKnobRoutes(mux *http.ServeMux) {
	api.Route(mux, "/api/v1/resolver", map[string]http.HandlerFunc{
		http.MethodGet: func(w http.ResponseWriter, req *http.Request) {
			api.WriteData(w, req, http.StatusOK, r.Knobs())
		},
		http.MethodPatch: func(w http.ResponseWriter, req *http.Request) {
			var p knobsPatch
			if !api.DecodePatch(w, req, &p, `{"coalesce": false} and/or {"prefetch": false}`) {
				return
			}
			for {
				old := r.knobs.Load()
				k := r.Knobs()
				if old != nil {
					k = *old
				}
				if p.Coalesce != nil {
					k.Coalesce = *p.Coalesce
				}
				if p.Prefetch != nil {
					k.Prefetch = *p.Prefetch
				}
				if r.knobs.CompareAndSwap(old, &k) { // two PATCHes of different knobs both count
					r.log.Info("resolver knobs set", zap.Bool("coalesce", k.Coalesce), zap.Bool("prefetch", k.Prefetch))
					api.WriteData(w, req, http.StatusOK, k)
					return
				}
			}
		},
	})
}
