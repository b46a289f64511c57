#!/usr/bin/env bash
# make scale-demo: netsim past one machine. Every "host" is a Linux network
# namespace with one address from 198.18.0.0/15 (the benchmarking range),
# all on one bridge (in a namespace of its own: the root namespace is not
# touched). dnsd is the primary of example.test. and answers www by GeoDNS;
# Knot and NSD are its secondaries; a dnsd resolver serves the clients; each
# region has two lbd instances (sharing nothing but the sticky key file) in
# front of two webd backends. Under load from an EU client, the lbd instance
# its sticky client is on is killed: no request may fail, the sticky client
# must move to the other instance and keep its backend, and GeoDNS must
# take the dead instance out. The drawing: README.md, "Past one machine".
#
# Usage: bash e2e/scale.sh [--short]   (root; --short is the form make e2e runs)
# Env: SCALE_SIGNAL=KILL (a crash: requests connected to the killed
# instance when it died are lost, and counted apart; the default TERM
# drains it, and then none may be lost), SCALE_KEEP=1 keeps
# var/scale-demo and leaves nothing running, SCALE_RATE, SCALE_DURATION.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
E2E="scale e2e"; . e2e/lib.sh # ok, bad, finish

RATE=${SCALE_RATE:-300}; DURATION=${SCALE_DURATION:-12s}; KILL_AFTER=4s
[ "${1:-}" = "--short" ] && { RATE=${SCALE_RATE:-150}; DURATION=${SCALE_DURATION:-7s}; KILL_AFTER=3s; }

[ "$(id -u)" = 0 ] || { echo "skip - scale demo needs root (network namespaces): sudo make scale-demo"; exit 0; }
. e2e/secondaries.sh
need_pkgs ip:iproute2 knotd:knot nsd:nsd dig:dnsutils nsupdate:dnsutils curl:curl || { echo "skip - a tool is missing"; exit 0; }
ID=scale$$                    # namespace names: scale<pid>-<host>
# namespaces left by a run that was killed before its trap ran (its pid is gone)
for n in $(ip netns list 2>/dev/null | grep -oE '^scale[0-9]+-[a-z0-9-]+'); do
  p=${n%%-*}; kill -0 "${p#scale}" 2>/dev/null || ip netns del "$n" 2>/dev/null
