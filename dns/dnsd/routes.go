package dnsd

import (
	"net/http"
	"strings"

	"github.com/miekg/dns"

	"netsim/dns/rrset"
	"netsim/internal/api"
	"netsim/zones"
)

type zoneView struct {
	Origin  string   `json:"origin"`
	File    string   `json:"file"`
	Serial  uint32   `json:"serial"`
	Records int      `json:"records"`
	Servers []string `json:"servers"`
}

type recordView struct {
	Name string `json:"name"`
	TTL  uint32 `json:"ttl"`
	Type string `json:"type"`
	Data string `json:"data"`
	Text string `json:"text"`
}

func viewOf(rr dns.RR) recordView {
	h := rr.Header()
	text := rr.String()
	return recordView{Name: h.Name, TTL: h.Ttl, Type: dns.TypeToString[h.Rrtype], Data: strings.TrimPrefix(text, h.String()), Text: text}
}

type serverView struct {
	Listen    string   `json:"listen"`
	Bound     string   `json:"bound"`
	Zones     []string `json:"zones"`
	Recursion bool     `json:"recursion"`
}

func (d *Daemon) zoneViews() []zoneView {
	cfg := d.Config()
	var out []zoneView
	for _, z := range d.Zones() {
		v := zoneView{Origin: z.Origin, File: z.File, Serial: z.SOA.Serial, Records: z.Len(), Servers: []string{}}
		for _, s := range cfg.Servers {
			for _, name := range s.Zones {
				if dns.Fqdn(strings.ToLower(name)) == z.Origin {
					v.Servers = append(v.Servers, s.Listen)
				}
			}
		}
		out = append(out, v)
	}
	return out
}

func (d *Daemon) findZone(name string) *zones.Zone {
	name = dns.Fqdn(strings.ToLower(name))
	for _, z := range d.Zones() {
		if z.Origin == name {
			return z
		}
	}
	return nil
}

func (d *Daemon) registerZoneRoutes(mux *http.ServeMux) {
	api.Route(mux, "/api/v1/zones", map[string]http.HandlerFunc{http.MethodGet: api.List(d.zoneViews)})
	mux.Handle("/api/v1/zones/{zone}", api.Methods(map[string]http.HandlerFunc{
		http.MethodGet: func(w http.ResponseWriter, r *http.Request) {
			name := dns.Fqdn(strings.ToLower(r.PathValue("zone")))
			for _, v := range d.zoneViews() {
				if v.Origin == name {
					api.WriteData(w, r, http.StatusOK, v)
					return
				}
			}
			api.WriteError(w, r, api.Errorf(http.StatusNotFound, "zone_not_found", "no zone %q is loaded; GET /api/v1/zones lists them", name))
		},
	}))
	mux.Handle("/api/v1/zones/{zone}/records", api.Methods(map[string]http.HandlerFunc{
		http.MethodGet: func(w http.ResponseWriter, r *http.Request) {
			z := d.findZone(r.PathValue("zone"))
			if z == nil {
				api.WriteError(w, r, api.Errorf(http.StatusNotFound, "zone_not_found", "no zone %q is loaded; GET /api/v1/zones lists them", r.PathValue("zone")))
				return
			}
			q := r.URL.Query()
			wantName := ""
			if n := q.Get("name"); n != "" {
				abs, err := z.Absolute(n) // relative to the zone, as in POST
				if err != nil {
					api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "bad_name", "%v", err).With("field", "name"))
					return
				}
				wantName = abs
			}
			wantType, err := rrset.ParseType(q.Get("type"), 0)
			if err != nil {
				api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "bad_type", "%v", err).With("field", "type"))
				return
			}
			var out []recordView
			for _, rr := range z.Records() {
				h := rr.Header()
				if wantName != "" && h.Name != wantName || wantType != 0 && h.Rrtype != wantType {
					continue
				}
				out = append(out, viewOf(rr))
			}
			api.WriteList(w, r, out)
		},
		http.MethodPost:   d.postRecords,
		http.MethodPut:    d.putRecords,
		http.MethodDelete: d.deleteRecords,
	}))
	if d.Recursor != nil {
		d.Recursor.RegisterKnobRoutes(mux) // GET/PATCH /api/v1/resolver
	}
	mux.Handle("/api/v1/servers", api.Methods(map[string]http.HandlerFunc{
		http.MethodGet: func(w http.ResponseWriter, r *http.Request) {
			bound := d.Listeners()
			var out []serverView
			for _, s := range d.Config().Servers {
				zs := s.Zones
				if zs == nil {
					zs = []string{}
				}
				out = append(out, serverView{Listen: s.Listen, Bound: bound[s.Listen], Zones: zs, Recursion: s.Recursion})
			}
			api.WriteList(w, r, out)
		},
	}))
}
