package xfr

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"netsim/zones"
)

// Dynamic updates (RFC 2136): the zone section names the zone, the
// prerequisites are checked against the zone as it is, and the update
// section is applied as one change with one serial bump, under the
// store's writer lock, so two updaters never lose each other's changes.

// errNoChange: the update was valid and changed nothing (no new serial).
var errNoChange = errors.New("the update changes nothing")

// rcodeError is a refusal with the rcode to answer.
type rcodeError struct {
	rcode int
	why   string
}

func (e *rcodeError) Error() string { return e.why }

func refuse(rcode int, format string, args ...any) error {
	return &rcodeError{rcode, fmt.Sprintf(format, args...)}
}

// prescan checks the update section's form (RFC 2136 §3.4.1) before the
// zone is looked at.
func prescan(origin string, ups []dns.RR) error {
	for _, rr := range ups {
		h := rr.Header()
		name := dns.CanonicalName(h.Name)
		if !dns.IsSubDomain(origin, name) {
			return refuse(dns.RcodeNotZone, "%s is outside zone %s", h.Name, origin)
		}
		meta := h.Rrtype == dns.TypeANY || h.Rrtype == dns.TypeAXFR || h.Rrtype == dns.TypeIXFR ||
			h.Rrtype == dns.TypeMAILA || h.Rrtype == dns.TypeMAILB || h.Rrtype == dns.TypeOPT || h.Rrtype == dns.TypeTSIG
		switch h.Class {
		case dns.ClassINET:
			if meta {
				return refuse(dns.RcodeFormatError, "%s: cannot add a record of type %s", h.Name, dns.TypeToString[h.Rrtype])
			}
		case dns.ClassANY:
			if h.Ttl != 0 || h.Rdlength != 0 || (meta && h.Rrtype != dns.TypeANY) {
				return refuse(dns.RcodeFormatError, "%s: a delete of a set (class ANY) has TTL 0 and no data", h.Name)
			}
		case dns.ClassNONE:
			if h.Ttl != 0 || meta {
				return refuse(dns.RcodeFormatError, "%s: a delete of a record (class NONE) has TTL 0 and a record type", h.Name)
			}
		default:
			return refuse(dns.RcodeFormatError, "%s: class %s in the update section", h.Name, dns.ClassToString[h.Class])
		}
	}
	return nil
}

// work is the RRsets an update has touched, copied from the zone.
type work struct {
	z    *zones.Zone
	sets map[zones.SetKey][]dns.RR
}

func (w *work) get(name string, t uint16) []dns.RR {
	if s, ok := w.sets[zones.SetKey{Name: name, Type: t}]; ok {
		return s
	}
	return w.z.RRset(name, t)
}

func (w *work) put(name string, t uint16, rrs []dns.RR) {
	w.sets[zones.SetKey{Name: name, Type: t}] = rrs
}

