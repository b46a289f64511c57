package zones

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Op is what an Edit does to one RRset.
type Op int

const (
	// Add puts records into the set (creating it); the set takes their TTL.
	Add Op = iota
	// Replace makes the set exactly the given records.
	Replace
	// Remove takes the given records out of the set, or the whole set when
	// none are given.
	Remove
)

func (o Op) String() string { return [...]string{"add", "replace", "remove"}[o] }

// Edit is one change of one RRset: the records of Name and Type.
type Edit struct {
	Op   Op
	Name string // absolute, lower-case (Zone.Absolute makes it)
	Type uint16
	RRs  []dns.RR // of Name and Type, from Zone.ParseRecord
}

var (
	// ErrExists: every record an Add brings is already in the set.
	ErrExists = errors.New("the record is already in the zone")
	// ErrNoRecord: a Remove names records the zone does not have.
	ErrNoRecord = errors.New("no such record in the zone")
)

// InvalidError is a change the zone checks refuse (the same checks as
// loading a file: CNAME and other data, out of zone, missing glue, bad
// rdata…); Reason says what to fix.
type InvalidError struct {
	Reason string
	// Record is the offending record as text, when there is one.
	Record string
}

func (e *InvalidError) Error() string { return e.Reason }

func invalid(format string, args ...any) error {
	return &InvalidError{Reason: fmt.Sprintf(format, args...)}
}

// metaTypes cannot be records of a zone.
var metaTypes = map[uint16]bool{
	dns.TypeOPT: true, dns.TypeTSIG: true, dns.TypeTKEY: true, dns.TypeAXFR: true, dns.TypeIXFR: true,
	dns.TypeANY: true, dns.TypeMAILA: true, dns.TypeMAILB: true, dns.TypeNone: true, dns.TypeReserved: true,
}

// ParseType reads a record type name (A, aaaa, MX…).
func ParseType(s string) (uint16, error) {
	t, ok := dns.StringToType[strings.ToUpper(strings.TrimSpace(s))]
	if !ok || metaTypes[t] {
		return 0, fmt.Errorf("type %q is not a record type; expected %s", s, typesHint)
	}
	return t, nil
}

// Absolute turns a record name as a person writes it into an absolute,
// lower-case name in the zone: "@" or "" is the apex; a name that ends in
// the zone's name (with or without the final dot) is taken as it is; any
// other name is relative to the zone ("www" → "www.example.test.").
func (z *Zone) Absolute(name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "@" || name == "" {
		return z.Origin, nil
	}
	for _, c := range []byte(name) {
		// what a host name, a service label (_http), a wildcard or an RFC 2317
		// name (0/26) is made of; anything else would be stored apart from
		// the escaped form a query arrives in
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_*./", c) >= 0) {
			return "", fmt.Errorf("name %q has the character %q: use letters, digits, - _ * / and dots (xn-- for international names)", name, c)
		}
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return "", fmt.Errorf("name %q is not a domain name (labels of at most 63 characters, 255 in all)", name)
	}
	abs := dns.Fqdn(name)
	if !strings.HasSuffix(name, ".") && !dns.IsSubDomain(z.Origin, abs) {
		abs = name + "." + z.Origin
		if z.Origin == "." {
			abs = name + "."
		}
	}
	if _, ok := dns.IsDomainName(abs); !ok {
		return "", fmt.Errorf("name %q is too long in zone %s (255 characters in all)", abs, z.Origin)
	}
	return abs, nil
}

// DefaultTTL is the TTL a new record of name and type gets when none is
// given: that of its RRset, or for a new set the TTL of the zone's SOA.
func (z *Zone) DefaultTTL(name string, t uint16) uint32 {
	if n := z.nodes[name]; n != nil {
		if s := n.RRsets[t]; s != nil {
			return s.TTL()
		}
	}
	return z.SOA.Hdr.Ttl
}

// ParseRecord parses the rdata of one record of name (absolute), in
// master-file syntax with the zone's origin, so relative names in data
// ("mx1", "ns1") are inside the zone. The errors say what was expected.
func (z *Zone) ParseRecord(name string, ttl uint32, t uint16, data string) (dns.RR, error) {
	if strings.ContainsAny(data, "\n\r") {
		return nil, invalid("data %q spans lines; give one record's data per entry", data)
	}
	typ := dns.TypeToString[t]
	if strings.TrimSpace(data) == "" {
		return nil, invalid("%s record has no data; give it as in a zone file (e.g. %s)", typ, exampleData(t))
	}
	text := fmt.Sprintf("%s %d IN %s %s", name, ttl, typ, data)
	zp := dns.NewZoneParser(strings.NewReader(text), z.Origin, "data")
	zp.SetIncludeAllowed(false)
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil {
		var e *Error
		if errors.As(parseErr("data", []byte(text), err), &e) {
			return nil, &InvalidError{Reason: e.Reason, Record: text}
		}
		return nil, &InvalidError{Reason: err.Error(), Record: text}
	}
	if !ok || rr == nil {
		return nil, &InvalidError{Reason: fmt.Sprintf("%s record has no data", typ), Record: text}
	}
	if _, more := zp.Next(); more {
		return nil, &InvalidError{Reason: "data holds more than one record", Record: text}
	}
	if strings.TrimSpace(strings.TrimPrefix(rr.String(), rr.Header().String())) == "" {
		return nil, invalid("%s record has no data; give it as in a zone file (e.g. %s)", typ, exampleData(t))
	}
	canonicalHex(rr)
	// what is saved must load back as the same record
	if back, err := dns.NewRR(rr.String()); err != nil || back == nil || !dns.IsDuplicate(back, rr) {
		return nil, &InvalidError{Reason: fmt.Sprintf("%s record %q cannot be written back to a zone file as it is", typ, data), Record: text}
	}
	return rr, nil
}

