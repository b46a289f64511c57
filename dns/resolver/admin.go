package resolver

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/cache"
	"netsim/internal/api"
)

// RegisterRoutes adds the resolver's admin API to mux (see README.md):
//
//	GET    /api/v1/cache?name=&type=        entries, paged, with remaining TTL and stale flag
//	DELETE /api/v1/cache                    flush everything
//	GET    /api/v1/cache/{name}?type=       the entries of one name
//	DELETE /api/v1/cache/{name}?type=       flush one name (or one type of it)
//	GET    /api/v1/resolutions?name=&type=&client=  a fresh resolution explained (Trace; client: whose ECS subnet to send)
//	GET    /api/v1/upstreams                servers asked so far: RTT, failures, EDNS
//
// Mutating calls are expected to be wrapped with api.Auth by the caller.
func (r *Resolver) RegisterRoutes(mux *http.ServeMux) {
	api.Route(mux, "/api/v1/cache", map[string]http.HandlerFunc{
		http.MethodGet:    r.listCache,
		http.MethodDelete: r.flushCache,
	})
	api.Route(mux, "/api/v1/cache/{name}", map[string]http.HandlerFunc{
		http.MethodGet:    r.getCacheName,
		http.MethodDelete: r.deleteCacheName,
	})
	api.Route(mux, "/api/v1/resolutions", map[string]http.HandlerFunc{
		http.MethodGet: r.resolution,
	})
	api.Route(mux, "/api/v1/upstreams", map[string]http.HandlerFunc{
		http.MethodGet: api.List(r.Upstreams),
	})
}

// CacheEntry is one cache entry as the admin API shows it.
type CacheEntry struct {
	Name         string    `json:"name"`
	Type         string    `json:"type"`
	Kind         string    `json:"kind"` // answer or delegation
	Scope        string    `json:"scope,omitempty"`
	Rcode        string    `json:"rcode"`
	Negative     bool      `json:"negative"`
	TTL          int       `json:"ttl"`           // seconds, as stored after caps
	RemainingTTL int       `json:"remaining_ttl"` // seconds; 0 once expired
	Stale        bool      `json:"stale"`
	ExpiresAt    time.Time `json:"expires_at"`
	Hits         uint32    `json:"hits"`
	SizeBytes    int64     `json:"size_bytes"`
	Records      []string  `json:"records"`
}

func (r *Resolver) entry(h cache.Hit) CacheEntry {
	now := r.now()
	var m dns.Msg
	h.Fill(&m, now, 0)
	e := CacheEntry{
		Name:         h.Key.Name,
		Type:         dns.TypeToString[h.Key.Type],
		Kind:         h.Key.Kind.String(),
		Rcode:        dns.RcodeToString[h.Msg.Rcode],
		Negative:     h.Negative,
		TTL:          int(h.TTL / time.Second),
		RemainingTTL: max(0, int((h.Remaining+time.Second-1)/time.Second)),
		Stale:        h.Stale,
		ExpiresAt:    h.Stored.Add(h.TTL).UTC(),
		Hits:         h.Hits,
		SizeBytes:    h.Size,
		Records:      []string{},
	}
	if h.Key.Scope.IsValid() {
		e.Scope = h.Key.Scope.String()
	}
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			e.Records = append(e.Records, rr.String())
		}
	}
	return e
}

func parseType(s string) (uint16, bool) {
	if s == "" {
		return 0, true
	}
	u := strings.ToUpper(s)
	if t, ok := dns.StringToType[u]; ok {
		return t, true
	}
	if n, err := strconv.ParseUint(strings.TrimPrefix(u, "TYPE"), 10, 16); err == nil && strings.HasPrefix(u, "TYPE") && n > 0 {
		return uint16(n), true
	}
	return 0, false
}

func badType(s string) *api.Problem {
	return api.Errorf(http.StatusBadRequest, "bad_type", "type %q is not a DNS type (try A, AAAA, MX, NS, TXT or TYPE65)", s).With("field", "type")
}

func parseName(s string) (string, *api.Problem) {
	if _, ok := dns.IsDomainName(s); !ok || s == "" {
		return "", api.Errorf(http.StatusBadRequest, "bad_name", "name %q is not a domain name", s).With("field", "name")
	}
	return strings.ToLower(dns.Fqdn(s)), nil
}

func (r *Resolver) filtered(w http.ResponseWriter, req *http.Request, name string) ([]CacheEntry, bool) {
	q := req.URL.Query()
	if n := q.Get("name"); n != "" && name == "" {
		var p *api.Problem
		if name, p = parseName(n); p != nil {
			api.WriteError(w, req, p)
			return nil, false
		}
	}
	qt, ok := parseType(q.Get("type"))
	if !ok {
		api.WriteError(w, req, badType(q.Get("type")))
		return nil, false
	}
	hits := r.cache.Entries(func(k cache.Key) bool {
		return (name == "" || k.Name == name) && (qt == 0 || k.Type == qt)
	})
	out := make([]CacheEntry, 0, len(hits))
	for _, h := range hits {
		out = append(out, r.entry(h))
	}
	return out, true
}

