package dnsd

import (
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"netsim/dns/dnssec"
	"netsim/internal/api"
)

// The DNSSEC admin API:
//
//	GET   /api/v1/dnssec/zones          the signed zones: keys, DS, signatures made and cached,
//	                                    denial (nsec, nsec3 and its parameters), the zone as
//	                                    transfers carry it (chain links, records, build time)
//	GET   /api/v1/dnssec/zones/{zone}   one of them
//	PATCH /api/v1/dnssec/zones/{zone}   {"clock_offset": "-720h"}: the signer's clock is that
//	                                    far off (a signer whose clock is wrong makes expired
//	                                    signatures: the expired-signatures lab); "0s" puts it right

type keyView struct {
	Tag   uint16 `json:"tag"`
	Flags uint16 `json:"flags"`
	Role  string `json:"role"` // KSK, ZSK or CSK
	Alg   uint8  `json:"algorithm"`
}

type signedZoneView struct {
	Zone        string    `json:"zone"`
	Keys        []keyView `json:"keys"`
	DS          []string  `json:"ds"`
	ClockOffset string    `json:"clock_offset"`
	Made        uint64    `json:"signatures_made"`
	Cached      uint64    `json:"signatures_from_cache"`
	// Denial: nsec or nsec3 (then NSEC3 holds its parameters)
	Denial string     `json:"denial"`
	NSEC3  *nsec3View `json:"nsec3,omitempty"`
	// Transfer: the zone as transfers carry it, signed whole (null until
	// the first transfer)
	Transfer *transferView `json:"transfer"`
}

type nsec3View struct {
	Iterations uint16 `json:"iterations"`
	Salt       string `json:"salt"`
}

type transferView struct {
	Serial  uint32    `json:"serial"`
	Links   int       `json:"chain_links"` // NSEC or NSEC3 records
	Records int       `json:"records"`
	TookMS  float64   `json:"build_ms"`
	Refresh time.Time `json:"refresh"` // signed anew after
}

func viewSigner(s *dnssec.Signer) signedZoneView {
	v := signedZoneView{Zone: s.Origin, ClockOffset: s.ClockOffset().String(), Keys: []keyView{}, DS: []string{}}
	csk := len(s.Keys().List) == 1
	for _, k := range s.Keys().List {
		role := "ZSK"
		switch {
		case csk:
			role = "CSK"
		case k.SEP():
			role = "KSK"
		}
		v.Keys = append(v.Keys, keyView{Tag: k.DNSKEY.KeyTag(), Flags: k.DNSKEY.Flags, Role: role, Alg: k.DNSKEY.Algorithm})
	}
	for _, rr := range s.Keys().DS(3600) {
		v.DS = append(v.DS, rr.String())
	}
	v.Made, v.Cached = s.Stats()
	v.Denial = "nsec"
	if p := s.NSEC3(); p != nil {
		v.Denial, v.NSEC3 = "nsec3", &nsec3View{Iterations: p.Iterations, Salt: p.Salt}
	}
	if sz := s.LastSigned(); sz != nil {
		v.Transfer = &transferView{Serial: sz.Zone.SOA.Serial, Links: sz.Names, Records: len(sz.RRs),
			TookMS: float64(sz.Took.Microseconds()) / 1000, Refresh: sz.Refresh.UTC()}
	}
	return v
}

func (d *Daemon) signedZones() []signedZoneView {
	signers := d.sign.current()
	out := []signedZoneView{}
	for _, s := range signers {
		out = append(out, viewSigner(s))
	}
	sort.Slice(out, func(i, j int) bool { return dnssec.Compare(out[i].Zone, out[j].Zone) < 0 })
	return out
}

func (d *Daemon) registerDNSSECRoutes(mux *http.ServeMux) {
	api.Route(mux, "/api/v1/dnssec/zones", map[string]http.HandlerFunc{http.MethodGet: api.List(d.signedZones)})
	mux.Handle("/api/v1/dnssec/zones/{zone}", api.Methods(map[string]http.HandlerFunc{
		http.MethodGet: func(w http.ResponseWriter, r *http.Request) {
			if s := d.signer(w, r); s != nil {
				api.WriteData(w, r, http.StatusOK, viewSigner(s))
			}
		},
		http.MethodPatch: func(w http.ResponseWriter, r *http.Request) {
			s := d.signer(w, r)
			if s == nil {
				return
			}
			var body struct {
				ClockOffset *string `json:"clock_offset"`
			}
			if !api.Decode(w, r, &body) {
				return
			}
			if body.ClockOffset == nil {
				api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "nothing_to_change", `send {"clock_offset": "-720h"} (a Go duration)`).With("field", "clock_offset"))
				return
			}
			off, err := time.ParseDuration(*body.ClockOffset)
			if err != nil || off < -3650*24*time.Hour || off > 3650*24*time.Hour {
				api.WriteError(w, r, api.Errorf(http.StatusUnprocessableEntity, "bad_clock_offset",
					"clock_offset %q: want a Go duration within ten years, such as \"-720h\" or \"0s\"", *body.ClockOffset).With("field", "clock_offset"))
				return
			}
			s.SetClockOffset(off)
			d.resign(s.Origin)
			d.log.Info("dnssec signer clock moved", zap.String("zone", s.Origin), zap.Duration("offset", off))
			api.WriteData(w, r, http.StatusOK, viewSigner(s))
		},
	}))
}

// signer finds the signer the request names, or answers 404.
func (d *Daemon) signer(w http.ResponseWriter, r *http.Request) *dnssec.Signer {
	name := dns.Fqdn(strings.ToLower(r.PathValue("zone")))
	if s := d.sign.current()[name]; s != nil {
		return s
	}
	api.WriteError(w, r, api.Errorf(http.StatusNotFound, "zone_not_signed", "zone %q is not signed here; GET /api/v1/dnssec/zones lists the signed zones", name))
	return nil
}

// resign makes the listeners serving origin drop their packed answers, so
// that nothing signed before is served again.
func (d *Daemon) resign(origin string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.cfg.Servers {
		if r, ok := d.listeners[s.Listen]; ok && slices.ContainsFunc(s.Zones, func(n string) bool { return dns.Fqdn(strings.ToLower(n)) == origin }) {
			r.l.Handler().SetZones(d.setFor(s, d.zones))
		}
	}
}
