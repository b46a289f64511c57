#!/usr/bin/env bash
# dnsd's hardening, checked with dig: every Extended DNS Error dnsd sends
# (RFC 8914; dig prints "; EDE: <code> (<name>): (<text>)"), and response
# rate limiting (a flooded /24 gets truncated slips; a client that returns
# its server cookie is answered). Two dnsds of their own: an authority for
# example.test. on 127.0.14.1 and a resolver on 127.0.0.14 that reaches it
# through a stub. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
WORK=$(mktemp -d)
. e2e/lib.sh # ok, bad, check, has
both() { has "$1" "$2" && has "$1" "$3"; }   # both "$out" re1 re2: the reply matches both

if ! command -v dig >/dev/null; then
  echo "skip - dns hardening checks (dig missing; .ci/run installs dnsutils)"
  echo "dns-hardening: 0 passed, 0 failed"; exit 0
fi

mkdir -p "$WORK/zones"
cp zones/data/example.test.zone "$WORK/zones/"
cat > "$WORK/auth.yaml" <<YAML
log: {level: warn}
admin: {listen: 127.0.0.1:19181}
zones: {dir: $WORK/zones}
servers: [{listen: 127.0.14.1:1053, zones: [example.test.]}]   # rrl: auto, on for an authority
rrl: {responses_per_second: 2, slip: 1}
YAML
cat > "$WORK/res.yaml" <<YAML
log: {level: warn}
admin: {listen: 127.0.0.1:19182}
servers: [{listen: 127.0.0.14:1053, recursion: true}]
resolver:
  allow: [127.0.0.1/32]
  stubs: [{name: example.test., addrs: ["127.0.14.1@1053"]}]
  upstream_timeout: 300ms
  timeout: 2s
  failure_ttl: 10s
  stale_recheck: 0s
  cache: {max_ttl: 1s, negative_max_ttl: 1s}
YAML
"$BIN/dnsd" --config "$WORK/auth.yaml" >"$WORK/auth.log" 2>&1 & AUTH=$!
"$BIN/dnsd" --config "$WORK/res.yaml" >"$WORK/res.log" 2>&1 & RES=$!
trap 'kill -CONT $AUTH 2>/dev/null; kill $AUTH $RES 2>/dev/null; wait $AUTH $RES 2>/dev/null; rm -rf "$WORK"' EXIT
for i in $(seq 1 100); do curl -sf 127.0.0.1:19181/healthz >/dev/null && curl -sf 127.0.0.1:19182/healthz >/dev/null && break; sleep 0.1; done
check "both dnsds are up" curl -sf 127.0.0.1:19182/healthz -o /dev/null

A="dig +time=3 +tries=1 -p 1053 @127.0.14.1"
R="dig +time=5 +tries=1 -p 1053 @127.0.0.14 -b 127.0.0.1"

# --- Extended DNS Errors -------------------------------------------------------
out=$($A -b 127.0.0.1 www.other.test A +norec)
check "EDE 20 Not Authoritative: the authority asked for a name outside its zones ($(grep EDE <<<"$out"))" \
  both "$out" "status: REFUSED" "EDE: 20 \(Not Authoritative\): \(127\.0\.14\.1:1053 is not authoritative for www\.other\.test\."
out=$(dig +time=3 +tries=1 -p 1053 @127.0.0.14 -b 127.0.0.2 www.example.test A)
check "EDE 18 Prohibited: a client outside resolver.allow ($(grep EDE <<<"$out"))" both "$out" "status: REFUSED" "EDE: 18 \(Prohibited\): \(recursion is not allowed for 127\.0\.0\.2"
out=$($R www.example.test A)
check "the resolver answers through the stub" has "$out" "ANSWER: 3"
check "  ... with no EDE on a good answer" bash -c '! grep -q EDE <<<"$1"' _ "$out"

