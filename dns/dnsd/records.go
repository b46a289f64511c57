package dnsd

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"netsim/internal/api"
	"netsim/zones"
)

// The record write path (README "Changing records"):
//
//	POST   /api/v1/zones/{zone}/records   {"name":"new","type":"A","ttl":60,"data":"127.0.0.99"}  add (201)
//	PUT    /api/v1/zones/{zone}/records   {"name":"www","type":"A","data":["127.0.0.1","127.0.0.2"]} replace the RRset (200)
//	DELETE /api/v1/zones/{zone}/records?name=new&type=A[&data=127.0.0.99]                        remove (204)
//
// A change builds a new zone, checked as a zone file is when loaded, with
// the SOA serial advanced; a zone loaded from a file is saved back to it
// atomically first; then the new zone is swapped into every listener that
// serves it, one atomic store each. Writers are serialised (d.mu), so no
// change is lost to another.

// recordInput is the body of POST and PUT.
type recordInput struct {
	// Name is relative to the zone ("www", "@" for the apex) or absolute
	// ("www.example.test." — the final dot may be left out when the name
	// ends in the zone's name).
	Name string `json:"name"`
	Type string `json:"type"`
	// TTL in seconds; when left out, the TTL of the RRset, or of the SOA
	// for a new set. All records of a set share one TTL.
	TTL *uint32 `json:"ttl"`
	// Data is the rdata as in a zone file: one string or a list.
	Data dataList `json:"data"`
}

type dataList []string

func (l *dataList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = dataList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New(`field "data" must be a string or a list of strings, e.g. "192.0.2.1" or ["192.0.2.1", "192.0.2.2"]`)
	}
	*l = many
	return nil
}

// changeView is what POST and PUT answer.
type changeView struct {
	Zone   string `json:"zone"`
	Serial uint32 `json:"serial"`
	// File is where the zone was saved; Persisted is false for a zone
	// served from memory only (the embedded demo): such a change is gone
	// at the next reload or restart.
	File      string `json:"file"`
	Persisted bool   `json:"persisted"`
	// Records is the RRset of the name and type after the change.
	Records []recordView `json:"records"`
	// Warnings are the zone's lint warnings after the change (what
	// named-checkzone would warn about); the change was applied.
	Warnings []string `json:"warnings"`
}

// maxTTL: RFC 2181 §8, a TTL is at most 2^31 - 1.
const maxTTL = 1<<31 - 1

var errNoZone = errors.New("no such zone")

// saveError: the zone file could not be written; nothing changed.
type saveError struct{ err error }

func (e *saveError) Error() string { return e.err.Error() }

func (d *Daemon) postRecords(w http.ResponseWriter, r *http.Request) {
	d.writeRecords(w, r, zones.Add)
}

func (d *Daemon) putRecords(w http.ResponseWriter, r *http.Request) {
	d.writeRecords(w, r, zones.Replace)
}

func (d *Daemon) writeRecords(w http.ResponseWriter, r *http.Request, op zones.Op) {
	var in recordInput
	if !api.Decode(w, r, &in) {
		return
	}
	switch {
	case strings.TrimSpace(in.Name) == "":
		api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "missing_field", `field "name" is missing: give the owner name, relative ("www", "@" for the apex) or absolute`).With("field", "name"))
		return
	case strings.TrimSpace(in.Type) == "":
		api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "missing_field", `field "type" is missing (A, AAAA, CNAME, MX, TXT…)`).With("field", "type"))
		return
	case len(in.Data) == 0:
		api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "missing_field", `field "data" is missing or empty: give the record data as in a zone file, e.g. "192.0.2.1"`).With("field", "data"))
		return
	case in.TTL != nil && *in.TTL > maxTTL:
		api.WriteError(w, r, api.Errorf(http.StatusUnprocessableEntity, "bad_ttl", "ttl %d is too large: at most %d seconds (RFC 2181 §8)", *in.TTL, maxTTL).With("field", "ttl"))
		return
	}
	var e zones.Edit
	nz, err := d.changeZone(r.PathValue("zone"), func(z *zones.Zone) (zones.Edit, error) {
		var err error
		e, err = buildEdit(z, op, in.Name, in.Type, in.TTL, in.Data)
		return e, err
	})
	if err != nil {
		api.WriteError(w, r, changeProblem(r.PathValue("zone"), err))
		return
	}
	v := changeView{Zone: nz.Origin, Serial: nz.SOA.Serial, File: nz.File, Persisted: nz.OnDisk(), Records: []recordView{}, Warnings: nz.Warnings}
	if v.Warnings == nil {
		v.Warnings = []string{}
	}
	for _, rr := range nz.RRset(e.Name, e.Type) {
		v.Records = append(v.Records, viewOf(rr))
	}
	status := http.StatusOK
	if op == zones.Add {
		status = http.StatusCreated
		q := url.Values{"name": {e.Name}, "type": {dns.TypeToString[e.Type]}}
		w.Header().Set("Location", "/api/v1/zones/"+url.PathEscape(nz.Origin)+"/records?"+q.Encode())
	}
	api.WriteData(w, r, status, v)
}

