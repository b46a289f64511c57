package server

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/auth"
	"netsim/internal/events"
	"netsim/zones"
)

// hitRecursor answers every name from its "cache": one A record, on the
// full way (ResolveCached) and the packed one (AppendCached) alike.
type hitRecursor struct{}

func (hitRecursor) Allowed(netip.Addr) bool { return true }
func (hitRecursor) Resolve(_ context.Context, req, resp *dns.Msg, c netip.Addr) {
	hitRecursor{}.ResolveCached(req, resp, c)
}
func (hitRecursor) ResolveCached(req, resp *dns.Msg, _ netip.Addr) bool {
	q := req.Question[0]
	resp.RecursionAvailable = true
	if q.Qtype == dns.TypeA {
		resp.Answer = append(resp.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: []byte{192, 0, 2, 7}})
	}
	return true
}
func (hitRecursor) AppendCached(dst []byte, name string, qtype uint16, _ netip.Addr, _, _ bool) ([]byte, int, bool) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id, m.Response, m.RecursionDesired = 0, true, true
	req := m.Copy()
	hitRecursor{}.ResolveCached(req, m, netip.Addr{})
	m.RecursionAvailable = false // finish sets RA
	b, err := m.PackBuffer(dst[len(dst):cap(dst)])
	if err != nil {
		return dst, 0, false
	}
	return append(dst, b...), m.Rcode, true
}

// eventJSON is the object of the one event on sub, without what differs
// between two servers and two runs, and with its answers sorted
// (rotations): what the live page shows of a query. The event's size must
// be the reply's (the packed path compresses names against a mixed-case
// question where the full way does not).
func eventJSON(t *testing.T, sub *events.Subscription, reply []byte) (map[string]any, events.Event) {
	t.Helper()
	if len(sub.C()) != 1 {
		t.Fatalf("%d events after one query, want 1", len(sub.C()))
	}
	m := <-sub.C()
	var obj map[string]any
	if err := json.Unmarshal(events.AppendJSON(nil, m), &obj); err != nil {
		t.Fatalf("event %T: %v", m.Event, err)
	}
	if size, _ := obj["size"].(float64); int(size) != len(reply) {
		t.Fatalf("event %T: size %v, the reply %d bytes", m.Event, obj["size"], len(reply))
	}
	for _, k := range []string{"time", "duration_us", "server", "size"} {
		delete(obj, k)
	}
	if a, ok := obj["answers"].([]any); ok {
		slices.SortFunc(a, func(x, y any) int { return map[bool]int{true: -1, false: 1}[x.(string) < y.(string)] })
	}
	return obj, m.Event
}