func exampleData(t uint16) string {
	switch t {
	case dns.TypeA:
		return `"192.0.2.1"`
	case dns.TypeAAAA:
		return `"2001:db8::1"`
	case dns.TypeMX:
		return `"10 mail"`
	case dns.TypeTXT:
		return `"\"some text\""`
	case dns.TypeSRV:
		return `"0 5 443 www"`
	}
	return `"www" for a name`
}

// Apply returns a new zone: z with the edit, checked as a zone file is
// when loaded, and with the SOA serial advanced (NextSerial at now). z is
// not changed: readers of z go on seeing it whole, and the caller swaps
// the new zone in.
func (z *Zone) Apply(e Edit, now time.Time) (*Zone, error) { return z.ApplySerial(e, SerialDate, now) }

// ApplySerial is Apply with the serial advanced by method.
func (z *Zone) ApplySerial(e Edit, method SerialMethod, now time.Time) (*Zone, error) {
	typ := dns.TypeToString[e.Type]
	for _, rr := range e.RRs {
		if h := rr.Header(); !strings.EqualFold(h.Name, e.Name) || h.Rrtype != e.Type {
			return nil, invalid("record %s is not of %s %s", rr, e.Name, typ)
		}
	}
	if e.Type == dns.TypeSOA && e.Op != Replace {
		return nil, invalid("a zone has exactly one SOA record: replace it (PUT) to change it; its serial is advanced on every change anyway")
	}
	if e.Type == dns.TypeSOA && e.Name != z.Origin {
		return nil, invalid("%s SOA: the SOA record belongs at the zone apex %s", e.Name, z.Origin)
	}
	var cur []dns.RR
	if n := z.nodes[e.Name]; n != nil && n.RRsets[e.Type] != nil {
		cur = n.RRsets[e.Type].RRs
	}
	var next []dns.RR
	switch e.Op {
	case Add:
		if len(e.RRs) == 0 {
			return nil, invalid("nothing to add")
		}
		next = copyAll(cur)
		added := 0
		for _, rr := range e.RRs {
			if !containsRR(next, rr) {
				next = append(next, dns.Copy(rr))
				added++
			}
		}
		if added == 0 {
			return nil, ErrExists
		}
		setTTL(next, e.RRs[0].Header().Ttl) // one TTL per RRset (RFC 2181 §5.2)
	case Replace:
		if len(e.RRs) == 0 {
			return nil, invalid("replacing %s %s with nothing: remove the set instead", e.Name, typ)
		}
		next = copyAll(e.RRs)
		setTTL(next, e.RRs[0].Header().Ttl)
	case Remove:
		if len(cur) == 0 {
			return nil, ErrNoRecord
		}
		for _, rr := range cur {
			if len(e.RRs) > 0 && !containsRR(e.RRs, rr) {
				next = append(next, dns.Copy(rr))
			}
		}
		if len(next) == len(cur) {
			return nil, ErrNoRecord
		}
	default:
		return nil, invalid("unknown edit %d", e.Op)
	}

	return z.WithSets(map[SetKey][]dns.RR{{e.Name, e.Type}: next}, func(old uint32) uint32 { return method.Next(old, now) })
}

// RRset returns the records of name and type (nil when there are none).
func (z *Zone) RRset(name string, t uint16) []dns.RR {
	if n := z.nodes[name]; n != nil && n.RRsets[t] != nil {
		return n.RRsets[t].RRs
	}
	return nil
}

func copyAll(rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, 0, len(rrs)+1)
	for _, rr := range rrs {
		out = append(out, dns.Copy(rr))
	}
	return out
}

func containsRR(set []dns.RR, rr dns.RR) bool {
	for _, x := range set {
		if dns.IsDuplicate(x, rr) {
			return true
		}
	}
	return false
}

func setTTL(rrs []dns.RR, ttl uint32) {
	for _, rr := range rrs {
		rr.Header().Ttl = ttl
	}
}

// NextSerial is the SOA serial after a change: the later (RFC 1982 serial
// arithmetic) of old+1 and today's date-based serial YYYYMMDD00 (UTC), as
// BIND's "serial-update-method date" does.
func NextSerial(old uint32, now time.Time) uint32 {
	y, m, d := now.UTC().Date()
	date := uint32(y*10000+int(m)*100+d) * 100
	if next := old + 1; !SerialLess(next, date) {
		return next
	}
	return date
}

// SerialLess reports a < b in RFC 1982 serial number arithmetic.
func SerialLess(a, b uint32) bool {
	return a != b && b-a < 1<<31
}
