package resolver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/cache"
)

// Resolution is a fresh resolution explained: every upstream query, what
// the server said, how long it took and what was cached. It is the body
// of GET /api/v1/resolutions and the output of `dnsd trace`.
type Resolution struct {
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	Client    string    `json:"client,omitempty"` // whose subnet was sent (ECS)
	Scope     string    `json:"scope,omitempty"`  // the network the answer holds for (ECS)
	Started   time.Time `json:"started"`
	Rcode     string    `json:"rcode"`
	Answer    []string  `json:"answer,omitempty"`
	Authority []string  `json:"authority,omitempty"`
	Error     string    `json:"error,omitempty"`
	Duration  Duration  `json:"duration"`
	Queries   int       `json:"upstream_queries"`
	Hops      []*Hop    `json:"hops"`
	Notes     []string  `json:"notes,omitempty"`
}

// Hop is one upstream query.
type Hop struct {
	Step      int       `json:"step"`
	Depth     int       `json:"depth"` // 0: the main walk; 1+: looking up a name server's address
	Server    string    `json:"server"`
	Zone      string    `json:"zone"`
	Question  string    `json:"question"`
	Transport string    `json:"transport"`
	EDNS      bool      `json:"edns"`
	ECS       string    `json:"ecs,omitempty"` // client subnet sent, and the scope of the reply
	Rcode     string    `json:"rcode,omitempty"`
	AA        bool      `json:"aa"`
	Kind      string    `json:"kind"` // referral, answer, cname, nxdomain, nodata, lame, refused, servfail, timeout, error
	Referral  *Referral `json:"referral,omitempty"`
	Answer    []string  `json:"answer,omitempty"`
	Authority []string  `json:"authority,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	Duration  Duration  `json:"duration"`
	Cached    []string  `json:"cached,omitempty"`
}

// Referral is the zone cut a server pointed to.
type Referral struct {
	Zone string   `json:"zone"`
	NS   []string `json:"ns"`
	Glue []string `json:"glue,omitempty"`
}

// Duration marshals as a Go duration string ("1.234ms").
type Duration time.Duration

// MarshalJSON renders d as "1.5ms".
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

func (d Duration) String() string {
	t := time.Duration(d)
	switch {
	case t >= time.Second:
		return t.Round(time.Millisecond).String()
	case t >= time.Millisecond:
		return t.Round(10 * time.Microsecond).String()
	default:
		return t.Round(time.Microsecond).String()
	}
}

// hop starts a trace record for one exchange; nil when not tracing (all
// methods accept a nil receiver).
func (st *state) hop(server netip.AddrPort, d *delegation, qname string, qtype uint16, res exchangeResult) *Hop {
	if st.trace == nil {
		return nil
	}
	h := &Hop{
		Step:      len(st.trace.Hops) + 1,
		Depth:     st.depth,
		Server:    server.String(),
		Zone:      d.zone,
		Question:  qname + " " + dns.TypeToString[qtype],
		Transport: res.transport,
		EDNS:      res.edns,
		Duration:  Duration(res.rtt),
	}
	if res.ecs != nil {
		h.ECS = fmt.Sprintf("sent %s/%d", res.ecs.Address, res.ecs.SourceNetmask)
		if res.scope.IsValid() {
			h.ECS += fmt.Sprintf(", scope /%d", res.scope.Bits())
		}
	}
	st.trace.Hops = append(st.trace.Hops, h)
	return h
}

func (h *Hop) fail(err error) {
	if h == nil {
		return
	}
	h.Kind = "error"
	if errors.Is(err, errTimeout) {
		h.Kind = "timeout"
	}
	h.Detail = err.Error()
}

func (h *Hop) result(m *dns.Msg, v verdict, why string) {
	if h == nil {
		return
	}
	h.Rcode = dns.RcodeToString[m.Rcode]
	h.AA = m.Authoritative
	h.Detail = why
	for _, rr := range m.Answer {
		h.Answer = append(h.Answer, rr.String())
	}
	switch v {
	case vFail:
		h.Kind = strings.ToLower(h.Rcode)
	case vLame, vLoop:
		h.Kind = "lame"
	case vReferral:
		h.Kind = "referral"
		h.Detail = ""
		ref := &Referral{Zone: why}
		for _, rr := range nsRecords(m.Ns, why) {
			ref.NS = append(ref.NS, rr.(*dns.NS).Ns)
		}
		for _, rr := range m.Extra {
			switch a := rr.(type) {
			case *dns.A:
				ref.Glue = append(ref.Glue, a.Hdr.Name+" "+a.A.String())
			case *dns.AAAA:
				ref.Glue = append(ref.Glue, a.Hdr.Name+" "+a.AAAA.String())
			}
		}
		h.Referral = ref
	case vAnswer:
		switch {
		case m.Rcode == dns.RcodeNameError:
			h.Kind = "nxdomain"
		case len(m.Answer) == 0:
			h.Kind = "nodata"
		default:
			h.Kind = "answer"
			if last := m.Answer[len(m.Answer)-1]; last.Header().Rrtype == dns.TypeCNAME && !strings.HasSuffix(h.Question, " CNAME") {
				h.Kind = "cname"
			}
		}
		for _, rr := range m.Ns {
			if rr.Header().Rrtype == dns.TypeSOA {
				h.Authority = append(h.Authority, rr.String())
			}
		}
	}
}

func (st *state) note(format string, args ...any) {
	if st.trace == nil {
		return
	}
	st.trace.Notes = append(st.trace.Notes, fmt.Sprintf("after step %d: ", len(st.trace.Hops))+fmt.Sprintf(format, args...))
}

func (st *state) cached(k cache.Key, ttl time.Duration) {
	if st.trace == nil {
		return
	}
	s := fmt.Sprintf("%s %s for %s", k.Name, dns.TypeToString[k.Type], ttl)
	if k.Kind == cache.Delegation {
		s = fmt.Sprintf("%s delegation (NS + glue) for %s", k.Name, ttl)
	}
	if n := len(st.trace.Hops); n > 0 {
		h := st.trace.Hops[n-1]
		for _, c := range h.Cached {
			if c == s {
				return
			}
		}
		h.Cached = append(h.Cached, s)
		return
	}
	st.trace.Notes = append(st.trace.Notes, "cached "+s)
}

// Format writes the resolution for a terminal, one hop per line, the way
// `dnsd trace NAME` prints it.
func (res *Resolution) Format(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, ";; resolving %s %s (fresh walk, cache not read)\n", res.Name, res.Type)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSERVER\tZONE\tQUESTION\tREPLY\tTIME")
	for _, h := range res.Hops {
		indent := strings.Repeat("  ", h.Depth)
		proto := h.Transport
		if h.EDNS {
			proto += "+edns"
		}
		if h.ECS != "" {
			proto += " ecs " + strings.TrimPrefix(h.ECS, "sent ")
		}
		what := h.Kind
		switch {
		case h.Referral != nil:
			what = fmt.Sprintf("referral to %s (%d NS, %d glue)", h.Referral.Zone, len(h.Referral.NS), len(h.Referral.Glue))
		case h.Kind == "answer" || h.Kind == "cname":
			what = h.Kind + " (" + h.Rcode + ", aa)"
		case h.Detail != "":
			what += ": " + h.Detail
		}
		fmt.Fprintf(tw, "%s%d\t%s/%s\t%s\t%s\t%s\t%s\n", indent, h.Step, h.Server, proto, h.Zone, h.Question, what, h.Duration)
	}
	_ = tw.Flush()
	for _, h := range res.Hops {
		if h.Referral != nil {
			fmt.Fprintf(&b, ";; step %d referral: %s NS %s", h.Step, h.Referral.Zone, strings.Join(h.Referral.NS, " "))
			if len(h.Referral.Glue) > 0 {
				fmt.Fprintf(&b, "; glue %s", strings.Join(h.Referral.Glue, ", "))
			}
			b.WriteByte('\n')
		}
		for _, a := range h.Answer {
			fmt.Fprintf(&b, ";; step %d answer: %s\n", h.Step, a)
		}
		for _, a := range h.Authority {
			fmt.Fprintf(&b, ";; step %d authority: %s\n", h.Step, a)
		}
		for _, c := range h.Cached {
			fmt.Fprintf(&b, ";; step %d cached: %s\n", h.Step, c)
		}
	}
	for _, n := range res.Notes {
		fmt.Fprintf(&b, ";; %s\n", n)
	}
	fmt.Fprintf(&b, ";; result %s in %s with %d upstream queries\n", res.Rcode, res.Duration, res.Queries)
	if res.Scope != "" {
		fmt.Fprintf(&b, ";; answer tailored to %s (ECS scope)\n", res.Scope)
	}
	if res.Error != "" {
		fmt.Fprintf(&b, ";; error: %s\n", res.Error)
	}
	for _, a := range res.Answer {
		fmt.Fprintln(&b, a)
	}
	for _, a := range res.Authority {
		fmt.Fprintln(&b, a)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Trace resolves name/qtype afresh, walking from the root hints (or the
// configured stub/forward zone) without reading the cache, and records each
// upstream query. What it learns is cached as a normal resolution would.
// The error is for bad input only; a failed resolution is described in the
// Resolution (Rcode SERVFAIL, Error).
func (r *Resolver) Trace(ctx context.Context, name string, qtype uint16) (*Resolution, error) {
	return r.TraceFrom(ctx, name, qtype, netip.Addr{})
}

// TraceFrom is Trace on behalf of client: with ECS on, its subnet is sent
// upstream as for its own queries (an invalid client sends none).
func (r *Resolver) TraceFrom(ctx context.Context, name string, qtype uint16, client netip.Addr) (*Resolution, error) {
	if _, ok := dns.IsDomainName(name); !ok || name == "" {
		return nil, fmt.Errorf("%q is not a domain name", name)
	}
	if qtype == 0 || qtype == dns.TypeOPT || qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
		return nil, fmt.Errorf("type %d cannot be resolved", qtype)
	}
	name = strings.ToLower(dns.Fqdn(name))
	tr := &Resolution{Name: name, Type: dns.TypeToString[qtype], Started: r.now().UTC()}
	st := r.newState(tr)
	if client.IsValid() && r.cfg.ECS.Enabled {
		sub, err := r.subnet(new(dns.Msg), client)
		if err != nil {
			return nil, err
		}
		st.ecs, st.client = sub.opt, sub.at
		tr.Client = client.String()
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	start := time.Now()
	msg, err := r.resolve(ctx, st, name, qtype)
	err = timeoutErr(err, r.cfg.Timeout)
	tr.Duration = Duration(time.Since(start))
	tr.Queries = st.queries
	if err != nil {
		tr.Rcode = dns.RcodeToString[dns.RcodeServerFailure]
		tr.Error = err.Error()
		return tr, nil
	}
	k := cache.Key{Name: name, Type: qtype, Class: dns.ClassINET}
	if st.scope.IsValid() && st.scope.Bits() > 0 {
		k.Scope = st.scope
		tr.Scope = st.scope.String()
	}
	r.store(st, k, msg)
	tr.Rcode = dns.RcodeToString[msg.Rcode]
	for _, rr := range msg.Answer {
		tr.Answer = append(tr.Answer, rr.String())
	}
	for _, rr := range msg.Ns {
		tr.Authority = append(tr.Authority, rr.String())
	}
	return tr, nil
}
