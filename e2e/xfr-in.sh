#!/usr/bin/env bash
# Zone transfers in: BIND (named) is the primary of example.org., dnsd its
# secondary. Each of N changes made on BIND with nsupdate (TSIG) must
# reach dnsd through NOTIFY (signed) and IXFR (signed) within 2 s; at the
# end the serials and the AXFR contents of both are equal; and dnsd,
# restarted with BIND gone, serves its copy kept on disk at once.
# Usage: bash e2e/xfr-in.sh [N]   (N changes, default 20)
# Runs on 127.0.61.1 (named) and 127.0.61.2 (dnsd), port 5300, never the
# demo's addresses. As root on Debian it installs what is missing (bind9,
# dnsutils); otherwise it skips.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
N=${1:-${XFR_CHANGES:-20}}
E2E="xfr-in e2e"; . e2e/lib.sh # ok, bad, finish

# the tools, installed as root on Debian when missing (else: skip)
. e2e/secondaries.sh # need_pkgs
need_pkgs named:bind9 nsupdate:dnsutils dig:dnsutils || { echo "skip - named, nsupdate or dig is missing"; exit 0; }
systemctl stop named >/dev/null 2>&1 || true # the Debian service, if the install started it

B=127.0.61.1; D=127.0.61.2; PORT=5300
WORK=$(mktemp -d); chmod 755 "$WORK"
PIDS=(); ADDED=
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  [ -n "$ADDED" ] && ip addr del "$B/32" dev lo 2>/dev/null
  [ -n "${XFR_KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
# named listens only on the addresses of interfaces (Knot, NSD and dnsd
# bind any loopback address): give lo this one while the test runs
if ! ip -o addr show dev lo | grep -q " $B/"; then
  ip addr add "$B/32" dev lo 2>/dev/null && ADDED=1 || { echo "skip - named needs $B on lo (root: ip addr add $B/32 dev lo)"; exit 0; }
fi

UKEY=$(head -c 32 /dev/urandom | base64)   # nsupdate's key (on BIND)
XKEY=$(head -c 32 /dev/urandom | base64)   # transfers and NOTIFY between BIND and dnsd
mkdir -p "$WORK/bind" "$WORK/dnsd"
cat >"$WORK/bind/example.org.zone" <<'ZONE'
$TTL 300
@     SOA  ns1.example.org. hostmaster.example.org. 2026113001 3600 600 86400 300
@     NS   ns1.example.org.
ns1   A    127.0.61.1
www   A    192.0.2.10
www   A    192.0.2.11
mail  MX   10 www.example.org.
txt   TXT  "from BIND"
ZONE
cat >"$WORK/bind/named.conf" <<CONF
key "e2e-update" { algorithm hmac-sha256; secret "$UKEY"; };
key "e2e-xfr" { algorithm hmac-sha256; secret "$XKEY"; };
options {
    directory "$WORK/bind";
    pid-file "$WORK/bind/named.pid";
    session-keyfile "$WORK/bind/session.key";
    managed-keys-directory "$WORK/bind";
    listen-on port $PORT { $B; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    notify-source $B;
    transfer-source $B;
    notify explicit;
    notify-rate 1000;      # BIND paces NOTIFYs at 20/s by default: ~0.3 s of lag per change here
};
zone "example.org" {
    type primary;
    file "example.org.zone";
    allow-update { key e2e-update; };
    allow-transfer { key e2e-xfr; };
    allow-query { any; };
    also-notify { $D port $PORT key e2e-xfr; };
    notify-delay 0;        # default 5 s between a change and its NOTIFY
};
CONF
cat >"$WORK/dnsd.yaml" <<YAML
log: {level: "${XFR_LOG:-info}"}
admin: {listen: "$D:9155", token: e2e}
servers: [{listen: "$D:$PORT", zones: [example.org.], rrl: "off"}]
tsig_keys:
  - {name: e2e-xfr, secret: "$XKEY"}
secondary:
  zones:
    - {name: example.org., primaries: ["$B:$PORT"], key: e2e-xfr, notify_key: e2e-xfr, file: "$WORK/dnsd/example.org.zone"}
primary:
  zones:
    - {name: example.org., allow_transfer: [{from: 127.0.0.0/8}]}
YAML

soa() { dig +short +norec +time=1 +tries=1 @"$1" -p $PORT example.org SOA 2>/dev/null | awk '$3 ~ /^[0-9]+$/ {print $3}'; }
start_dnsd() { "$BIN/dnsd" --config "$WORK/dnsd.yaml" >>"$WORK/dnsd.log" 2>&1 & DNSD=$!; PIDS+=($DNSD); }

named -g -c "$WORK/bind/named.conf" >"$WORK/named.log" 2>&1 & NAMED=$!; PIDS+=($NAMED)
for i in $(seq 100); do [ -n "$(soa $B)" ] && break; sleep 0.1; done
[ -n "$(soa $B)" ] && ok "BIND serves example.org. on $B:$PORT" || { bad "named did not start:"; tail -5 "$WORK/named.log"; finish; }

start_dnsd
want=$(soa $B)
for i in $(seq 100); do [ "$(soa $D)" = "$want" ] && break; sleep 0.1; done
[ "$(soa $D)" = "$want" ] && ok "dnsd loaded the zone from BIND (serial $want)" || { bad "dnsd has serial '$(soa $D)', want $want"; tail -5 "$WORK/dnsd.log"; finish; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
maxlag=0; late=0; total=0
for i in $(seq "$N"); do
  if (( i % 3 == 0 )); then cmd="update delete h$((i-1)).example.org. A"; else cmd="update add h$i.example.org. 60 A 198.51.100.$((i % 250 + 1))"; fi
  printf 'server %s %s\nzone example.org.\n%s\nupdate add t.example.org. 60 TXT "change %s"\nsend\n' "$B" "$PORT" "$cmd" "$i" |
    nsupdate -y "hmac-sha256:e2e-update:$UKEY" || { bad "nsupdate $i refused by BIND"; continue; }
  t0=$(now_ms); want=$(soa $B)
  while :; do
    d=$(soa $D); t=$(( $(now_ms) - t0 ))
    [ "$d" = "$want" ] && break
    (( t > 5000 )) && break
    sleep 0.02
  done
  (( t > maxlag )) && maxlag=$t; total=$((total + t))
  [ -n "${XFR_VERBOSE:-}" ] && echo "  change $i: serial $want: dnsd after $t ms"
  if [ "$d" != "$want" ] || (( t > 2000 )); then
    late=$((late+1)); echo "  change $i: BIND serial $want; dnsd '$d' after ${t} ms"
  fi
done
[ $late -eq 0 ] && ok "dnsd followed $N nsupdate changes on BIND, each within 2 s (mean $((total / N)) ms, max ${maxlag} ms)" ||
  bad "$late of $N changes not followed within 2 s (max lag ${maxlag} ms)"

metric() { curl -s -H "Authorization: Bearer e2e" "http://$D:9155/metrics" | awk -v m="$1" '$1==m {print $2}'; }
ixfr=$(metric 'dnsd_xfr_secondary_refreshes_total{result="ixfr"}'); axfr=$(metric 'dnsd_xfr_secondary_refreshes_total{result="axfr"}')
fallback=$(metric 'dnsd_xfr_secondary_refreshes_total{result="ixfr-axfr"}')
[ "${axfr:-0}" = 1 ] && [ "${ixfr:-0}" -ge 1 ] && [ -z "$fallback" ] &&
  ok "transfers: 1 AXFR (the first copy), ${ixfr} IXFR, none answered with the whole zone" ||
  bad "transfers: AXFR ${axfr:-0}, IXFR ${ixfr:-0}, IXFR answered whole ${fallback:-0}; want 1 AXFR then IXFR only"

sb=$(soa $B); sd=$(soa $D)
[ "$sb" = "$sd" ] && ok "serials equal: BIND $sb, dnsd $sd" || bad "serials differ: BIND $sb, dnsd $sd"
axfr() { dig +nocmd +nostats +nocomments +noquestion +onesoa "$@" example.org AXFR | grep -v '^;' | grep -v '^$' | awk '$4 != "TSIG" {$1=tolower($1); print}' | sort; }
axfr @$B -p $PORT -y "hmac-sha256:e2e-xfr:$XKEY" >"$WORK/b.axfr"; axfr @$D -p $PORT >"$WORK/d.axfr"
lines=$(wc -l <"$WORK/b.axfr")
[ "$lines" -gt 5 ] && cmp -s "$WORK/b.axfr" "$WORK/d.axfr" && ok "dnsd's AXFR equals BIND's ($lines records)" ||
  { bad "dnsd's AXFR differs from BIND's ($lines records)"; diff "$WORK/b.axfr" "$WORK/d.axfr" | head; }

# a NOTIFY that is not signed with the key is refused (notify_key)
out=$(dig +norec +opcode=notify -b $B @$D -p $PORT example.org SOA 2>&1)
grep -q "status: REFUSED" <<<"$out" && ok "an unsigned NOTIFY is REFUSED" || bad "unsigned NOTIFY: $(grep status <<<"$out")"

# restarted with BIND gone, dnsd serves the copy it kept at once
kill "$NAMED"; wait "$NAMED" 2>/dev/null
kill "$DNSD"; wait "$DNSD" 2>/dev/null
start_dnsd
t0=$(now_ms)
for i in $(seq 100); do [ -n "$(soa $D)" ] && break; sleep 0.05; done
t=$(( $(now_ms) - t0 ))
[ "$(soa $D)" = "$sd" ] && ok "restarted with BIND gone, dnsd serves its copy (serial $sd) after ${t} ms" ||
  { bad "restarted: dnsd has serial '$(soa $D)', want $sd"; tail -5 "$WORK/dnsd.log"; }
finish
