// Package zones holds zone data: RFC 1035 master files (the demo hierarchy
// is embedded), their loading and semantic checks, and the lookup that
// authoritative answers are built from (RFC 1034 §4.3.2, RFC 4592).
//
// A loaded Zone is immutable; a reload builds a new one and swaps it in.
// The only state that changes after load is the rotation counter of each
// RRset, used for round-robin answers without touching the records.
package zones

import (
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"

	"netsim/dns/rrset"
)

// RRset is the records of one name and type.
type RRset struct {
	Type uint16
	RRs  []dns.RR
	rot  atomic.Uint32
}

// Rotated returns the records starting at the next rotation offset. The
// returned slice is a fresh copy; the RRs themselves are shared and must not
// be modified. (Small enough to inline, so that a caller's copy can live on
// its stack.)
func (s *RRset) Rotated() []dns.RR { return s.AppendRotated(make([]dns.RR, 0, len(s.RRs))) }

// AppendRotated appends the records to dst starting at the next rotation
// offset (round-robin: each call leads with the next record).
func (s *RRset) AppendRotated(dst []dns.RR) []dns.RR {
	i := len(dst)
	dst = append(dst, s.RRs...)
	if len(s.RRs) > 1 {
		rrset.Rotate(dst[i:], s.rot.Add(1)-1)
	}
	return dst
}

// TTL is the TTL of the set (RFC 2181 §5.2: one TTL per RRset; the loader
// makes them equal).
func (s *RRset) TTL() uint32 {
	if len(s.RRs) == 0 {
		return 0
	}
	return s.RRs[0].Header().Ttl
}

// Node is one owner name in a zone. A node with no RRsets is an empty
// non-terminal: it exists because names below it do.
type Node struct {
	Name   string // lower-case, fully qualified
	RRsets map[uint16]*RRset
	// Cut is set on a delegation point (NS records at a name other than the apex).
	Cut bool
}

// Empty reports whether the node is an empty non-terminal.
func (n *Node) Empty() bool { return len(n.RRsets) == 0 }

// Types lists the types present at the node, in numeric order.
func (n *Node) Types() []uint16 {
	ts := make([]uint16, 0, len(n.RRsets))
	for t := range n.RRsets {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts
}

// Zone is one loaded zone.
type Zone struct {
	Origin string // lower-case, fully qualified
	File   string // where it came from, for messages
	SOA    *dns.SOA
	// NegSOA is the SOA to put in the authority section of negative answers:
	// its TTL is min(SOA TTL, SOA MINIMUM) (RFC 2308 §3).
	NegSOA *dns.SOA
	// Down, when set, says why the zone is not served: a secondary's
	// copy expired, or none was transferred yet (dns/xfr). Such a zone
	// holds no records; every query for it gets SERVFAIL with an
	// Extended DNS Error giving this text.
	Down string
	// Warnings are problems the zone loads with (named-checkzone warns
	// about the same): the loader of the zone logs them.
	Warnings []string
	nodes    map[string]*Node
	labels   int      // label count of the origin
	sorted   []string // the owner names in canonical order, once finished
}

// Node returns the node for a lower-case fully qualified name, or nil.
func (z *Zone) Node(name string) *Node { return z.nodes[name] }

// Names returns every owner name in canonical order (for listings and
// transfers). A finished zone does not change: its order is sorted once.
func (z *Zone) Names() []string {
	if z.sorted != nil {
		return slices.Clone(z.sorted)
	}
	return z.sortNames()
}

func (z *Zone) sortNames() []string {
	names := make([]string, 0, len(z.nodes))
	for n := range z.nodes {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return canonicalLess(names[i], names[j]) })
	return names
}

// Records returns all records of the zone in canonical order.
func (z *Zone) Records() []dns.RR {
	var out []dns.RR
	for _, name := range z.Names() {
		n := z.nodes[name]
		for _, t := range n.Types() {
			out = append(out, n.RRsets[t].RRs...)
		}
	}
	return out
}

// Len is the number of records.
func (z *Zone) Len() int {
	c := 0
	for _, n := range z.nodes {
		for _, s := range n.RRsets {
			c += len(s.RRs)
		}
	}
	return c
}

// canonicalLess orders names as RFC 4034 §6.1 does: by labels from the
// right (names here are lower-case; escapes are compared as written).
func canonicalLess(a, b string) bool {
	if strings.IndexByte(a, '\\') >= 0 || strings.IndexByte(b, '\\') >= 0 {
		return canonicalLessEscaped(a, b)
	}
	a, b = strings.TrimSuffix(a, "."), strings.TrimSuffix(b, ".")
	for a != "" && b != "" {
		var la, lb string
		a, la = lastLabel(a)
		b, lb = lastLabel(b)
		if la != lb {
			return la < lb
		}
	}
	return a == "" && b != ""
}

