// Package web is netsim's live page: one origin that serves the page (plain
// HTML, CSS and JavaScript embedded in the binary, no build step, nothing
// fetched from the internet) and proxies the admin APIs and event streams of
// dnsd and of every lbd under paths of its own, so the browser never makes a
// cross-origin call:
//
//	GET  /                        the page
//	GET  /ui/…                    its scripts and styles; /ui/config (what the page draws),
//	                              /ui/events (every daemon's event stream merged, SSE),
//	                              /ui/ask (a query to the resolver as a client of a region)
//	     /dns/api/v1/…            dnsd's admin API (including /dns/api/v1/events)
//	     /lb/{name}/api/v1/…      that lbd's admin API
//	     anything else            Options.Control (netsim's control API)
//
// The page holds no secret. Changes need the bearer token a person enters in
// the page (netsim's control token); the proxy checks it and sends each
// daemon its own admin token instead. Reads are open on loopback, like the
// daemons' own (internal/api.Auth).
package web

import (
	"cmp"
	"embed"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"

	"netsim/internal/api"
)

//go:embed static
var static embed.FS

// Region is where a client can "stand": a client of it sends Subnet as its
// EDNS Client Subnet, which dnsd's GeoDNS locates.
type Region struct {
	Name   string       `json:"name"`   // "eu"
	Label  string       `json:"label"`  // "Europe"
	Subnet netip.Prefix `json:"subnet"` // 127.0.10.0/24
	LB     string       `json:"lb"`     // the lbd of the region ("lbd-eu"), "" if none
}

// Options configure the page. DNSAdmin, Resolver and LBAdmins are host:port
// addresses on loopback.
type Options struct {
	DNSAdmin string            // dnsd's admin API
	Resolver string            // dnsd's recursive listener, asked by /ui/ask
	LBAdmins map[string]string // lbd name ("lbd", "lbd-eu", …) → its admin API
	Pool     string            // the HTTP pool shown ("" = "web")
	Regions  []Region

	// Control serves every path the page does not own (netsim's control
	// API); nil: 404.
	Control http.Handler
	// Token is the bearer token the page must present for changes (and
	// for reads from off loopback). DNSToken and LBToken are the admin
	// tokens the proxy sends on to dnsd and to the lbds.
	Token, DNSToken, LBToken func() string

	Log       *zap.Logger
	Transport http.RoundTripper // to the daemons; nil: a transport with short dial timeouts
	// Heartbeat is the interval of ": ping" comments on /ui/events (0 = 15 s).
	Heartbeat time.Duration
}

// Handler serves the page, its endpoints and the proxies.
func Handler(o Options) http.Handler {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Pool == "" {
		o.Pool = "web"
	}
	if o.Transport == nil {
		o.Transport = &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			ResponseHeaderTimeout: 10 * time.Second,
			MaxIdleConnsPerHost:   8,
		}
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	for _, f := range []*func() string{&o.Token, &o.DNSToken, &o.LBToken} {
		if *f == nil {
			*f = func() string { return "" }
		}
	}
	h := &handler{o: o}
	mux := http.NewServeMux()
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic("web: static files are not embedded: " + err.Error()) // a build defect
	}
	assets := http.StripPrefix("/ui/", http.FileServerFS(files))
	mux.Handle("GET /{$}", noCache(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, files, "index.html")
	})))
	mux.Handle("GET /ui/", noCache(assets))
	mux.HandleFunc("GET /ui/config", h.config)
	mux.Handle("GET /ui/events", h.guard(http.HandlerFunc(h.events)))
	mux.Handle("GET /ui/ask", h.guard(http.HandlerFunc(h.ask)))
	mux.Handle("/dns/", h.guard(h.proxy("dnsd", "/dns", o.DNSAdmin, o.DNSToken)))
	mux.Handle("/lb/{name}/", h.guard(h.lbProxies()))
	if o.Control != nil {
		mux.Handle("/", o.Control)
	} else {
		mux.HandleFunc("/", api.NotFound)
	}
	return mux
}

type handler struct{ o Options }

// guard applies the daemons' rule with netsim's token: reads are open on
// loopback, everything else needs the token.
func (h *handler) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.Auth(h.o.Token(), next).ServeHTTP(w, r)
	})
}

func noCache(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

// lbNames are the lbds, the main one ("lbd") first, then by name.
func (o Options) lbNames() []string {
	names := make([]string, 0, len(o.LBAdmins))
	for n := range o.LBAdmins {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if (a == "lbd") != (b == "lbd") {
			if a == "lbd" {
				return -1
			}
			return 1
		}
		return cmp.Compare(a, b)
	})
	return names
}

// pageConfig is what the page draws: no addresses it would call directly
// and no tokens, only names and what they are.
type pageConfig struct {
	Pool     string   `json:"pool"`
	Resolver string   `json:"resolver"`
	DNSAdmin string   `json:"dns_admin"`
	LBDs     []lbView `json:"lbds"`
	Regions  []Region `json:"regions"`
}

type lbView struct {
	Name  string `json:"name"`
	Admin string `json:"admin"`
}

func (h *handler) config(w http.ResponseWriter, r *http.Request) {
	c := pageConfig{Pool: h.o.Pool, Resolver: h.o.Resolver, DNSAdmin: h.o.DNSAdmin, LBDs: []lbView{}, Regions: h.o.Regions}
	for _, n := range h.o.lbNames() {
		c.LBDs = append(c.LBDs, lbView{Name: n, Admin: h.o.LBAdmins[n]})
	}
	if c.Regions == nil {
		c.Regions = []Region{}
	}
	api.WriteData(w, r, http.StatusOK, c)
}
