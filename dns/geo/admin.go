package geo

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/ecs"
	"netsim/dns/rrset"
	"netsim/internal/api"
	"netsim/internal/health"
)

// RegisterRoutes adds the geo admin endpoints for this engine to mux:
//
//	GET /api/v1/geo/pools          pools, members and their health (paged)
//	GET /api/v1/geo/database       the GeoIP database in use
//	GET /api/v1/explanations       ?name=&client=&subnet=&type= why this answer
//
// A server that reloads by swapping engines registers once with
// RegisterRoutesFunc instead (a ServeMux pattern cannot be registered twice).
func (e *Engine) RegisterRoutes(mux *http.ServeMux) {
	RegisterRoutesFunc(mux, func() *Engine { return e })
}

// RegisterRoutesFunc registers the endpoints against whatever engine
// current returns at request time (e.g. an atomic.Pointer's Load). A nil
// engine answers 503.
func RegisterRoutesFunc(mux *http.ServeMux, current func() *Engine) {
	h := &handlers{current: current}
	api.Route(mux, "/api/v1/geo/pools", map[string]http.HandlerFunc{http.MethodGet: h.pools})
	api.Route(mux, "/api/v1/geo/database", map[string]http.HandlerFunc{http.MethodGet: h.database})
	api.Route(mux, "/api/v1/explanations", map[string]http.HandlerFunc{http.MethodGet: h.explain})
}

type handlers struct{ current func() *Engine }

func (h *handlers) engine(w http.ResponseWriter, r *http.Request) *Engine {
	e := h.current()
	if e == nil {
		api.WriteError(w, r, api.Errorf(http.StatusServiceUnavailable, "geo_not_loaded", "no geo configuration is loaded"))
	}
	return e
}

// PoolStatus is one pool in GET /api/v1/geo/pools.
type PoolStatus struct {
	Name       string         `json:"name"`
	Pool       string         `json:"pool"`
	Default    bool           `json:"default"`
	Countries  []string       `json:"countries"`
	Continents []string       `json:"continents"`
	Networks   []string       `json:"networks"`
	TTL        uint32         `json:"ttl"`
	Fail       string         `json:"fail"`
	Available  int            `json:"available_members"`
	Members    []MemberStatus `json:"members"`
}

// MemberStatus is one member and its health.
type MemberStatus struct {
	Address   string       `json:"address"`
	Weight    uint64       `json:"weight"`
	Available bool         `json:"available"`
	Check     string       `json:"check,omitempty"`
	State     health.State `json:"state"`
	Since     time.Time    `json:"since,omitzero"`
	LastCheck time.Time    `json:"last_check,omitzero"`
	LastError string       `json:"last_error,omitempty"`
}

