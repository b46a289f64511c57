#!/usr/bin/env bash
# Zone transfers with real secondaries: Knot (knotd) and NSD follow dnsd
# as their primary. Each of N changes made with nsupdate (TSIG) must reach
# both within 2 s (NOTIFY, then IXFR); at the end their AXFR contents equal
# dnsd's, and an IXFR of one change carries only that change.
# Usage: bash e2e/xfr.sh [N]   (N changes, default 20; 100 for the long form)
# Runs on 127.0.60.1-3, ports 5300, never the demo's addresses. As root on
# Debian it installs what is missing (knot, nsd, dnsutils); otherwise it skips.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
N=${1:-${XFR_CHANGES:-20}}
E2E="xfr e2e"; . e2e/lib.sh # ok, bad, finish

. e2e/secondaries.sh
need_pkgs knotd:knot nsd:nsd nsupdate:dnsutils dig:dnsutils || { echo "skip - Knot, NSD or dig is missing"; exit 0; }

P=127.0.60.1; K=127.0.60.2; S=127.0.60.3; PORT=5300
WORK=$(mktemp -d); chmod 755 "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; [ -n "${XFR_KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"; }
trap cleanup EXIT

KEY=$(head -c 32 /dev/urandom | base64)        # nsupdate's key
XKEY=$(head -c 32 /dev/urandom | base64)       # Knot's transfer key
mkdir -p "$WORK/zones" "$WORK/knot" "$WORK/nsd"
cp zones/data/example.test.zone "$WORK/zones/"
cat >"$WORK/dnsd.yaml" <<YAML
log: {level: "${XFR_LOG:-info}"}
admin: {listen: "$P:9154", token: e2e}
zones: {dir: "$WORK/zones"}
servers: [{listen: "$P:$PORT", zones: [example.test.]}]
tsig_keys:
  - {name: e2e-update, secret: "$KEY"}
  - {name: e2e-knot, secret: "$XKEY"}
primary:
  serial: increment
  zones:
    - name: example.test.
      allow_transfer: [{key: e2e-knot}, {from: 127.0.60.0/24}]   # 127.0.0.1 is refused
      notify: ["$K:$PORT", "$S:$PORT"]
      update: [{key: e2e-update, names: ["*.dyn.example.test."], types: [A, TXT]}]
YAML
knot_secondary_conf "$WORK/knot" $K $PORT $P $PORT 127.0.0.0/8 e2e-knot "$XKEY"
nsd_secondary_conf "$WORK/nsd" $S $PORT $P $PORT 127.0.0.0/8

"$BIN/dnsd" --config "$WORK/dnsd.yaml" >"$WORK/dnsd.log" 2>&1 & PIDS+=($!)
soa() { dig +short +norec +time=1 +tries=1 @"$1" -p $PORT example.test SOA 2>/dev/null | awk '{print $3}'; }
for i in $(seq 100); do [ -n "$(soa $P)" ] && break; sleep 0.1; done
[ -n "$(soa $P)" ] && ok "dnsd serves example.test. on $P:$PORT" || { bad "dnsd did not start:"; tail -5 "$WORK/dnsd.log"; finish; }

[ -n "${XFR_QLOG:-}" ] && curl -s -o /dev/null -X PATCH -H "Authorization: Bearer e2e" -d '{"enabled":true}' "http://$P:9154/api/v1/querylog"
knotd -c "$WORK/knot/knot.conf" >"$WORK/knot.log" 2>&1 & PIDS+=($!)
nsd -d -c "$WORK/nsd/nsd.conf" >"$WORK/nsd.log" 2>&1 & PIDS+=($!)
want=$(soa $P)
for i in $(seq 200); do [ "$(soa $K)" = "$want" ] && [ "$(soa $S)" = "$want" ] && break; sleep 0.1; done
[ "$(soa $K)" = "$want" ] && ok "Knot loaded the zone by AXFR (serial $want)" || { bad "Knot has serial '$(soa $K)', want $want"; tail -5 "$WORK/knot.log"; }
[ "$(soa $S)" = "$want" ] && ok "NSD loaded the zone by AXFR (serial $want)" || { bad "NSD has serial '$(soa $S)', want $want"; tail -5 "$WORK/nsd/nsd.log"; }
[ $fail -eq 0 ] || finish

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
maxlag=0; late=0
for i in $(seq "$N"); do
  if (( i % 3 == 0 )); then cmd="update delete h$((i-1)).dyn.example.test. A"; else cmd="update add h$i.dyn.example.test. 60 A 127.0.61.$((i % 250 + 1))"; fi
  printf 'server %s %s\nzone example.test.\n%s\nupdate add t.dyn.example.test. 60 TXT "change %s"\nsend\n' "$P" "$PORT" "$cmd" "$i" |
    nsupdate -y "hmac-sha256:e2e-update:$KEY" || { bad "nsupdate $i refused"; continue; }
  t0=$(now_ms); want=$(soa $P)
  tk=; ts=
  while :; do
    k=$(soa $K); s=$(soa $S); t=$(( $(now_ms) - t0 ))
    [ -z "$tk" ] && [ "$k" = "$want" ] && tk=$t
    [ -z "$ts" ] && [ "$s" = "$want" ] && ts=$t
    [ "$k" = "$want" ] && [ "$s" = "$want" ] && break
    (( t > 5000 )) && break
    sleep 0.02
  done
  (( t > maxlag )) && maxlag=$t
  [ -n "${XFR_VERBOSE:-}" ] && echo "  change $i: serial $want: Knot ${tk:-never} ms, NSD ${ts:-never} ms"
  if [ "$k" != "$want" ] || [ "$s" != "$want" ] || (( t > 2000 )); then
    late=$((late+1)); echo "  change $i: serial $want; Knot '$k', NSD '$s' after ${t} ms"
  fi
done
[ $late -eq 0 ] && ok "Knot and NSD followed $N nsupdate changes, each within 2 s (max lag ${maxlag} ms)" ||
  bad "$late of $N changes not followed within 2 s (max lag ${maxlag} ms)"
# they followed by IXFR (a transfer of the change), not by AXFR of the zone
xfrs() { curl -s "http://$P:9154/metrics" | awk -v t="$1" -v r="$2" 'index($0, "dnsd_xfr_transfers_total{result=\""r"\",type=\""t"\"}") == 1 {print $2}'; }
ixfrs=$(xfrs IXFR ixfr); ixfr_axfr=$(xfrs IXFR axfr); axfrs=$(xfrs AXFR axfr)
(( ${ixfrs:-0} >= N )) && ok "the secondaries followed by IXFR: ${ixfrs} IXFRs answered with the changes, ${ixfr_axfr:-0} with the whole zone, ${axfrs:-0} AXFRs" ||
  bad "IXFRs answered with changes: '${ixfrs}' for $N changes to two secondaries (IXFR as AXFR: '${ixfr_axfr}', AXFR: '${axfrs}')"

axfr() { dig -b $P +nocmd +nostats +nocomments +noquestion +onesoa @"$1" -p $PORT example.test AXFR | grep -v '^;' | grep -v '^$' | awk '{$1=tolower($1); print}' | sort; }
axfr $P >"$WORK/p.axfr"; axfr $K >"$WORK/k.axfr"; axfr $S >"$WORK/s.axfr"
lines=$(wc -l <"$WORK/p.axfr")
cmp -s "$WORK/p.axfr" "$WORK/k.axfr" && ok "Knot's AXFR equals dnsd's ($lines records)" || { bad "Knot's AXFR differs"; diff "$WORK/p.axfr" "$WORK/k.axfr" | head; }
cmp -s "$WORK/p.axfr" "$WORK/s.axfr" && ok "NSD's AXFR equals dnsd's ($lines records)" || { bad "NSD's AXFR differs"; diff "$WORK/p.axfr" "$WORK/s.axfr" | head; }

# one more change; its IXFR carries only it
prev=$(soa $P)
printf 'server %s %s\nupdate add one.dyn.example.test. 60 A 127.0.61.1\nsend\n' "$P" "$PORT" | nsupdate -y "hmac-sha256:e2e-update:$KEY"
ix=$(dig -b $P +norec @$P -p $PORT example.test IXFR=$prev)
ax=$(dig -b $P +norec @$P -p $PORT example.test AXFR)
ixn=$(grep -cE '^[^;].*IN' <<<"$ix"); axn=$(grep -cE '^[^;].*IN' <<<"$ax")
ixs=$(grep -oE 'bytes [0-9]+' <<<"$ix" | awk '{print $2}'); axs=$(grep -oE 'bytes [0-9]+' <<<"$ax" | awk '{print $2}')
if [ "$ixn" -eq 5 ] && grep -qE '^one\.dyn\.example\.test\.' <<<"$ix"; then
  ok "IXFR from $prev carries only the change: $ixn records, $ixs bytes; AXFR $axn records, $axs bytes"
else
  bad "IXFR from $prev: $ixn records, want 5 (SOA, old SOA, new SOA, the addition, SOA)"; echo "$ix" | head -20
fi
# refusals: a bad key, a transfer signed with a key not allowed
out=$(printf 'server %s %s\nupdate add x.dyn.example.test. 60 A 127.0.0.1\nsend\n' "$P" "$PORT" | nsupdate -y "hmac-sha256:e2e-update:$XKEY" 2>&1)
grep -qi "BADSIG\|tsig verify failure\|NOTAUTH" <<<"$out" && ok "an update with a bad TSIG is refused (${out//$'\n'/ })" || bad "update with a bad key: $out"
out=$(printf 'server %s %s\nupdate add www.example.test. 60 A 127.0.0.1\nsend\n' "$P" "$PORT" | nsupdate -y "hmac-sha256:e2e-update:$KEY" 2>&1)
grep -q "REFUSED" <<<"$out" && ok "an update outside the key's policy is REFUSED" || bad "update outside the policy: $out"
# transfers: from a prefix no rule allows; signed with a wrong secret; with an unknown key
refusals() { grep -c "$1" "$WORK/dnsd.log"; }
r0=$(refusals "zone transfer refused"); out=$(dig -b 127.0.0.1 @$P -p $PORT example.test AXFR 2>&1)
grep -q "Transfer failed" <<<"$out" && ! grep -q "IN.SOA" <<<"$out" && (( $(refusals "zone transfer refused") == r0 + 1 )) &&
  ok "an AXFR from 127.0.0.1 (allowed: 127.0.60.0/24 or key e2e-knot) is REFUSED and logged" || bad "AXFR from a prefix not allowed: $out"
for k in "e2e-knot:$KEY BADSIG" "nokey:$KEY BADKEY"; do
  t0=$(refusals "TSIG check failed"); out=$(dig -b $P -y "hmac-sha256:${k% *}" @$P -p $PORT example.test AXFR 2>&1)
  grep -q "TSIG.*${k#* }" <<<"$out" && grep -q "Transfer failed" <<<"$out" && (( $(refusals "TSIG check failed") == t0 + 1 )) &&
    ok "an AXFR signed with ${k%%:*} (${k#* }) gets NOTAUTH/${k#* }, no records, logged" || bad "AXFR with ${k%%:*}: $out"
done
(( $(soa $P) == prev + 1 )) && ok "nothing changed: serial $(soa $P)" || bad "serial $(soa $P) after the refusals, want $((prev + 1))"

# dnsd killed (SIGKILL) and stopped (SIGTERM) during a stream of updates:
# every update nsupdate saw acknowledged is served after the restart, and
# the secondaries catch up across it.
stream() { # stream ID: nsupdate one change after another; each acknowledged name to $WORK/acked, until $WORK/stop exists
  local i=0 n
  while [ ! -e "$WORK/stop" ]; do
    i=$((i+1)); n=r$1x$i
    if printf 'server %s %s\nzone example.test.\nupdate add %s.dyn.example.test. 60 A 127.0.62.1\nsend\n' "$P" "$PORT" $n |
      nsupdate -t 2 -r 0 -y "hmac-sha256:e2e-update:$KEY" >/dev/null 2>&1; then echo $n >>"$WORK/acked"; else echo $n >>"$WORK/failed"; fi
  done
}
acked() { [ -e "$WORK/acked" ] && wc -l <"$WORK/acked" || echo 0; }
more_acked() { local want=$(( $1 + 15 )); for _ in $(seq 300); do (( $(acked) >= want )) && return 0; sleep 0.05; done; return 1; }
: >"$WORK/acked"; : >"$WORK/failed"
SPIDS=(); for id in 1 2 3; do stream $id & SPIDS+=($!); PIDS+=($!); done   # three updaters at once
for sig in KILL TERM; do
  more_acked "$(acked)" || { bad "the update stream stalled before SIG$sig ($(acked) acknowledged)"; break; }
  before=$(acked)
  kill -$sig "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null
  "$BIN/dnsd" --config "$WORK/dnsd.yaml" >>"$WORK/dnsd.log" 2>&1 & PIDS[0]=$!
  for _ in $(seq 100); do [ -n "$(soa $P)" ] && break; sleep 0.1; done
  echo "  SIG$sig with $before updates acknowledged; dnsd back with serial $(soa $P)"
done
more_acked "$(acked)" || bad "the update stream stalled after the restarts"
touch "$WORK/stop"; wait "${SPIDS[@]}"
axfr $P >"$WORK/p.axfr"
nack=$(acked); nfail=$(wc -l <"$WORK/failed"); lost=0
while read -r n; do grep -q "^$n\.dyn\.example\.test\. " "$WORK/p.axfr" || { lost=$((lost+1)); echo "  lost: $n"; }; done <"$WORK/acked"
served=$(grep -cE '^r[0-9]+x[0-9]+\.dyn\.example\.test\. ' "$WORK/p.axfr")
[ "$lost" -eq 0 ] && (( nack > 30 )) && ok "restarts (SIGKILL, SIGTERM) under a stream of updates: $nack acknowledged, all served after them ($served served, $nfail not acknowledged)" ||
  bad "restarts under a stream of updates: $lost of $nack acknowledged updates lost ($served served, $nfail not acknowledged)"
want=$(soa $P)
for _ in $(seq 100); do [ "$(soa $K)" = "$want" ] && [ "$(soa $S)" = "$want" ] && break; sleep 0.1; done
axfr $K >"$WORK/k.axfr"; axfr $S >"$WORK/s.axfr"
cmp -s "$WORK/p.axfr" "$WORK/k.axfr" && cmp -s "$WORK/p.axfr" "$WORK/s.axfr" && ok "Knot and NSD caught up across the restarts (serial $want, equal AXFRs)" ||
  bad "after the restarts: Knot serial '$(soa $K)', NSD '$(soa $S)', want $want (or their AXFRs differ)"
finish
