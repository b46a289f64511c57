package api

import (
	"net/http"
	"net/http/pprof"
)

// Route registers one admin resource: a path pattern and its handlers by
// method (Methods adds HEAD, OPTIONS and 405). It is how dnsd and lbd, and
// the packages that add routes to them, register every admin route.
func Route(mux *http.ServeMux, pattern string, handlers map[string]http.HandlerFunc) {
	mux.Handle(pattern, Methods(handlers))
}

// Pprof registers /debug/pprof/ (the index and the named profiles),
// profile, symbol and trace. Register it only when the config asks
// (admin.pprof); Auth keeps it behind the token off loopback.
func Pprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// WriteList writes one page of all, as the request's limit and offset
// ask, or the problem with them.
func WriteList[T any](w http.ResponseWriter, r *http.Request, all []T) {
	page, prob := ParsePage(r)
	if prob != nil {
		WriteError(w, r, prob)
		return
	}
	WritePage(w, r, page, all)
}

// List is a GET handler for a collection: a page of what items returns.
func List[T any](items func() []T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { WriteList(w, r, items()) }
}
