package world

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"netsim/internal/api"
)

// Handler serves the world's admin API (REST.md's rules), to be mounted
// at the caller's mux under /api/v1/world:
//
//	GET    /api/v1/world                  places, prefixes, links and the RTT matrix
//	GET    /api/v1/world/links            the links, paged (?limit=&offset=)
//	DELETE /api/v1/world/links            every link back to its configured value
//	GET    /api/v1/world/links/{a}/{b}    one link
//	PATCH  /api/v1/world/links/{a}/{b}    {"latency":"800ms","jitter":"20ms","loss_percent":10,"bandwidth":"1Mbit"}
//	DELETE /api/v1/world/links/{a}/{b}    that link back to its configured value
//
// mutating wraps the PATCH and DELETE handlers (the caller's bearer-token
// check, e.g. api.Auth); nil makes the API read-only (403 on changes).
func (w *World) Handler(mutating func(http.Handler) http.Handler) http.Handler {
	if mutating == nil {
		mutating = func(http.Handler) http.Handler {
			return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				api.WriteError(rw, r, api.Errorf(http.StatusForbidden, "read_only", "this world's admin API is read-only; changes are not enabled here"))
			})
		}
	}
	guard := func(f http.HandlerFunc) http.HandlerFunc { return mutating(f).ServeHTTP }
	mux := http.NewServeMux()
	mux.Handle("/api/v1/world", api.Methods(map[string]http.HandlerFunc{
		http.MethodGet: func(rw http.ResponseWriter, r *http.Request) { api.WriteData(rw, r, http.StatusOK, w.View()) },
	}))
	mux.Handle("/api/v1/world/links", api.Methods(map[string]http.HandlerFunc{
		http.MethodGet: func(rw http.ResponseWriter, r *http.Request) { api.WriteList(rw, r, w.View().Links) },
		http.MethodDelete: guard(func(rw http.ResponseWriter, r *http.Request) {
			if err := w.ResetLinks(); err != nil {
				api.WriteError(rw, r, problem(err))
				return
			}
			rw.WriteHeader(http.StatusNoContent)
		}),
	}))
	mux.Handle("/api/v1/world/links/{a}/{b}", api.Methods(map[string]http.HandlerFunc{
		http.MethodGet: func(rw http.ResponseWriter, r *http.Request) {
			v, err := w.LinkView(r.PathValue("a"), r.PathValue("b"))
			if err != nil {
				api.WriteError(rw, r, problem(err))
				return
			}
			api.WriteData(rw, r, http.StatusOK, v)
		},
		http.MethodPatch: guard(w.patchLink),
		http.MethodDelete: guard(func(rw http.ResponseWriter, r *http.Request) {
			if _, err := w.ResetLink(r.PathValue("a"), r.PathValue("b")); err != nil {
				api.WriteError(rw, r, problem(err))
				return
			}
			rw.WriteHeader(http.StatusNoContent)
		}),
	}))
	mux.HandleFunc("/", api.NotFound)
	return mux
}

// linkPatch is PATCH's body; absent fields keep their value.
type linkPatch struct {
	Latency     *string  `json:"latency"`
	Jitter      *string  `json:"jitter"`
	LossPercent *float64 `json:"loss_percent"`
	Bandwidth   *string  `json:"bandwidth"`
}

func (w *World) patchLink(rw http.ResponseWriter, r *http.Request) {
	a, b := r.PathValue("a"), r.PathValue("b")
	if _, err := w.Link(a, b); err != nil { // 404/409 before reading the body
		api.WriteError(rw, r, problem(err))
		return
	}
	var p linkPatch
	if !api.Decode(rw, r, &p) {
		return
	}
	var c Change
	var prob *api.Problem
	c.Latency, prob = patchDuration("latency", p.Latency)
	if prob == nil {
		c.Jitter, prob = patchDuration("jitter", p.Jitter)
	}
	if prob == nil && p.Bandwidth != nil {
		bw, err := ParseBandwidth(*p.Bandwidth)
		if err != nil {
			prob = api.Errorf(http.StatusBadRequest, "bad_field", "field \"bandwidth\": %v", err).With("field", "bandwidth")
		}
		c.Bandwidth = &bw
	}
	if prob == nil && p.Latency == nil && p.Jitter == nil && p.LossPercent == nil && p.Bandwidth == nil {
		prob = api.Errorf(http.StatusBadRequest, "empty_patch", "the body changes nothing: send one or more of latency, jitter, loss_percent, bandwidth")
	}
	if prob != nil {
		api.WriteError(rw, r, prob)
		return
	}
	c.LossPercent = p.LossPercent
	if _, err := w.SetLink(a, b, c); err != nil {
		api.WriteError(rw, r, problem(err))
		return
	}
	v, err := w.LinkView(a, b)
	if err != nil {
		api.WriteError(rw, r, problem(err))
		return
	}
	api.WriteData(rw, r, http.StatusOK, v)
}

func patchDuration(field string, s *string) (*time.Duration, *api.Problem) {
	if s == nil {
		return nil, nil
	}
	d, err := time.ParseDuration(*s)
	if *s == "0" {
		d, err = 0, nil
	}
	if err != nil {
		return nil, api.Errorf(http.StatusBadRequest, "bad_field", "field %q must be a duration such as 40ms or 1.5s, got %q", field, *s).With("field", field)
	}
	return &d, nil
}

// problem maps the world's errors onto REST.md's statuses.
func problem(err error) *api.Problem {
	var unknown *UnknownPlaceError
	var cfg *ConfigError
	switch {
	case errors.Is(err, ErrFlat):
		return api.Errorf(http.StatusConflict, "world_flat", "%v", err)
	case errors.As(err, &unknown):
		return api.Errorf(http.StatusNotFound, "unknown_place", "%v", err).With("place", unknown.Name).With("places", unknown.Known)
	case errors.As(err, &cfg):
		return api.Errorf(http.StatusUnprocessableEntity, "impossible_value", "%v", err).With("field", cfg.Key).With("value", fmt.Sprint(cfg.Value))
	}
	return api.Errorf(http.StatusInternalServerError, "internal", "%v", err)
}