func (r *Resolver) listCache(w http.ResponseWriter, req *http.Request) {
	out, ok := r.filtered(w, req, "")
	if !ok {
		return
	}
	api.WriteList(w, req, out)
}

func (r *Resolver) getCacheName(w http.ResponseWriter, req *http.Request) {
	name, p := parseName(req.PathValue("name"))
	if p != nil {
		api.WriteError(w, req, p)
		return
	}
	out, ok := r.filtered(w, req, name)
	if !ok {
		return
	}
	if len(out) == 0 {
		api.WriteError(w, req, api.Errorf(http.StatusNotFound, "not_cached", "nothing is cached for %s", name).With("name", name))
		return
	}
	api.WriteList(w, req, out)
}

func (r *Resolver) flushCache(w http.ResponseWriter, req *http.Request) {
	n := r.cache.Flush()
	r.forgetFailures("")
	r.val.flush()
	r.log.Info("cache flushed through the admin API")
	w.Header().Set("X-Flushed-Count", strconv.Itoa(n))
	w.WriteHeader(http.StatusNoContent)
}

func (r *Resolver) deleteCacheName(w http.ResponseWriter, req *http.Request) {
	name, p := parseName(req.PathValue("name"))
	if p != nil {
		api.WriteError(w, req, p)
		return
	}
	qs := req.URL.Query().Get("type")
	qt, ok := parseType(qs)
	if !ok {
		api.WriteError(w, req, badType(qs))
		return
	}
	r.forgetFailures(name)
	n := 0
	if qt == 0 {
		n = r.cache.DeleteName(name)
	} else {
		for _, h := range r.cache.Entries(func(k cache.Key) bool { return k.Name == name && k.Type == qt }) {
			if r.cache.Delete(h.Key) {
				n++
			}
		}
	}
	if n == 0 {
		api.WriteError(w, req, api.Errorf(http.StatusNotFound, "not_cached", "nothing is cached for %s", name).With("name", name))
		return
	}
	w.Header().Set("X-Flushed-Count", strconv.Itoa(n))
	w.WriteHeader(http.StatusNoContent)
}

func (r *Resolver) resolution(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	n := q.Get("name")
	if n == "" {
		api.WriteError(w, req, api.Errorf(http.StatusBadRequest, "missing_name", "give the name to resolve: ?name=www.example.test&type=A").With("field", "name"))
		return
	}
	name, p := parseName(n)
	if p != nil {
		api.WriteError(w, req, p)
		return
	}
	qt, ok := parseType(q.Get("type"))
	if !ok {
		api.WriteError(w, req, badType(q.Get("type")))
		return
	}
	if qt == 0 {
		qt = dns.TypeA
	}
	var client netip.Addr
	if c := q.Get("client"); c != "" {
		a, err := netip.ParseAddr(c)
		if err != nil {
			api.WriteError(w, req, api.Errorf(http.StatusBadRequest, "bad_client", "client %q is not an IP address", c).With("field", "client"))
			return
		}
		client = a.Unmap()
	}
	res, err := r.TraceFrom(req.Context(), name, qt, client)
	if err != nil {
		api.WriteError(w, req, api.Errorf(http.StatusUnprocessableEntity, "cannot_resolve", "%v", err))
		return
	}
	api.WriteData(w, req, http.StatusOK, res)
}

// Upstream is what the resolver knows about one server it has asked.
type Upstream struct {
	Address   string    `json:"address"`
	Queries   uint64    `json:"queries"`
	Errors    uint64    `json:"errors"`
	SRTT      Duration  `json:"srtt"`
	RTO       Duration  `json:"rto"` // how long a try waits for it now
	Failing   int32     `json:"consecutive_failures"`
	Down      bool      `json:"backed_off"`
	DownUntil time.Time `json:"backed_off_until,omitzero"`
	EDNS      bool      `json:"edns"`
	LastError string    `json:"last_error,omitempty"`
}

// Upstreams reports the servers asked so far.
func (r *Resolver) Upstreams() []Upstream {
	now := r.now()
	var out []Upstream
	for _, st := range r.servers.all() {
		u := Upstream{
			Address: st.addr.String(),
			Queries: st.queries.Load(),
			Errors:  st.errors.Load(),
			SRTT:    Duration(st.srtt.Load()),
			RTO:     Duration(st.timeout(r.cfg.UpstreamTimeout)),
			Failing: st.fails.Load(),
			Down:    st.down(now),
			EDNS:    !st.noEDNS.Load(),
		}
		if u.Down {
			u.DownUntil = time.Unix(0, st.downUntil.Load()).UTC()
		}
		if e := st.lastErr.Load(); e != nil {
			u.LastError = *e
		}
		out = append(out, u)
	}
	return out
}
