package labs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/api"
)

// record is one record as dnsd's record API shows it.
type record struct {
	Name string `json:"name"`
	TTL  uint32 `json:"ttl"`
	Type string `json:"type"`
	Data string `json:"data"`
	Text string `json:"text"`
}

func (e *Env) dnsURL(path string) string { return "http://" + e.DNSAdmin + path }

// records lists a zone's records, every page; name and typ filter ("" all).
func (e *Env) records(ctx context.Context, zone, name, typ string) ([]record, error) {
	var all []record
	for {
		q := url.Values{"limit": {"100"}, "offset": {fmt.Sprint(len(all))}}
		if name != "" {
			q.Set("name", name)
		}
		if typ != "" {
			q.Set("type", typ)
		}
		var page []record
		total, err := e.callTotal(ctx, http.MethodGet, e.dnsURL("/api/v1/zones/"+url.PathEscape(zone)+"/records?"+q.Encode()), "", nil, &page)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) == 0 || total < 0 || len(all) >= total {
			return all, nil
		}
	}
}

// rrset is a record set as it is now (no Data: absent).
func (e *Env) rrset(ctx context.Context, zone, name, typ string) (RRset, error) {
	rs := RRset{Zone: zone, Name: name, Type: typ}
	recs, err := e.records(ctx, zone, name, typ)
	if err != nil {
		return rs, err
	}
	for _, r := range recs {
		rs.TTL = r.TTL
		rs.Data = append(rs.Data, strings.TrimSpace(r.Data))
	}
	return rs, nil
}

// neededRRset is a record set a fault starts from: absent, it is an
// error that says the set is missing and what the fault needs (need).
func (e *Env) neededRRset(ctx context.Context, zone, name, typ, need string) (RRset, error) {
	rs, err := e.rrset(ctx, zone, name, typ)
	if err == nil && len(rs.Data) == 0 {
		err = fmt.Errorf("%s holds no %s %s record: %s", zone, name, typ, need)
	}
	return rs, err
}

// putRRset makes the set what rs says: replaced, or removed when rs has no
// data (a set already gone is fine).
func (e *Env) putRRset(ctx context.Context, rs RRset) error {
	base := e.dnsURL("/api/v1/zones/" + url.PathEscape(rs.Zone) + "/records")
	if len(rs.Data) == 0 {
		err := e.call(ctx, http.MethodDelete, base+"?"+url.Values{"name": {rs.Name}, "type": {rs.Type}}.Encode(), e.DNSToken, nil, nil)
		var he *api.CallError
		if errors.As(err, &he) && he.Status == http.StatusNotFound {
			return nil
		}
		return err
	}
	body := map[string]any{"name": rs.Name, "type": rs.Type, "data": rs.Data}
	if rs.TTL > 0 {
		body["ttl"] = rs.TTL
	}
	return e.call(ctx, http.MethodPut, base, e.DNSToken, body, nil)
}

// changeRRset records how the set is now in b, then sets it to to.
func (e *Env) changeRRset(ctx context.Context, b *Broken, to RRset) error {
	if err := e.keepZoneFile(ctx, b, to.Zone); err != nil {
		return err
	}
	was, err := e.rrset(ctx, to.Zone, to.Name, to.Type)
	if err != nil {
		return err
	}
	if err := e.putRRset(ctx, to); err != nil {
		return err
	}
	b.Undo = append(b.Undo, Step{RRset: &was})
	fmt.Fprintf(e.Out, "  %s %s %s: %s -> %s\n", to.Zone, to.Name, to.Type, describe(was), describe(to))
	return nil
}

func describe(rs RRset) string {
	if len(rs.Data) == 0 {
		return "(none)"
	}
	ttl := ""
	if rs.TTL > 0 {
		ttl = fmt.Sprintf(" ttl %d", rs.TTL)
	}
	return strings.Join(rs.Data, ", ") + ttl
}

type zoneInfo struct {
	Origin string `json:"origin"`
	File   string `json:"file"`
	Serial uint32 `json:"serial"`
}

func (e *Env) zone(ctx context.Context, zone string) (zoneInfo, error) {
	var z zoneInfo
	err := e.call(ctx, http.MethodGet, e.dnsURL("/api/v1/zones/"+url.PathEscape(zone)), "", nil, &z)
	return z, err
}

// fingerprint is a zone's records as served, SOA left out, sorted.
func (e *Env) fingerprint(ctx context.Context, zone string) ([]string, error) {
	recs, err := e.records(ctx, zone, "", "")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range recs {
		if r.Type != "SOA" {
			out = append(out, r.Text)
		}
	}
	slices.Sort(out)
	return out, nil
}

// keepZoneFile keeps the zone's file bytes in b before b first changes
// the zone (a zone served from memory, or a file this process cannot
// read, has none to keep).
func (e *Env) keepZoneFile(ctx context.Context, b *Broken, zone string) error {
	if slices.ContainsFunc(b.ZoneFiles, func(z ZoneFile) bool { return z.Zone == zone }) {
		return nil
	}
	z, err := e.zone(ctx, zone)
	if err != nil {
		return err
	}
	zf := ZoneFile{Zone: zone, Path: z.File, Serial: z.Serial}
	if z.File != "" && !strings.HasPrefix(z.File, "embedded:") {
		if fi, err := os.Stat(z.File); err == nil {
			zf.Mode = fi.Mode()
			if zf.Content, err = os.ReadFile(z.File); err != nil {
				return err
			}
		}
	}
	if zf.Records, err = e.fingerprint(ctx, zone); err != nil {
		return err
	}
	b.ZoneFiles = append(b.ZoneFiles, zf)
	return nil
}

// flush empties the resolver's cache (name "": all of it).
func (e *Env) flush(ctx context.Context, name string) error {
	u := e.dnsURL("/api/v1/cache")
	if name != "" {
		u += "/" + url.PathEscape(name)
	}
	err := e.call(ctx, http.MethodDelete, u, e.DNSToken, nil, nil)
	var he *api.CallError
	if name != "" && errors.As(err, &he) && he.Status == http.StatusNotFound {
		return nil // nothing cached for the name: nothing to flush
	}
	return err
}

// Query asks server (host:port) for name and type over UDP, with an EDNS
// Client Subnet when subnet is set ("127.0.10.0/24"); rd asks for recursion.
func Query(ctx context.Context, server, name string, qtype uint16, rd bool, subnet string) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = rd
	m.SetEdns0(1232, false)
	if subnet != "" {
		pfx, bits, ok := strings.Cut(subnet, "/")
		var n uint8
		if _, err := fmt.Sscan(bits, &n); !ok || err != nil {
			return nil, fmt.Errorf("subnet %q: want address/bits", subnet)
		}
		ip := net.ParseIP(pfx).To4()
		if ip == nil {
			return nil, fmt.Errorf("subnet %q: want an IPv4 address/bits", subnet)
		}
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: n, Address: ip})
	}
	c := &dns.Client{Net: "udp", Timeout: 8 * time.Second} // a resolver gives up on a name after its own timeout (4 s)
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		return nil, fmt.Errorf("asking %s for %s %s: %w", server, name, dns.TypeToString[qtype], err)
	}
	return r, nil
}
