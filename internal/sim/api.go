package sim

import (
	"errors"
	"net/http"
	"strings"

	"netsim/internal/api"
)

// PartChange is the body of PATCH /api/v1/parts/{name}.
type PartChange struct {
	// State is "running" (start), "stopped" (graceful) or "killed" (crash).
	State State `json:"state"`
	// Version is the version to start with; only with state "running".
	Version string `json:"version,omitempty"`
}

// Routes registers the parts API on mux under /api/v1/parts. guard wraps
// the handlers that change state (bearer token), and must let reads through
// as the caller's policy says.
func (s *Supervisor) Routes(mux *http.ServeMux, guard func(http.Handler) http.Handler) {
	api.Route(mux, "/api/v1/parts", map[string]http.HandlerFunc{http.MethodGet: api.List(s.List)})
	mux.Handle("/api/v1/parts/{name}", guard(api.Methods(map[string]http.HandlerFunc{
		http.MethodGet: func(w http.ResponseWriter, r *http.Request) {
			st, err := s.Status(r.PathValue("name"))
			if err != nil {
				api.Fail(w, r, problem(err))
				return
			}
			api.WriteData(w, r, http.StatusOK, st)
		},
		http.MethodPatch: s.patch,
	})))
}

func (s *Supervisor) patch(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var c PartChange
	if !api.Decode(w, r, &c) {
		return
	}
	var err error
	switch c.State {
	case Running:
		err = s.Start(name, c.Version)
	case Stopped, Killed:
		if c.Version != "" {
			api.WriteError(w, r, api.Errorf(http.StatusUnprocessableEntity, "bad_field",
				"version goes with state \"running\" only (it is the version to start)").With("field", "version"))
			return
		}
		if c.State == Stopped {
			err = s.Stop(name)
		} else {
			err = s.Kill(name)
		}
	default:
		api.WriteError(w, r, api.Errorf(http.StatusUnprocessableEntity, "bad_state",
			"state must be one of running, stopped, killed; got %q", c.State).With("field", "state"))
		return
	}
	if err != nil {
		api.Fail(w, r, problem(err))
		return
	}
	st, _ := s.Status(name)
	api.WriteData(w, r, http.StatusOK, st)
}

// problem maps the supervisor's errors onto API statuses.
func problem(err error) error {
	var unknown *ErrUnknown
	var state *ErrState
	switch {
	case errors.As(err, &unknown):
		return api.Errorf(http.StatusNotFound, "unknown_part", "%v", err).With("parts", strings.Join(unknown.Known, ","))
	case errors.As(err, &state):
		return api.Errorf(http.StatusConflict, "bad_state_change", "%v", err).With("state", string(state.State))
	default:
		return api.Errorf(http.StatusInternalServerError, "part_failed", "%v", err)
	}
}