func (d *Daemon) deleteRecords(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("name") == "" || q.Get("type") == "" {
		api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "missing_field",
			"DELETE needs ?name=&type= (and data= to remove single records rather than the whole set), e.g. ?name=new&type=A").With("field", "name, type"))
		return
	}
	_, err := d.changeZone(r.PathValue("zone"), func(z *zones.Zone) (zones.Edit, error) {
		e, err := buildEdit(z, zones.Remove, q.Get("name"), q.Get("type"), nil, q["data"])
		return e, err
	})
	if err != nil {
		api.WriteError(w, r, changeProblem(r.PathValue("zone"), err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// buildEdit turns API input into an Edit of z; a *api.Problem for input
// that is malformed, a *zones.InvalidError for data the zone refuses.
func buildEdit(z *zones.Zone, op zones.Op, name, typ string, ttl *uint32, data []string) (zones.Edit, error) {
	abs, err := z.Absolute(name)
	if err != nil {
		return zones.Edit{}, api.Errorf(http.StatusBadRequest, "bad_name", "%v", err).With("field", "name")
	}
	t, err := zones.ParseType(typ)
	if err != nil {
		return zones.Edit{}, api.Errorf(http.StatusBadRequest, "bad_type", "%v", err).With("field", "type")
	}
	e := zones.Edit{Op: op, Name: abs, Type: t}
	rttl := z.DefaultTTL(abs, t)
	if ttl != nil {
		rttl = *ttl
	}
	for _, dt := range data {
		rr, err := z.ParseRecord(abs, rttl, t, dt)
		if err != nil {
			return zones.Edit{}, err
		}
		e.RRs = append(e.RRs, rr)
	}
	return e, nil
}

// changeZone applies the edit that build makes from the current zone
// origin, saves the result when the zone came from a file, and swaps it
// in. All of it holds d.mu: writers go one at a time, and a reload swaps
// either before or after a change, never in its middle.
func (d *Daemon) changeZone(origin string, build func(*zones.Zone) (zones.Edit, error)) (*zones.Zone, error) {
	origin = dns.Fqdn(strings.ToLower(origin))
	d.mu.Lock()
	defer d.mu.Unlock()
	i := slices.IndexFunc(d.zones, func(z *zones.Zone) bool { return z.Origin == origin })
	if i < 0 {
		return nil, errNoZone
	}
	old := d.zones[i]
	e, err := build(old)
	if err != nil {
		return nil, err
	}
	nz, err := old.Apply(e, time.Now())
	if err != nil {
		return nil, err
	}
	if old.OnDisk() {
		if err := nz.Save(old.File); err != nil {
			return nil, &saveError{err}
		}
	}
	zs := slices.Clone(d.zones)
	zs[i] = nz
	for _, s := range d.cfg.Servers {
		if r, ok := d.listeners[s.Listen]; ok && slices.ContainsFunc(s.Zones, func(n string) bool { return dns.Fqdn(strings.ToLower(n)) == origin }) {
			r.l.Handler().SetZones(setFor(s, zs, d.sec.current()))
		}
	}
	d.zones = zs
	d.log.Info("zone changed", zap.String("zone", origin), zap.String("op", e.Op.String()),
		zap.String("name", e.Name), zap.String("type", dns.TypeToString[e.Type]), zap.Int("records", len(e.RRs)),
		zap.Uint32("serial", nz.SOA.Serial), zap.Bool("saved", old.OnDisk()), zap.String("file", old.File))
	for _, w := range nz.Warnings {
		d.log.Warn("zone changed with a problem", zap.String("zone", origin), zap.String("problem", w))
	}
	return nz, nil
}

func changeProblem(zone string, err error) *api.Problem {
	var p *api.Problem
	var inv *zones.InvalidError
	var se *saveError
	switch {
	case errors.As(err, &p):
		return p
	case errors.Is(err, errNoZone):
		return api.Errorf(http.StatusNotFound, "zone_not_found", "no zone %q is loaded; GET /api/v1/zones lists them", zone)
	case errors.As(err, &inv):
		p := api.Errorf(http.StatusUnprocessableEntity, "invalid_change", "zone %s refuses the change: %s", dns.Fqdn(zone), inv.Reason)
		if inv.Record != "" {
			p = p.With("record", inv.Record)
		}
		return p
	case errors.Is(err, zones.ErrExists):
		return api.Errorf(http.StatusConflict, "record_exists", "%v: nothing added (PUT replaces a set, e.g. to change its TTL)", err)
	case errors.Is(err, zones.ErrNoRecord):
		return api.Errorf(http.StatusNotFound, "record_not_found", "%v: GET /api/v1/zones/%s/records?name=&type= lists what there is", err, dns.Fqdn(zone))
	case errors.As(err, &se):
		return api.Errorf(http.StatusInternalServerError, "zone_not_saved", "the change was not applied: %v (dnsd must be able to write the zone file's directory)", se.err)
	}
	return api.Errorf(http.StatusInternalServerError, "internal", "changing zone %s: %v", zone, fmt.Sprint(err))
}