// types lists the types with records at name.
func (w *work) types(name string) []uint16 {
	seen := map[uint16]bool{}
	if n := w.z.Node(name); n != nil {
		for _, t := range n.Types() {
			seen[t] = true
		}
	}
	for k := range w.sets {
		if k.Name == name {
			seen[k.Type] = true
		}
	}
	var out []uint16
	for t := range seen {
		if len(w.get(name, t)) > 0 {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// checkPrereqs applies RFC 2136 §3.2 to z.
func checkPrereqs(z *zones.Zone, pre []dns.RR) error {
	w := &work{z: z, sets: map[zones.SetKey][]dns.RR{}}
	want := map[zones.SetKey][]dns.RR{} // value-dependent: the exact sets
	for _, rr := range pre {
		h := rr.Header()
		name := dns.CanonicalName(h.Name)
		if h.Ttl != 0 {
			return refuse(dns.RcodeFormatError, "prerequisite %s has TTL %d; want 0", h.Name, h.Ttl)
		}
		if !dns.IsSubDomain(z.Origin, name) {
			return refuse(dns.RcodeNotZone, "prerequisite %s is outside zone %s", h.Name, z.Origin)
		}
		inUse := len(w.types(name)) > 0
		switch {
		case h.Class == dns.ClassANY && h.Rrtype == dns.TypeANY:
			if !inUse {
				return refuse(dns.RcodeNameError, "prerequisite: %s has no records", name)
			}
		case h.Class == dns.ClassANY:
			if len(w.get(name, h.Rrtype)) == 0 {
				return refuse(dns.RcodeNXRrset, "prerequisite: %s has no %s records", name, dns.TypeToString[h.Rrtype])
			}
		case h.Class == dns.ClassNONE && h.Rrtype == dns.TypeANY:
			if inUse {
				return refuse(dns.RcodeYXDomain, "prerequisite: %s has records", name)
			}
		case h.Class == dns.ClassNONE:
			if len(w.get(name, h.Rrtype)) > 0 {
				return refuse(dns.RcodeYXRrset, "prerequisite: %s has %s records", name, dns.TypeToString[h.Rrtype])
			}
		case h.Class == dns.ClassINET:
			k := zones.SetKey{Name: name, Type: h.Rrtype}
			want[k] = append(want[k], rr)
		default:
			return refuse(dns.RcodeFormatError, "prerequisite %s has class %s", h.Name, dns.ClassToString[h.Class])
		}
	}
	for k, rrs := range want {
		if !sameRdata(w.get(k.Name, k.Type), rrs) {
			return refuse(dns.RcodeNXRrset, "prerequisite: %s %s is not the set given", k.Name, dns.TypeToString[k.Type])
		}
	}
	return nil
}

// sameRdata: the two lists hold the same records, TTLs aside.
func sameRdata(a, b []dns.RR) bool {
	has := func(set []dns.RR, rr dns.RR) bool {
		for _, x := range set {
			if dns.IsDuplicate(x, rr) {
				return true
			}
		}
		return false
	}
	for _, rr := range a {
		if !has(b, rr) {
			return false
		}
	}
	for _, rr := range b {
		if !has(a, rr) {
			return false
		}
	}
	return true
}

// applyUpdate runs the update section over z (RFC 2136 §3.4.2) and
// returns the sets it changed (none: errNoChange).
func applyUpdate(z *zones.Zone, ups []dns.RR) (map[zones.SetKey][]dns.RR, error) {
	w := &work{z: z, sets: map[zones.SetKey][]dns.RR{}}
	apex := z.Origin
	for _, rr := range ups {
		h := rr.Header()
		name := dns.CanonicalName(h.Name)
		t := h.Rrtype
		switch h.Class {
		case dns.ClassINET:
			add := dns.Copy(rr)
			add.Header().Name = name
			cur := w.get(name, t)
			switch {
			case t == dns.TypeSOA:
				soa := add.(*dns.SOA)
				if name != apex || !zones.SerialLess(z.SOA.Serial, soa.Serial) {
					continue // §3.4.2.2: only a later serial replaces the SOA
				}
				w.put(name, t, []dns.RR{soa})
				continue
			case t == dns.TypeCNAME && hasOtherThan(w, name, dns.TypeCNAME):
				continue // §3.4.2.2: a CNAME does not join other data
			case t != dns.TypeCNAME && len(w.get(name, dns.TypeCNAME)) > 0:
				continue // ... nor other data a CNAME
			case t == dns.TypeCNAME:
				cur = nil // a name has one CNAME: the new one replaces it
			}
			next := make([]dns.RR, 0, len(cur)+1)
			dup := false
			for _, x := range cur {
				c := dns.Copy(x)
				if dns.IsDuplicate(c, add) {
					dup = true
				}
				c.Header().Ttl = h.Ttl // one TTL per RRset: the latest given (RFC 2181 §5.2)
				next = append(next, c)
			}
			if !dup {
				next = append(next, add)
			}
			w.put(name, t, next)
		case dns.ClassANY:
			ts := []uint16{t}
			if t == dns.TypeANY {
				ts = w.types(name)
			}
			for _, t := range ts {
				if name == apex && (t == dns.TypeSOA || t == dns.TypeNS) {
					continue // the apex keeps its SOA and NS (§3.4.2.3)
				}
				if len(w.get(name, t)) > 0 {
					w.put(name, t, nil)
				}
			}
		case dns.ClassNONE:
			if t == dns.TypeSOA {
				continue
			}
			del := dns.Copy(rr)
			del.Header().Class = dns.ClassINET // IsDuplicate compares classes
			cur := w.get(name, t)
			var next []dns.RR
			for _, x := range cur {
				if !dns.IsDuplicate(x, del) {
					next = append(next, x)
				}
			}
			if name == apex && t == dns.TypeNS && len(next) == 0 {
				continue // never the last NS of the apex (§3.4.2.4)
			}
			if len(next) != len(cur) {
				w.put(name, t, next)
			}
		}
	}
	// drop sets that ended as they began
	for k, rrs := range w.sets {
		if sameExact(z.RRset(k.Name, k.Type), rrs) {
			delete(w.sets, k)
		}
	}
	if len(w.sets) == 0 {
		return nil, errNoChange
	}
	return w.sets, nil
}

func hasOtherThan(w *work, name string, t uint16) bool {
	for _, x := range w.types(name) {
		if x != t && x != dns.TypeRRSIG && x != dns.TypeNSEC {
			return true
		}
	}
	return false
}

// sameExact: the same records with the same TTLs.
func sameExact(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if dns.IsDuplicate(x, y) && x.Header().Ttl == y.Header().Ttl {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// describe is an update section as one log field.
func describe(ups []dns.RR) string {
	var b strings.Builder
	for i, rr := range ups {
		if i > 0 {
			b.WriteString("; ")
		}
		h := rr.Header()
		switch h.Class {
		case dns.ClassANY:
			fmt.Fprintf(&b, "delete %s %s", h.Name, dns.TypeToString[h.Rrtype])
		case dns.ClassNONE:
			c := dns.Copy(rr)
			c.Header().Class = dns.ClassINET
			fmt.Fprintf(&b, "delete %s", c)
		default:
			fmt.Fprintf(&b, "add %s", rr)
		}
	}
	return b.String()
}