// canonicalLessEscaped is canonicalLess for names with escapes (an
// escaped dot is not a label boundary): slower, as it allocates.
func canonicalLessEscaped(a, b string) bool {
	la, lb := dns.SplitDomainName(a), dns.SplitDomainName(b)
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if la[i] != lb[j] {
			return la[i] < lb[j]
		}
	}
	return len(la) < len(lb)
}

// lastLabel splits name (without its final dot) before its last label.
func lastLabel(name string) (rest, label string) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}

// Contains reports whether name (lower-case, fully qualified) is at or below
// the zone's origin.
func (z *Zone) Contains(name string) bool { return dns.IsSubDomain(z.Origin, name) }

// Kind says what a lookup found.
type Kind int

const (
	// Success: the name exists and has data of the type (Answer holds it).
	Success Kind = iota
	// NoData: the name exists (possibly as an empty non-terminal, or as a
	// wildcard match) but has no data of the type.
	NoData
	// NXDomain: the name does not exist.
	NXDomain
	// Delegation: the name is at or below a zone cut; Cut holds the NS set.
	Delegation
	// CNAME: the name has a CNAME and the question asked for another type;
	// Answer holds the CNAME (owner rewritten if synthesised from a wildcard).
	CNAME
)

func (k Kind) String() string {
	return [...]string{"success", "nodata", "nxdomain", "delegation", "cname"}[k]
}

// Result of a lookup.
type Result struct {
	Kind Kind
	// Set is the matching RRset (Success, CNAME) or the delegation NS set.
	Set *RRset
	// Node is the node matched (the cut node for Delegation).
	Node *Node
	// Wildcard is set when the answer was synthesised from a wildcard; the
	// caller must rewrite owner names to the query name.
	Wildcard bool
}

// Lookup finds qname (lower-case, fully qualified, inside the zone) for
// qtype. It follows RFC 1034 §4.3.2 step 3 and RFC 4592: zone cuts first,
// then exact match, then the wildcard at the closest encloser.
func (z *Zone) Lookup(qname string, qtype uint16) Result {
	// Walk down from the label under the origin towards qname, stopping at
	// the first cut: a name below a cut is not ours.
	offs := dns.Split(qname)
	// offs[i] starts the name with len(offs)-i labels. Ancestors strictly
	// between origin and qname are offs[1 .. len(offs)-z.labels-1], deepest first.
	depth := len(offs) - z.labels // labels of qname below the origin
	for i := depth - 1; i >= 1; i-- {
		if n := z.nodes[qname[offs[i]:]]; n != nil && n.Cut {
			return Result{Kind: Delegation, Set: n.RRsets[dns.TypeNS], Node: n}
		}
	}
	if n := z.nodes[qname]; n != nil {
		if n.Cut && qtype != dns.TypeDS {
			return Result{Kind: Delegation, Set: n.RRsets[dns.TypeNS], Node: n}
		}
		return z.answerAt(n, qtype, false)
	}
	// Closest encloser: the deepest existing ancestor. Since every ancestor
	// of a node exists (as an empty non-terminal if need be), it is found by
	// walking up.
	for i := 1; i <= depth; i++ {
		enc := z.Origin
		if i < depth {
			enc = qname[offs[i]:]
		}
		if _, ok := z.nodes[enc]; !ok {
			continue
		}
		if w := z.nodes["*."+enc]; w != nil {
			return z.answerAt(w, qtype, true)
		}
		break
	}
	return Result{Kind: NXDomain}
}

func (z *Zone) answerAt(n *Node, qtype uint16, wild bool) Result {
	if s, ok := n.RRsets[qtype]; ok {
		return Result{Kind: Success, Set: s, Node: n, Wildcard: wild}
	}
	if s, ok := n.RRsets[dns.TypeCNAME]; ok {
		return Result{Kind: CNAME, Set: s, Node: n, Wildcard: wild}
	}
	return Result{Kind: NoData, Node: n, Wildcard: wild}
}

// Glue returns the address records for name held in this zone, whether
// authoritative or glue below a cut. Used for the additional section.
func (z *Zone) Glue(name string) []dns.RR {
	n := z.nodes[strings.ToLower(name)]
	if n == nil {
		return nil
	}
	var out []dns.RR
	if s := n.RRsets[dns.TypeA]; s != nil {
		out = append(out, s.RRs...)
	}
	if s := n.RRsets[dns.TypeAAAA]; s != nil {
		out = append(out, s.RRs...)
	}
	return out
}

// Delegated reports whether name is at or below a zone cut of this zone:
// the zone does not answer for it authoritatively.
func (z *Zone) Delegated(name string) bool {
	if n := z.nodes[name]; n != nil && n.Cut {
		return true
	}
	return z.Occluded(name)
}

// Occluded reports whether name lies strictly below a zone cut of this zone
// (data there is glue, not authoritative).
func (z *Zone) Occluded(name string) bool {
	offs := dns.Split(name)
	depth := len(offs) - z.labels
	for i := depth - 1; i >= 1; i-- {
		if n := z.nodes[name[offs[i]:]]; n != nil && n.Cut {
			return true
		}
	}
	return false
}