done
ip netns add "$ID-sw" 2>/dev/null || { echo "skip - cannot create network namespaces here (ip netns add: not permitted)"; exit 0; }
NSS=("$ID-sw"); PIDS=()
WORK=$PWD/var/scale-demo
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  for n in "${NSS[@]}"; do ip netns del "$n" 2>/dev/null; done
  [ -n "${SCALE_KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip -n "$ID-sw" link add br0 type bridge && ip -n "$ID-sw" link set br0 up ||
  { echo "skip - cannot create a bridge here (no bridge support in this kernel or container)"; exit 0; }

# host NAME ADDR: a namespace with eth0 = ADDR/15, its other end on the bridge.
host() {
  local ns=$ID-$1
  ip netns add "$ns" && NSS+=("$ns") &&
    ip link add eth0 netns "$ns" type veth peer name "$1" netns "$ID-sw" &&
    ip -n "$ID-sw" link set "$1" master br0 up &&
    ip -n "$ns" addr add "$2/15" dev eth0 && ip -n "$ns" link set eth0 up && ip -n "$ns" link set lo up
}
# on HOST CMD… runs CMD in HOST's namespace.
on() { local h=$1; shift; ip netns exec "$ID-$h" "$@"; }
# start HOST LOG CMD… runs CMD in the background in HOST's namespace.
start() { local h=$1 log=$2; shift 2; ip netns exec "$ID-$h" "$@" >"$WORK/$log.log" 2>&1 & PIDS+=($!); }
waitfor() { local what=$1; shift; for _ in $(seq 100); do "$@" && return 0; sleep 0.1; done; bad "$what"; return 1; }

declare -A ADDR=(
  [ns1]=198.18.0.1 [ns2]=198.18.0.2 [ns3]=198.18.0.3 [res]=198.18.0.53
  [eu-lb1]=198.18.1.1 [eu-lb2]=198.18.1.2 [eu-web]=198.18.1.10 [eu-client]=198.18.1.100
  [na-lb1]=198.18.2.1 [na-lb2]=198.18.2.2 [na-web]=198.18.2.10 [na-client]=198.18.2.100
)
for h in "${!ADDR[@]}"; do host "$h" "${ADDR[$h]}" || { bad "host $h ${ADDR[$h]}"; finish; }; done
ok "${#ADDR[@]} hosts on one bridge, each in its own network namespace (198.18.0.0/15)"

mkdir -p "$WORK/zones"; chmod 755 "$WORK"
cp configs/scale-demo/example.test.zone "$WORK/zones/"
head -c 32 /dev/urandom | base64 >"$WORK/sticky.key"   # the one thing the lbds share
UKEY=$(head -c 32 /dev/urandom | base64); echo "$UKEY" >"$WORK/update.key"   # nsupdate's TSIG key
go build -o "$BIN/scaleload" ./e2e/scale || { bad "building e2e/scale"; finish; }

for r in eu na; do
  start $r-web $r-web "$BIN/webd" --listen "${ADDR[$r-web]}:9001,${ADDR[$r-web]}:9002" --id "$r-b1,$r-b2"
  for i in 1 2; do start $r-lb$i $r-lb$i "$BIN/lbd" -c configs/scale-demo/lbd-$r.yaml; declare "PID_${r}_$i=${PIDS[-1]}"; done
done
start ns1 dnsd "$BIN/dnsd" --config configs/scale-demo/dnsd-primary.yaml
start res resolver "$BIN/dnsd" --config configs/scale-demo/dnsd-resolver.yaml

soa() { on res dig +short +norec +time=1 +tries=1 @"$1" example.test SOA 2>/dev/null | awk '$3 ~ /^[0-9]+$/ {print $3}'; }
ready() { on ns1 curl -sf -o /dev/null "http://$1:8404/readyz"; }
serves() { [ -n "$(soa "$1")" ]; }
has_serial() { [ "$(soa "$1")" = "$2" ]; }
waitfor "dnsd primary on ${ADDR[ns1]}" serves "${ADDR[ns1]}" || finish
want=$(soa "${ADDR[ns1]}")
# the secondaries start once the primary answers (a first AXFR that fails
# puts Knot into its bootstrap back-off)
knot_secondary_conf "$WORK/knot" "${ADDR[ns2]}" 53 "${ADDR[ns1]}" 53 198.18.0.0/15
nsd_secondary_conf "$WORK/nsd" "${ADDR[ns3]}" 53 "${ADDR[ns1]}" 53 198.18.0.0/15
start ns2 knot knotd -c "$WORK/knot/knot.conf"
start ns3 nsd nsd -d -c "$WORK/nsd/nsd.conf"
for h in ns2 ns3; do
  waitfor "$h (${ADDR[$h]}) did not load serial $want by AXFR" has_serial "${ADDR[$h]}" "$want" && ok "$h ${ADDR[$h]} follows the primary (serial $want)"
done
printf 'server %s 53\nzone example.test.\nupdate add new.example.test. 60 A 198.18.9.9\nsend\n' "${ADDR[ns1]}" |
  on res nsupdate -y "hmac-sha256:scale-demo:$UKEY" || bad "nsupdate refused"
want=$(soa "${ADDR[ns1]}"); t0=$(date +%s%N)
both() { has_serial "${ADDR[ns2]}" "$want" && has_serial "${ADDR[ns3]}" "$want"; }
waitfor "Knot and NSD did not follow an nsupdate to serial $want" both &&
  ok "an nsupdate (TSIG) reached Knot and NSD in $(( ($(date +%s%N) - t0) / 1000000 )) ms (serial $want, after its NOTIFY)"
for h in eu-lb1 eu-lb2 na-lb1 na-lb2; do waitfor "lbd $h ready" ready "${ADDR[$h]}" || finish; done
ok "four lbd instances ready (two per region)"

# header_hash on two processes: the same backend for each user
backend_of() { on eu-client curl -s -o /dev/null -D - -H "X-User: $2" "http://$1:8081/" | tr -d '\r' | sed -n 's/^X-LB-Backend: //Ip'; }
# Two fresh instances agree once each has seen both backends up (health
# checks every 500 ms; a first check that timed out on a loaded machine
# leaves one backend down on one instance for a round): up to 10 tries, 1 s
# apart; a real disagreement persists and fails.
agree() {
  differ=0; spread=""
  for u in $(seq 20); do
    a=$(backend_of "${ADDR[eu-lb1]}" "user-$u"); b=$(backend_of "${ADDR[eu-lb2]}" "user-$u")
    [ -n "$a" ] && [ "$a" = "$b" ] || differ=$((differ+1)); spread+="$a "
  done
  nb=$(tr ' ' '\n' <<<"$spread" | sort -u | grep -c .)
  [ $differ -eq 0 ] && [ "$nb" -eq 2 ]
}
for try in $(seq 10); do agree && break; sleep 1; done
[ $differ -eq 0 ] && [ "$nb" -eq 2 ] && ok "header_hash: both EU instances pick the same backend for each of 20 users (both backends used; try $try)" ||
  bad "header_hash: $differ of 20 users got different backends from the two instances (backends seen: $nb)"

www() { on "$1" dig +short +time=1 +tries=1 @"$2" www.example.test A 2>/dev/null | grep -E '^[0-9.]+$' | sort | tr '\n' ' '; }
geo_is() { [ "$(www "$1" "${ADDR[res]}")" = "$2" ]; }
for r in eu:1 na:2; do
  n=${r%:*}; want="198.18.${r#*:}.1 198.18.${r#*:}.2 "
  waitfor "GeoDNS for $n" geo_is $n-client "$want" && ok "GeoDNS through the resolver (ECS): the $n client gets both $n instances: $want"
done
# the resolver's allow list is the demo's network: its own loopback is refused
rc=$(on res dig +time=1 +tries=1 -b 127.0.0.1 @"${ADDR[res]}" www.example.test A 2>/dev/null | sed -n 's/.*status: \([A-Z]*\).*/\1/p')
[ "$rc" = REFUSED ] && ok "the resolver refuses 127.0.0.1 (allow: 198.18.0.0/15)" || bad "the resolver answered 127.0.0.1 with '$rc', want REFUSED"
got=""; four() { got=$(www eu-client "${ADDR[ns2]}"); [ "$(wc -w <<<"$got")" = 4 ]; }
waitfor "Knot did not answer the zone's four www records" four &&
  ok "Knot (a secondary, no GeoDNS) answers the zone's four www records: $got"

echo "load: $RATE req/s for $DURATION from the EU client; the sticky client's lbd gets SIG${SCALE_SIGNAL:-TERM} after $KILL_AFTER"
out=$(on eu-client "$BIN/scaleload" --resolver "${ADDR[res]}:53" --rate "$RATE" --duration "$DURATION" \
  --kill-after "$KILL_AFTER" --signal "${SCALE_SIGNAL:-TERM}" \
  --pid "${ADDR[eu-lb1]}=$PID_eu_1" --pid "${ADDR[eu-lb2]}=$PID_eu_2")
rc=$?
echo "$out" | sed 's/^/  /'
[ $rc -eq 0 ] && ok "no request lost; the sticky client moved and kept its backend" || bad "the load run failed (above)"
killed=$(sed -n 's/^killed lbd \([0-9.]*\) .*/\1/p' <<<"$out")
if [ -n "$killed" ]; then
  other=${ADDR[eu-lb1]}; [ "$killed" = "$other" ] && other=${ADDR[eu-lb2]}
  primary_is() { [ "$(www eu-client "${ADDR[ns1]}")" = "$other " ]; }
  waitfor "GeoDNS still answers the killed $killed" primary_is &&
    ok "GeoDNS took the dead instance $killed out: the EU answer is $other"
fi
finish
