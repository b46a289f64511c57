package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/api"
)

// answer is the body of GET /ui/ask: what the resolver told a client of
// the region, and the path a fresh resolution of the name takes from there
// (dnsd's resolutions API, with the region's subnet as the client's).
type answer struct {
	Region    string          `json:"region"`
	Subnet    string          `json:"subnet"`
	Resolver  string          `json:"resolver"`
	Name      string          `json:"name"`
	Type      string          `json:"type"`
	Rcode     string          `json:"rcode"`
	Records   []string        `json:"records"`
	Addresses []string        `json:"addresses"`
	TTL       *uint32         `json:"ttl,omitempty"`
	Scope     string          `json:"scope,omitempty"` // the ECS scope the resolver answered with
	RTT       string          `json:"rtt"`
	Path      json.RawMessage `json:"path,omitempty"`
	PathError string          `json:"path_error,omitempty"`
}

// ask serves GET /ui/ask?region=eu&name=www.example.test&type=A: the page's
// "stand in a region". The query goes to the resolver with EDNS Client
// Subnet set to the region's network (RFC 7871), the way a resolver in
// that region would forward a client's: dnsd's GeoDNS locates the client
// by it (configs/dnsd.yaml, geo: ECS is trusted from everyone by default).
func (h *handler) ask(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	reg, ok := h.region(q.Get("region"))
	if !ok {
		var names []string
		for _, g := range h.o.Regions {
			names = append(names, g.Name)
		}
		api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "bad_region", "region %q is not one of %s", q.Get("region"), strings.Join(names, ", ")).With("field", "region"))
		return
	}
	name := strings.TrimSpace(q.Get("name"))
	if _, ok := dns.IsDomainName(name); !ok || name == "" {
		api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "bad_name", "name %q is not a domain name (try www.example.test)", name).With("field", "name"))
		return
	}
	name = dns.Fqdn(strings.ToLower(name))
	qtype := dns.TypeA
	if t := strings.ToUpper(q.Get("type")); t != "" {
		if qtype, ok = dns.StringToType[t]; !ok {
			api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "bad_type", "type %q is not a DNS type (try A, AAAA, MX, TXT)", t).With("field", "type"))
			return
		}
	}
	if h.o.Resolver == "" {
		api.WriteError(w, r, api.Errorf(http.StatusNotFound, "no_resolver", "netsim runs no recursive resolver to ask"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 6*time.Second)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	bits := reg.Subnet.Bits()
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{
		Code: dns.EDNS0SUBNET, Family: family(reg), SourceNetmask: uint8(bits), Address: reg.Subnet.Addr().AsSlice(),
	})
	resp, rtt, err := exchange(ctx, m, h.o.Resolver)
	if err != nil {
		api.WriteError(w, r, api.Errorf(http.StatusBadGateway, "resolver_unreachable", "asking the resolver at %s for %s %s: %v", h.o.Resolver, name, dns.TypeToString[qtype], err))
		return
	}
	a := answer{
		Region: reg.Name, Subnet: reg.Subnet.String(), Resolver: h.o.Resolver, Name: name, Type: dns.TypeToString[qtype],
		Rcode: dns.RcodeToString[resp.Rcode], Records: []string{}, Addresses: []string{}, RTT: rtt.Round(10 * time.Microsecond).String(),
	}
	for _, rr := range resp.Answer {
		a.Records = append(a.Records, rr.String())
		ttl := rr.Header().Ttl
		if a.TTL == nil || ttl < *a.TTL {
			a.TTL = &ttl
		}
		switch v := rr.(type) {
		case *dns.A:
			a.Addresses = append(a.Addresses, v.A.String())
		case *dns.AAAA:
			a.Addresses = append(a.Addresses, v.AAAA.String())
		}
	}
	if o := resp.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if s, ok := opt.(*dns.EDNS0_SUBNET); ok {
				a.Scope = fmt.Sprintf("%s/%d", s.Address, s.SourceScope)
			}
		}
	}
	a.Path, err = h.path(ctx, reg, name, qtype)
	if err != nil {
		a.PathError = err.Error()
	}
	api.WriteData(w, r, http.StatusOK, a)
}

func (h *handler) region(name string) (Region, bool) {
	for _, g := range h.o.Regions {
		if strings.EqualFold(g.Name, name) {
			return g, true
		}
	}
	return Region{}, false
}

func family(r Region) uint16 {
	if r.Subnet.Addr().Is4() {
		return 1
	}
	return 2
}

// exchange asks over UDP and again over TCP when the answer is truncated.
func exchange(ctx context.Context, m *dns.Msg, addr string) (*dns.Msg, time.Duration, error) {
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	resp, rtt, err := c.ExchangeContext(ctx, m, addr)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, rtt, err = c.ExchangeContext(ctx, m, addr)
	}
	return resp, rtt, err
}

// path asks dnsd to explain a fresh resolution for a client of the region.
func (h *handler) path(ctx context.Context, reg Region, name string, qtype uint16) (json.RawMessage, error) {
	if h.o.DNSAdmin == "" {
		return nil, fmt.Errorf("no dnsd admin API to explain the path")
	}
	u := url.URL{Scheme: "http", Host: h.o.DNSAdmin, Path: "/api/v1/resolutions", RawQuery: url.Values{
		"name": {name}, "type": {dns.TypeToString[qtype]}, "client": {reg.Subnet.Addr().String()},
	}.Encode()}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	_, err := api.Call(ctx, &http.Client{Transport: h.o.Transport}, http.MethodGet, u.String(), "", nil, &env)
	if ce := (*api.CallError)(nil); errors.As(err, &ce) {
		return nil, fmt.Errorf("dnsd could not explain the path: %s", ce.Message)
	}
	if err != nil {
		return nil, fmt.Errorf("dnsd at %s: %w", h.o.DNSAdmin, err)
	}
	return env.Data, nil
}