// A subscriber keeps queries on the packed path, and the dns.query event
// read from the packed reply is the one the full way publishes: names of
// every kind, mixed case, EDNS, DO, cookies, UDP and TCP, the recursor's
// cache hits. Before, a subscriber sent every query the full way.
func TestPackedEventsMatchFullWay(t *testing.T) {
	questions := append(packedQuestions[:len(packedQuestions):len(packedQuestions)],
		testQuestion{"_http._tcp.example.test.", dns.TypeSRV}, testQuestion{"info.example.test.", dns.TypeTXT},
		testQuestion{"cached.elsewhere.", dns.TypeA}, testQuestion{"cached.elsewhere.", dns.TypeMX})
	fast, full := packedHandlers(t, hitRecursor{})
	var ex []*zones.Zone // example.test. alone: names elsewhere are the recursor's
	for _, z := range fast.Zones().Zones() {
		if z.Origin == "example.test." {
			ex = append(ex, z)
		}
	}
	fast.SetZones(auth.NewSet(ex))
	full.SetZones(auth.NewSet(ex))
	fastBus, fullBus := events.New(events.Options{}), events.New(events.Options{})
	fast.SetEvents(fastBus)
	full.SetEvents(fullBus)
	fastSub, fullSub := fastBus.Subscribe(), fullBus.Subscribe()
	defer fastSub.Close()
	defer fullSub.Close()
	r := rand.New(rand.NewPCG(3, 4))
	packed, bySource := 0, map[string]int{}
	for i := 0; i < 400; i++ {
		q := questions[i%len(questions)]
		m, pkt := packedQuery(t, r, q.name, q.qtype, nil)
		proto := Protocol(r.IntN(2))
		client := netip.MustParseAddr("192.0.2.1")
		got, _ := fast.TryServePacket(pkt, client, proto, nil)
		want, _ := full.TryServePacket(pkt, client, proto, nil)
		if got == nil || want == nil {
			t.Fatalf("%s %s: no reply", m.Question[0].Name, dns.TypeToString[q.qtype])
		}
		g, ge := eventJSON(t, fastSub, got)
		w, _ := eventJSON(t, fullSub, want)
		if pe, ok := ge.(*PackedQueryEvent); ok {
			packed++
			bySource[g["source"].(string)]++
			if qe := pe.Query(); qe.Name != m.Question[0].Name || qe.QType != dns.TypeToString[q.qtype] {
				t.Fatalf("decoded %+v, want %s %s", qe, m.Question[0].Name, dns.TypeToString[q.qtype])
			}
		}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("%s %s proto %s:\npacked path's event %v\nfull way's          %v", m.Question[0].Name, dns.TypeToString[q.qtype], proto, g, w)
		}
	}
	if bySource["auth"] == 0 || bySource["resolver"] == 0 {
		t.Errorf("packed events by source %v, want the zones' answers and cache hits", bySource)
	}
	if packed < 300 {
		t.Errorf("%d of 400 events came from the packed path, want most: a subscriber must not send queries the full way", packed)
	}
}

// The event of a packed answer costs the query path a copy of the reply
// and nothing else: the decoding waits for a stream.
func TestPackedEventAllocations(t *testing.T) {
	fast, _ := packedHandlers(t, nil)
	bus := events.New(events.Options{Buffer: 1 << 16})
	fast.SetEvents(bus)
	sub := bus.Subscribe()
	defer sub.Close()
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	pkt, _ := m.Pack()
	out := make([]byte, 0, 4096)
	client := netip.MustParseAddr("192.0.2.1")
	allocs := testing.AllocsPerRun(100, func() { fast.TryServePacket(pkt, client, UDP, out) })
	if allocs > 2 {
		t.Fatalf("%v allocations per query with a subscriber, want 2 (the event and its copy of the reply)", allocs)
	}
	if _, ok := (<-sub.C()).Event.(*PackedQueryEvent); !ok {
		t.Fatal("the event is not the packed path's")
	}
}

// Whatever bytes a packed event holds, its stream encoding does not
// panic and is JSON; for a message miekg/dns unpacks, it shows the
// answers miekg/dns reads (the wire reader's own A, AAAA, CNAME and MX
// against miekg's).
func FuzzPackedEventMatchesUnpacked(f *testing.F) {
	fast, _ := packedHandlers(f, nil)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"www.example.test.", dns.TypeA}, {"WwW.example.test.", dns.TypeAAAA}, {"mail.example.test.", dns.TypeMX},
		{"alias.example.test.", dns.TypeA}, {"info.example.test.", dns.TypeTXT}, {"nope.example.test.", dns.TypeA}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		pkt, _ := m.Pack()
		if reply, _ := fast.TryServePacket(pkt, netip.MustParseAddr("192.0.2.1"), UDP, nil); reply != nil {
			f.Add(reply)
		}
	}
	f.Fuzz(func(t *testing.T, reply []byte) {
		e := fast.newPackedQueryEvent(reply, netip.MustParseAddr("192.0.2.1"), UDP, srcAuth, time.Now())
		var got map[string]any
		if err := json.Unmarshal(events.Object(e), &got); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, events.Object(e))
		}
		want := map[string]any{}
		if err := json.Unmarshal(events.Object(e.Query()), &want); err != nil {
			t.Fatal(err)
		}
		if new(dns.Msg).Unpack(reply) != nil {
			return
		}
		if !reflect.DeepEqual(got["answers"], want["answers"]) {
			t.Fatalf("answers %v read from the wire, %v unpacked", got["answers"], want["answers"])
		}
	})
}
