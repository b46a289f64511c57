package zones

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// SetKey names one RRset of a zone: an absolute lower-case name and a type.
type SetKey struct {
	Name string
	Type uint16
}

// SerialMethod is how a change advances the SOA serial.
type SerialMethod string

// Serial methods (BIND's serial-update-method).
const (
	// SerialDate: the later of old+1 and today's YYYYMMDD00 (the default).
	SerialDate SerialMethod = "date"
	// SerialIncrement: old+1.
	SerialIncrement SerialMethod = "increment"
	// SerialUnixtime: the later of old+1 and the Unix time now.
	SerialUnixtime SerialMethod = "unixtime"
)

// ParseSerialMethod reads a method name; "" is SerialDate.
func ParseSerialMethod(s string) (SerialMethod, error) {
	switch m := SerialMethod(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return SerialDate, nil
	case SerialDate, SerialIncrement, SerialUnixtime:
		return m, nil
	}
	return "", fmt.Errorf("serial method %q: want date, increment or unixtime", s)
}

// Next is the serial after old at now (RFC 1982 arithmetic: the result is
// always later than old).
func (m SerialMethod) Next(old uint32, now time.Time) uint32 {
	switch m {
	case SerialIncrement:
		return old + 1
	case SerialUnixtime:
		if u := uint32(now.Unix()); SerialLess(old, u) {
			return u
		}
		return old + 1
	}
	return NextSerial(old, now)
}

// WithSets returns a new zone: z with each listed RRset replaced by the
// given records (none: the set is removed), checked as a loaded file is,
// and with the SOA serial set to next(old serial) — or to the serial of a
// replaced SOA when that is later. z is not changed.
func (z *Zone) WithSets(sets map[SetKey][]dns.RR, next func(old uint32) uint32) (*Zone, error) {
	nz := &Zone{Origin: z.Origin, File: z.File, nodes: map[string]*Node{}, labels: z.labels}
	for _, name := range z.Names() {
		n := z.nodes[name]
		for _, t := range n.Types() {
			if _, ok := sets[SetKey{name, t}]; ok {
				continue
			}
			for _, rr := range n.RRsets[t].RRs {
				if err := nz.add(dns.Copy(rr)); err != nil {
					return nil, invalid("%v", err)
				}
			}
		}
	}
	keys := make([]SetKey, 0, len(sets))
	for k := range sets {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { // errors name the same record every time
		if keys[i].Name != keys[j].Name {
			return canonicalLess(keys[i].Name, keys[j].Name)
		}
		return keys[i].Type < keys[j].Type
	})
	for _, k := range keys {
		for _, rr := range sets[k] {
			if h := rr.Header(); !strings.EqualFold(h.Name, k.Name) || h.Rrtype != k.Type {
				return nil, invalid("record %s is not of %s %s", rr, k.Name, dns.TypeToString[k.Type])
			}
			if err := nz.add(dns.Copy(rr)); err != nil {
				return nil, &InvalidError{Reason: err.Error(), Record: rr.String()}
			}
		}
	}
	if err := nz.finish(); err != nil {
		return nil, invalid("%v", err)
	}
	serial := next(z.SOA.Serial)
	if _, ok := sets[SetKey{z.Origin, dns.TypeSOA}]; ok && SerialLess(serial, nz.SOA.Serial) {
		serial = nz.SOA.Serial // a replaced SOA may move the serial further on
	}
	nz.SOA.Serial = serial
	nz.NegSOA.Serial = serial
	return nz, nil
}

// Diff lists what turns old into new: the records old has and new lacks
// (del), and those new adds (add), SOA records left out, in canonical
// order. A record whose TTL changed is in both.
func Diff(old, new *Zone) (del, add []dns.RR) {
	have := func(z *Zone) map[string]dns.RR {
		m := map[string]dns.RR{}
		for _, rr := range z.Records() {
			if rr.Header().Rrtype != dns.TypeSOA {
				m[rr.String()] = rr
			}
		}
		return m
	}
	o, n := have(old), have(new)
	for _, rr := range old.Records() {
		if _, ok := n[rr.String()]; !ok && rr.Header().Rrtype != dns.TypeSOA {
			del = append(del, rr)
		}
	}
	for _, rr := range new.Records() {
		if _, ok := o[rr.String()]; !ok && rr.Header().Rrtype != dns.TypeSOA {
			add = append(add, rr)
		}
	}
	return del, add
}

// Patch returns z with the records of del taken out and those of add put
// in, and the SOA replaced by soa: a journal entry replayed. It fails when
// a record to delete is not there, so a journal that does not belong to
// the zone is noticed.
func (z *Zone) Patch(del, add []dns.RR, soa *dns.SOA) (*Zone, error) {
	sets := map[SetKey][]dns.RR{}
	cur := func(k SetKey) []dns.RR {
		if s, ok := sets[k]; ok {
			return s
		}
		s := copyAll(z.RRset(k.Name, k.Type))
		sets[k] = s
		return s
	}
	for _, rr := range del {
		k := SetKey{strings.ToLower(rr.Header().Name), rr.Header().Rrtype}
		s := cur(k)
		i := indexRR(s, rr)
		if i < 0 {
			return nil, fmt.Errorf("zone %s has no record %s to delete", z.Origin, rr)
		}
		sets[k] = append(s[:i], s[i+1:]...)
	}
	for _, rr := range add {
		k := SetKey{strings.ToLower(rr.Header().Name), rr.Header().Rrtype}
		sets[k] = append(cur(k), dns.Copy(rr))
	}
	sets[SetKey{z.Origin, dns.TypeSOA}] = []dns.RR{dns.Copy(soa)}
	return z.WithSets(sets, func(uint32) uint32 { return soa.Serial })
}

// indexRR finds rr in set, TTL included.
func indexRR(set []dns.RR, rr dns.RR) int {
	for i, x := range set {
		if dns.IsDuplicate(x, rr) && x.Header().Ttl == rr.Header().Ttl {
			return i
		}
	}
	return -1
}