kill -STOP $AUTH   # the authority stops answering: its queries time out
sleep 1.5          # past the 1 s TTL cap: expired, within the stale window
out=$($R www.example.test A)
check "EDE 3 Stale Answer: expired entry, authority silent ($(grep EDE <<<"$out"))" both "$out" "ANSWER: 3" "EDE: 3 \(Stale Answer\)"
out=$($R fresh1.example.test A)
check "EDE 22 No Reachable Authority: every server timed out, named ($(grep EDE <<<"$out"))" both "$out" "status: SERVFAIL" "EDE: 22 \(No Reachable Authority\): \(.*127\.0\.14\.1:1053"
out=$($R fresh1.example.test A)
check "EDE 13 Cached Error: asked again within failure_ttl ($(grep EDE <<<"$out"))" both "$out" "status: SERVFAIL" "EDE: 13 \(Cached Error\): \(resolving fresh1\.example\.test\. A failed"
kill -CONT $AUTH; kill $AUTH; wait $AUTH 2>/dev/null   # now its port is closed: ICMP port unreachable
out=$($R fresh2.example.test A)
check "EDE 23 Network Error: the authority's port is closed ($(grep EDE <<<"$out"))" both "$out" "status: SERVFAIL" "EDE: 23 \(Network Error\): \(.*127\.0\.14\.1:1053.*connection refused"

# --- response rate limiting ----------------------------------------------------
"$BIN/dnsd" --config "$WORK/auth.yaml" >"$WORK/auth2.log" 2>&1 & AUTH=$!
for i in $(seq 1 100); do curl -sf 127.0.0.1:19181/healthz >/dev/null && break; sleep 0.1; done
# 2 answers a second, slip 1: a burst from 127.0.50.1 gets 2 answers, then TC
tc=0; ans=0; t0=$(date +%s%N)
for i in $(seq 1 8); do
  out=$($A -b 127.0.50.1 +ignore +nocookie +norec www.example.test A)
  has "$out" "flags: qr aa tc|flags: qr tc" && tc=$((tc+1))
  has "$out" "ANSWER: 3" && ans=$((ans+1))
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
# a second's burst (2) and 2 a second for the time the 8 digs took
check "RRL: 8 queries from 127.0.50.1 in $ms ms at 2/s: $ans answered (at most $((3 + ms * 2 / 1000))), $tc truncated slips" \
  test $ans -ge 2 -a $ans -le $((3 + ms * 2 / 1000)) -a $tc -ge 1 -a $((ans + tc)) -eq 8
out=$(curl -s 127.0.0.1:19181/api/v1/rate-limits)
check "RRL: GET /api/v1/rate-limits lists 127.0.50.0/24" has "$out" '"prefix": "127.0.50.0/24"'
out=$($A -b 127.0.60.1 +ignore +norec www.example.test A)
check "RRL: another /24 is answered meanwhile" has "$out" "ANSWER: 3"
# a client of the limited /24 that returns the server cookie it was given is answered
cookie=$($A -b 127.0.50.2 +ignore +norec +cookie www.example.test A | sed -nE 's/^; COOKIE: ([0-9a-f]+).*/\1/p')
n=0
for i in $(seq 1 6); do
  out=$($A -b 127.0.50.2 +ignore +norec +cookie="$cookie" www.example.test A)
  has "$out" "ANSWER: 3" && n=$((n+1))
done
check "RRL: with its server cookie (${cookie:0:16}…) 6 of 6 answered in the limited /24 (got $n)" test "$n" = 6
m=$(curl -s 127.0.0.1:19181/metrics | awk '/^dnsd_rrl_responses_total/ && /verdict="(slipped|exempt_cookie)"/ {s+=$2} END {print s+0}')
check "RRL: dnsd_rrl_responses_total counts the $tc slips and 6 cookie exemptions ($m)" test "${m:-0}" -ge $((tc + 6))

echo "dns-hardening: $pass passed, $fail failed"
[ $fail -eq 0 ]
