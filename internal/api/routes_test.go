package api

import (
	"net/http"
	"testing"

	"netsim/internal/testutil"
)

func TestRouteAndPprof(t *testing.T) {
	mux := http.NewServeMux()
	Route(mux, "/r", map[string]http.HandlerFunc{
		http.MethodPost: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) },
	})
	Pprof(mux)
	if w := testutil.Do(mux, "POST", "/r", "", nil); w.Code != http.StatusCreated {
		t.Errorf("POST /r: %d", w.Code)
	}
	if w := testutil.Do(mux, "GET", "/r", "", nil); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "OPTIONS, POST" {
		t.Errorf("GET /r: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
	if w := testutil.Do(mux, "GET", "/debug/pprof/", "", nil); w.Code != http.StatusOK {
		t.Errorf("GET /debug/pprof/: %d", w.Code)
	}
	if w := testutil.Do(mux, "GET", "/debug/pprof/symbol", "", nil); w.Code != http.StatusOK {
		t.Errorf("GET /debug/pprof/symbol: %d", w.Code)
	}
}
