package scenario

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// DNSStack is what the DNS steps need besides Stack: the resolver and its
// knobs, and its count of upstream queries. The running stack has it (dnsd
// runs inside netsim); --standalone has no dnsd.
type DNSStack interface {
	// ResolverAddr is the recursive resolver, host:port.
	ResolverAddr() string
	// SetResolverKnobs switches coalescing and prefetch (nil: unchanged).
	SetResolverKnobs(ctx context.Context, coalesce, prefetch *bool) error
	// UpstreamQueries is the resolver's count of queries sent upstream.
	UpstreamQueries(ctx context.Context) (float64, error)
}

var _ DNSStack = (*Netsim)(nil)

// dnsUndo is what the DNS side of a scenario changed, to put back at Close.
type dnsUndo struct {
	mu      sync.Mutex
	records map[string]recordSet // "name type" → the set before the first change
	knobs   *resolverKnobs       // the resolver's knobs before the first change
}

type recordSet struct {
	zone string
	data []string
	ttl  uint32
}

type resolverKnobs struct {
	Coalesce bool `json:"coalesce"`
	Prefetch bool `json:"prefetch"`
}

// ResolverAddr implements DNSStack.
func (n *Netsim) ResolverAddr() string {
	if n.Resolver != "" {
		return n.Resolver
	}
	return "127.0.0.1:1053"
}

// zoneOf is the loaded zone that holds name: the longest origin it ends in.
func (n *Netsim) zoneOf(ctx context.Context, name string) (string, error) {
	var env struct {
		Data []struct{ Origin string } `json:"data"`
	}
	if err := n.do(ctx, http.MethodGet, n.DNSAdmin+"/api/v1/zones?limit=100", "", nil, &env); err != nil {
		return "", err
	}
	best := ""
	for _, z := range env.Data {
		if dns.IsSubDomain(z.Origin, name) && len(z.Origin) > len(best) {
			best = z.Origin
		}
	}
	if best == "" {
		return "", fmt.Errorf("no zone served by dnsd holds %s; GET %s/api/v1/zones lists them", name, n.DNSAdmin)
	}
	return best, nil
}

func (n *Netsim) recordsURL(zone string) string {
	return n.DNSAdmin + "/api/v1/zones/" + url.PathEscape(zone) + "/records"
}

func (n *Netsim) recordSet(ctx context.Context, zone, name, typ string) (recordSet, error) {
	var env struct {
		Data []struct {
			TTL  uint32 `json:"ttl"`
			Data string `json:"data"`
		} `json:"data"`
	}
	q := url.Values{"name": {name}, "type": {typ}, "limit": {"100"}}
	if err := n.do(ctx, http.MethodGet, n.recordsURL(zone)+"?"+q.Encode(), "", nil, &env); err != nil {
		return recordSet{}, err
	}
	rs := recordSet{zone: zone}
	for _, r := range env.Data {
		rs.data, rs.ttl = append(rs.data, r.Data), r.TTL
	}
	return rs, nil
}

// SetRecord implements Stack through dnsd's record write path: the RRset
// of the name and type becomes the one value (PUT). The set as it was
// before the scenario's first change of it comes back at Close.
func (n *Netsim) SetRecord(ctx context.Context, r RecordChange) error {
	name := dns.Fqdn(strings.ToLower(r.Name))
	zone := r.Zone
	if zone == "" {
		z, err := n.zoneOf(ctx, name)
		if err != nil {
			return err
		}
		zone = z
	}
	zone = dns.Fqdn(zone)
	key := name + " " + r.Type
	n.undo.mu.Lock()
	_, seen := n.undo.records[key]
	n.undo.mu.Unlock()
	if !seen {
		old, err := n.recordSet(ctx, zone, name, r.Type)
		if err != nil {
			return err
		}
		n.undo.mu.Lock()
		if n.undo.records == nil {
			n.undo.records = map[string]recordSet{}
		}
		n.undo.records[key] = old
		n.undo.mu.Unlock()
	}
	body := map[string]any{"name": name, "type": r.Type, "ttl": r.TTL, "data": []string{r.Value}}
	return n.do(ctx, http.MethodPut, n.recordsURL(zone), n.DNSToken, body, nil)
}

// SetResolverKnobs implements DNSStack (PATCH /api/v1/resolver); the knobs
// as found come back at Close.
func (n *Netsim) SetResolverKnobs(ctx context.Context, coalesce, prefetch *bool) error {
	n.undo.mu.Lock()
	seen := n.undo.knobs != nil
	n.undo.mu.Unlock()
	if !seen {
		var env struct{ Data resolverKnobs }
		if err := n.do(ctx, http.MethodGet, n.DNSAdmin+"/api/v1/resolver", "", nil, &env); err != nil {
			return err
		}
		n.undo.mu.Lock()
		n.undo.knobs = &env.Data
		n.undo.mu.Unlock()
	}
	patch := map[string]bool{}
	if coalesce != nil {
		patch["coalesce"] = *coalesce
	}
	if prefetch != nil {
		patch["prefetch"] = *prefetch
	}
	return n.do(ctx, http.MethodPatch, n.DNSAdmin+"/api/v1/resolver", n.DNSToken, patch, nil)
}

// UpstreamQueries implements DNSStack: the sum of
// dnsd_resolver_upstream_queries_total over its labels, from /metrics.
func (n *Netsim) UpstreamQueries(ctx context.Context) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.DNSAdmin+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := n.client().Do(req)
	if err != nil {
		return 0, fmt.Errorf("dnsd metrics: %w", err)
	}
	defer resp.Body.Close()
	const metric = "dnsd_resolver_upstream_queries_total"
	total, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("dnsd metrics: %q: %w", line, err)
		}
		total, found = total+v, true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found && resp.StatusCode == http.StatusOK {
		return 0, nil // no upstream query yet: the counter has no series
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("dnsd metrics: %s", resp.Status)
	}
	return total, nil
}

// closeDNS puts the records and the resolver knobs back as found.
func (n *Netsim) closeDNS(ctx context.Context) []error {
	n.undo.mu.Lock()
	defer n.undo.mu.Unlock()
	var errs []error
	for _, key := range sortedKeys(n.undo.records) {
		old := n.undo.records[key]
		name, typ, _ := strings.Cut(key, " ")
		if len(old.data) == 0 {
			q := url.Values{"name": {name}, "type": {typ}}
			errs = append(errs, n.do(ctx, http.MethodDelete, n.recordsURL(old.zone)+"?"+q.Encode(), n.DNSToken, nil, nil))
			continue
		}
		body := map[string]any{"name": name, "type": typ, "ttl": old.ttl, "data": old.data}
		errs = append(errs, n.do(ctx, http.MethodPut, n.recordsURL(old.zone), n.DNSToken, body, nil))
	}
	n.undo.records = nil
	if k := n.undo.knobs; k != nil {
		errs = append(errs, n.do(ctx, http.MethodPatch, n.DNSAdmin+"/api/v1/resolver", n.DNSToken, k, nil))
		n.undo.knobs = nil
	}
	return errs
}
