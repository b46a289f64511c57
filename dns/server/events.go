package server

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/events"
)

// QueryEvent is the "dns.query" event: one answered query (EVENTS.md).
// Building one costs one allocation: the answer records are kept as they
// are (they are read-only once in a reply) and rendered by the stream.
type QueryEvent struct {
	Server   string // the listener
	Client   netip.Addr
	Name     string
	QType    string
	RCode    string
	Proto    string
	Source   string // auth, geo, resolver, refused, error
	Cache    string // hit, miss, stale, coalesced (resolver only)
	Geo      *GeoChoice
	Size     int // bytes of the reply
	Duration time.Duration
	answers  []dns.RR // at most 8
}

// EventType names the event.
func (*QueryEvent) EventType() string { return "dns.query" }

// Answers renders the answer records' data, as dig shows it after the type.
func (e *QueryEvent) Answers() []string {
	var out []string
	for _, rr := range e.answers {
		out = append(out, string(appendRdata(nil, rr)))
	}
	return out
}

// AppendFields encodes the event's fields (events.FieldAppender).
func (e *QueryEvent) AppendFields(dst []byte) []byte {
	dst = e.appendHead(dst)
	if len(e.answers) > 0 {
		dst = append(events.AppendKey(dst, "answers"), '[')
		for i, rr := range e.answers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendAnswer(dst, rr)
		}
		dst = append(dst, ']')
	}
	return e.appendTail(dst)
}

// appendHead encodes the fields before the answers.
func (e *QueryEvent) appendHead(dst []byte) []byte {
	dst = events.AppendStringField(dst, "server", e.Server)
	if e.Client.IsValid() {
		dst = append(events.AppendKey(dst, "client"), '"')
		dst = append(e.Client.AppendTo(dst), '"')
	}
	dst = events.AppendStringFields(dst, "name", e.Name, "qtype", e.QType, "rcode", e.RCode, "proto", e.Proto,
		"source", e.Source, "cache", e.Cache)
	if g := e.Geo; g != nil {
		dst = append(events.AppendKey(dst, "geo"), '{')
		dst = events.AppendStringFields(dst, "pool", g.Pool, "region", g.Region, "reason", g.Reason)
		dst = append(dst, '}')
	}
	return dst
}

// appendTail encodes the fields after the answers.
func (e *QueryEvent) appendTail(dst []byte) []byte {
	dst = events.AppendIntField(dst, "size", int64(e.Size))
	return events.AppendIntField(dst, "duration_us", e.Duration.Microseconds())
}

// appendAnswer appends the data of rr as a JSON string.
func appendAnswer(dst []byte, rr dns.RR) []byte {
	n := len(dst)
	dst = appendRdata(dst, rr)
	s := string(dst[n:])
	if needsEscape(s) { // rare: TXT and the like
		return events.AppendString(dst[:n], s)
	}
	return append(append(append(dst[:n], '"'), s...), '"')
}

// MarshalJSON encodes the event's fields as an object.
func (e *QueryEvent) MarshalJSON() ([]byte, error) { return events.Object(e), nil }

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return true
		}
	}
	return false
}

// appendRdata appends the data of rr (addresses without allocating).
func appendRdata(dst []byte, rr dns.RR) []byte {
	switch v := rr.(type) {
	case *dns.A:
		if a, ok := netip.AddrFromSlice(v.A); ok {
			return a.Unmap().AppendTo(dst)
		}
	case *dns.AAAA:
		if a, ok := netip.AddrFromSlice(v.AAAA); ok {
			return a.AppendTo(dst)
		}
	case *dns.CNAME:
		return append(dst, v.Target...)
	}
	return append(dst, strings.TrimPrefix(rr.String(), rr.Header().String())...)
}

// GeoChoice is how GeoDNS chose an answer.
type GeoChoice struct {
	Pool   string `json:"pool,omitempty"`
	Region string `json:"region,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// GeoExplainer is a Geo that can say how it chose for a query. It is
// asked only when someone listens to events or the query log is on.
type GeoExplainer interface {
	ExplainChoice(req *dns.Msg, qname string, qtype uint16, client netip.Addr) *GeoChoice
}

// CacheExplainer is a Recursor that says how it found an answer: "hit",
// "miss", "stale" or "coalesced". It is used instead of Resolve only
// when someone listens.
type CacheExplainer interface {
	ResolveExplained(ctx context.Context, req, resp *dns.Msg, client netip.Addr) string
}

// source of an answer, as dns.query reports it.
type source uint8

const (
	srcError    source = iota // refused by the server's checks: FORMERR, NOTIMP, BADVERS
	srcAuth                   // our zones (and CHAOS identity)
	srcGeo                    // GeoDNS
	srcResolver               // the recursor
	srcRefused                // REFUSED: no zone, no recursion for this client, class, transfer
)

var sourceNames = [...]string{"error", "auth", "geo", "resolver", "refused"}

// queryInfo collects, during one query, what the event and the query
// log say about it. It lives on the stack of servePacket.
type queryInfo struct {
	explain bool // someone listens: ask the explainers
	cookie  bool // the query carried a valid server cookie of ours (rate limiting exempts it)
	source  source
	cache   string
	geo     *GeoChoice
}

func (qi *queryInfo) geoAnswered(g Geo, req *dns.Msg, qname string, qtype uint16, client netip.Addr) {
	qi.source = srcGeo
	if !qi.explain {
		return
	}
	if ex, ok := g.(GeoExplainer); ok {
		qi.geo = ex.ExplainChoice(req, qname, qtype, client)
	}
}

// SetEvents makes the handler publish dns.query events on b (nil: none).
// Call it before the listener serves.
func (h *Handler) SetEvents(b *events.Bus) { h.events = b }

// SetQueryLog makes the handler log queries through ql (nil: none). Call
// it before the listener serves; ql is switched on and off at run time.
func (h *Handler) SetQueryLog(ql *QueryLog) { h.qlog = ql }

// report publishes the dns.query event and writes the query log line.
func (h *Handler) report(qi *queryInfo, resp *dns.Msg, client netip.Addr, proto Protocol, start time.Time, size int) {
	logged := h.qlog.Sampled()
	if !logged && !h.events.Wants("dns.query") {
		return
	}
	e := &QueryEvent{
		Server: h.Name, Client: client, RCode: rcodeName(resp.Rcode), Proto: proto.String(),
		Source: sourceNames[qi.source], Cache: qi.cache, Geo: qi.geo, Size: size,
		Duration: time.Since(start), answers: resp.Answer[:min(len(resp.Answer), 8)],
	}
	if qi.source == srcAuth && resp.Rcode == dns.RcodeRefused {
		e.Source = "refused"
	}
	if len(resp.Question) > 0 {
		e.Name, e.QType = resp.Question[0].Name, qtypeName(resp.Question[0].Qtype)
	}
	if logged {
		h.qlog.write(e)
	}
	h.events.Publish(e)
}

func qtypeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return "TYPE" + itoa(int(t))
}

func itoa(n int) string {
	var b [8]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
