package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// rootHints is a hints file for `drill -T -r`: the simulated root server.
const rootHints = `; root hints for the simulated internet (netsim)
.                        3600000 IN NS a.root-servers.test.
a.root-servers.test.     3600000 IN A  127.0.1.1
`

// writeHints writes var/root.hints under the working directory.
func writeHints() (string, error) {
	dir := varDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, "root.hints")
	if err := os.WriteFile(p, []byte(rootHints), 0o644); err != nil {
		return "", err
	}
	return p, nil
}

// printBanner says what to try; hints is the root hints file and env the
// file of admin tokens ("" when it could not be written); distance says
// whether the world has distance (not --flat).
func printBanner(w io.Writer, hints, env string, distance bool) {
	tokens := "source " + env + "                       # admin tokens: sets $DNSD_TOKEN and $LBD_TOKEN"
	if env == "" {
		tokens = "# (var/netsim.env could not be written: the admin tokens are in the log above)"
	}
	world := `
  The world is flat (--flat): every server answers at loopback speed.
`
	if distance {
		world = `
  Distance (the world: internal/world/world.yaml; netsim --flat turns it off):
  dig @127.0.0.1 -p 1053 www.example.test | grep 'Query time'   # first ~150 ms (root+TLD+auth round trips); again 0 ms, cached
  curl -s -o /dev/null -w '%{time_total}\n' --interface 127.0.10.5 http://127.0.10.1:8080/   # EU client → EU lbd: ~14 ms
  curl -s -o /dev/null -w '%{time_total}\n' --interface 127.0.10.5 http://127.0.30.1:8080/   # EU client → Asia lbd: ~480 ms (two round trips)
  curl -s 127.0.0.1:8000/api/v1/world            # places, links, the rtt_ms matrix
  curl -s -X PATCH -H "Authorization: Bearer $NETSIM_CONTROL_TOKEN" -d '{"latency":"800ms"}' 127.0.0.1:8000/api/v1/world/links/eu/as   # Asia is far now
  curl -s -X DELETE -H "Authorization: Bearer $NETSIM_CONTROL_TOKEN" 127.0.0.1:8000/api/v1/world/links   # every link back
`
	}
	fmt.Fprintf(w, `
netsim is up: a small internet on loopback. Try, in another terminal:

  open http://127.0.0.1:8000/                   # the live page: topology, queries, caches, backends
  %[2]s

  dig @127.0.0.1 -p 1053 www.example.test       # the resolver: walks root → test. → example.test.
  dig @127.0.0.1 -p 1053 www.example.test       # again: from the cache, TTL lower
  go run ./cmd/dnsd trace www.example.test      # every hop of a fresh resolution, timed
  dig @127.0.1.1 -p 1053 www.example.test A     # the root: referral to test. with glue
  dig @127.0.0.1 -p 1053 www.example.test +dnssec   # flags: ad — validated from the simulated root's key
  delv @127.0.0.1 -p 1053 -a var/root.key www.example.test   # BIND's validator: "fully validated"
  dig @127.0.2.1 -p 1053 www.example.test A     # the TLD: referral to example.test. with glue
  dig @127.0.3.1 -p 1053 www.example.test A     # authoritative: aa, 3 addresses, first one rotating
  dig @127.0.3.1 -p 1053 nope.example.test A    # NXDOMAIN with the SOA in authority
  dig @127.0.3.1 -p 1053 alias.example.test A   # a CNAME chain chased inside the zone
  dig @127.0.3.1 -p 1053 foo.apps.example.test  # a wildcard answer
  drill -T -p 1053 -r %[1]s www.example.test  # trace root → test. → example.test. (Debian: ldnsutils)

  curl -s 127.0.0.1:8080/                       # lbd in front of b1..b3 (v1): "b1 v1", then b2, b3 …
  curl -s -c jar -b jar 127.0.0.1:8080/         # sticky cookie: the same backend every time
  curl -s 127.0.0.1:8404/api/v1/pools/web/backends    # state, weight, health, in-flight, counters
  curl -s -X PATCH -H "Authorization: Bearer $LBD_TOKEN" -d '{"state":"draining"}' 127.0.0.1:8404/api/v1/pools/web/backends/b2
  curl -s --resolve www.example.test:8080:127.0.0.1 http://www.example.test:8080/
  curl --cacert var/pki/ca.pem --resolve www.example.test:8443:127.0.0.1 https://www.example.test:8443/   # HTTPS, h2
  nc 127.0.0.1 9000                             # L4: TCP echo servers e1..e3, round-robin per connection

  curl -s '127.0.0.1:9153/api/v1/cache?name=www.example.test'     # cached entries, remaining TTL
  curl -s '127.0.0.1:9153/api/v1/resolutions?name=mail.example.test&type=MX'   # a resolution explained
  curl -s 127.0.0.1:9153/api/v1/zones           # zones, servers and serials
  curl -s -X DELETE -H "Authorization: Bearer $DNSD_TOKEN" 127.0.0.1:9153/api/v1/cache   # flush the resolver cache
  curl -s 127.0.0.1:9153/metrics | grep ^dnsd_  # Prometheus metrics
%[3]s
Ctrl-C stops everything.
`, hints, tokens, world)
}

// printKey says how to change a record with the demo TSIG key.
func printKey(w io.Writer, file, secret string) {
	fmt.Fprintf(w, `  Dynamic updates and zone transfers (the demo TSIG key %[1]s is in %[2]s):
  printf 'server 127.0.3.1 1053\nupdate add new.example.test. 60 A 127.0.0.99\nsend\n' | nsupdate -y hmac-sha256:netsim-demo:%[3]s
  dig @127.0.3.1 -p 1053 new.example.test       # served at once, the serial bumped
  dig @127.0.3.1 -p 1053 example.test AXFR      # allowed from loopback; elsewhere by prefix and TSIG key

`, "netsim-demo", file, secret)
}