// Pools returns every pool of every name with its members' health.
func (e *Engine) Pools() []PoolStatus {
	var out []PoolStatus
	for _, n := range e.ordered {
		for _, p := range n.pools {
			ps := PoolStatus{
				Name: n.name, Pool: p.name, Default: p == n.def, TTL: n.ttl, Fail: "open",
				Countries: nonNil(p.cfg.Countries), Continents: nonNil(p.cfg.Continents), Networks: nonNil(p.cfg.Networks),
			}
			if !n.failOpen {
				ps.Fail = "closed"
			}
			for _, m := range p.members {
				ms := MemberStatus{Address: m.addr.String(), Weight: m.weight, Available: true, State: health.Up}
				if m.mon != nil {
					st := m.mon.Status()
					ms.Check, ms.State, ms.Since, ms.LastCheck, ms.LastError = m.check, st.State, st.Since, st.LastCheck, st.LastError
					ms.Available = st.State != health.Down
				}
				if ms.Available {
					ps.Available++
				}
				ps.Members = append(ps.Members, ms)
			}
			out = append(out, ps)
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (h *handlers) pools(w http.ResponseWriter, r *http.Request) {
	e := h.engine(w, r)
	if e == nil {
		return
	}
	all := e.Pools()
	if name := r.URL.Query().Get("name"); name != "" {
		want := canonicalName(name)
		filtered := all[:0:0]
		for _, ps := range all {
			if ps.Name == want {
				filtered = append(filtered, ps)
			}
		}
		all = filtered
	}
	api.WriteList(w, r, all)
}

func (h *handlers) database(w http.ResponseWriter, r *http.Request) {
	e := h.engine(w, r)
	if e == nil {
		return
	}
	src, ok := e.loc.(interface{ Info() DBInfo })
	if !ok {
		api.WriteError(w, r, api.Errorf(http.StatusNotFound, "no_database", "no GeoIP database is configured: every client gets its name's default pool"))
		return
	}
	api.WriteData(w, r, http.StatusOK, src.Info())
}

// ExplainResponse is the body of GET /api/v1/explanations.
type ExplainResponse struct {
	Query struct {
		Name   string `json:"name"`
		Type   string `json:"type"`
		Client string `json:"client"`
		Subnet string `json:"subnet,omitempty"`
	} `json:"query"`
	Rcode       string      `json:"rcode"`
	Answer      []string    `json:"answer"`
	TTL         uint32      `json:"ttl"`
	ECS         *ECSReply   `json:"ecs,omitempty"`
	Explanation Explanation `json:"explanation"`
	Summary     string      `json:"summary"`
}

// ECSReply is the client-subnet option the reply would carry.
type ECSReply struct {
	Family       uint16 `json:"family"`
	SourcePrefix uint8  `json:"source_prefix_length"`
	ScopePrefix  uint8  `json:"scope_prefix_length"`
	Address      string `json:"address"`
}

func (h *handlers) explain(w http.ResponseWriter, r *http.Request) {
	e := h.engine(w, r)
	if e == nil {
		return
	}
	q := r.URL.Query()
	nameArg := strings.TrimSpace(q.Get("name"))
	if nameArg == "" {
		api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "missing_name", "name is required, e.g. ?name=www.example.test").With("field", "name"))
		return
	}
	qtype, err := rrset.ParseType(q.Get("type"), dns.TypeA)
	if err != nil {
		api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "bad_type", "%v", err).With("field", "type"))
		return
	}
	var client netip.Addr
	if s := q.Get("client"); s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil {
			api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "bad_client", "client %q is not an IP address: %v", s, err).With("field", "client"))
			return
		}
		client = a
	} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		client, _ = netip.ParseAddr(host)
	}
	if !client.IsValid() {
		client = netip.IPv4Unspecified()
	}
	var opt *dns.EDNS0_SUBNET
	if s := q.Get("subnet"); s != "" {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "bad_subnet", "subnet %q is not an address or CIDR prefix (e.g. 81.2.69.142/32): %v", s, err).With("field", "subnet"))
				return
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		opt = ecs.Option(p.Masked())
	}
	res, ok := e.Explain(nameArg, qtype, client, opt)
	if !ok {
		api.WriteError(w, r, api.Errorf(http.StatusNotFound, "not_geo_managed", "%s is not a geo-managed name; geo names: %s",
			canonicalName(nameArg), strings.Join(e.Names(), ", ")).With("field", "name"))
		return
	}
	var out ExplainResponse
	out.Query.Name = canonicalName(nameArg)
	out.Query.Type = dns.TypeToString[qtype]
	out.Query.Client = client.String()
	if opt != nil {
		s, _ := ecs.Parse(opt)
		out.Query.Subnet = s.Prefix.String()
	}
	out.Rcode = dns.RcodeToString[res.Rcode]
	out.Answer = make([]string, 0, len(res.Answer))
	for _, rr := range res.Answer {
		out.Answer = append(out.Answer, rr.String())
	}
	out.TTL = res.TTL
	if res.ECS != nil {
		out.ECS = &ECSReply{Family: res.ECS.Family, SourcePrefix: res.ECS.SourceNetmask, ScopePrefix: res.ECS.SourceScope, Address: res.ECS.Address.String()}
	}
	out.Explanation = res.Explanation
	out.Summary = res.Explanation.String()
	api.WriteData(w, r, http.StatusOK, out)
}
