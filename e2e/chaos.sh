#!/usr/bin/env bash
# The chaos suite (`make chaos`; `make e2e` runs `--short`): the built netsim
# under load (HTTP through lbd with netsim's own generator, DNS through the
# resolver), with faults made from outside the daemons, one at a time:
# packet loss and silence with nftables rules on the simulated servers'
# loopback addresses, crashes through netsim's control API (part kill) or
# nftables rejects (an authoritative listener: ICMP port unreachable and TCP
# resets, what the kernel answers once the process is gone), and SIGHUP
# storms (on netsim, and on a dnsd and an lbd of their own), and a listener
# closed and re-opened by dnsd reloads. One table row per fault and traffic (e2e/chaos/ does the load and
# the counting); the expectations of issue 14 are checked and a failed one
# fails the run. Everything runs in a fresh network namespace (unshare -n),
# so no rule ever touches the host's loopback. Needs root (CI is root);
# installs nftables (and iproute2) with apt-get when missing.
#
#   bash e2e/chaos.sh            # the long run (about 4 minutes)
#   bash e2e/chaos.sh --short    # the short form (about a minute)
#   ONLY=regex bash e2e/chaos.sh # only the faults whose name matches
# The table is kept in var/chaos/table.md; after a failure, the failed rows'
# requests (JSON Lines) and the daemons' logs in var/chaos/failed/.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BIN=${BIN:-bin}
. e2e/lib.sh # wait_up, netsim_up
MODE=long
case "${1:-}" in
  --short) MODE=short ;;
  "") ;;
  *) echo "usage: bash e2e/chaos.sh [--short]"; exit 2 ;;
esac
# cannot run here: the short form (part of make e2e) skips, make chaos fails
cannot() {
  echo "chaos: $*"
  if [ $MODE = short ]; then echo "chaos: skipped"; exit 0; fi
  exit 1
}

[ -x "$BIN/netsim" ] || { echo "chaos: $BIN/netsim is missing: make build (make chaos does)"; exit 1; }
if [ -z "${CHAOS_IN_NETNS:-}" ]; then
  [ "$(id -u)" = 0 ] || cannot "needs root (a network namespace and nftables rules); CI runs as root"
  need=()
  command -v nft >/dev/null || need+=(nftables)
  command -v ip >/dev/null || need+=(iproute2)
  if [ ${#need[@]} -gt 0 ]; then
    echo "chaos: installing ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/tmp/chaos-apt.log 2>&1 \
      || { tail -5 /tmp/chaos-apt.log; cannot "apt-get install ${need[*]} failed"; }
  fi
  for tool in curl jq unshare ip; do command -v $tool >/dev/null || cannot "$tool is missing"; done
  unshare -n true 2>/dev/null || cannot "unshare -n failed (no CAP_SYS_ADMIN in this container?)"
  # built out here: the namespace has no network to fetch a module with
  go build -o "$BIN/chaos" ./e2e/chaos || exit 1
  CHAOS_IN_NETNS=1 exec unshare -n bash "$0" "$@"
fi

# --- inside the fresh network namespace ----------------------------------------
ip link set lo up
WORK=$(mktemp -d)
KEEP=var/chaos
rm -rf "$KEEP"; mkdir -p "$KEEP"
NETSIM=
DNSD=; LBD=
cleanup() {
  nft delete table inet chaos 2>/dev/null
  local p
  for p in $NETSIM $DNSD $LBD; do kill -INT "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
fail=0

nft -f - <<'EOF' || exit 1
table inet chaos {
  chain in { type filter hook input priority 0; policy accept; }
}
EOF

# netsim runs the demo config from a file, so that a reload can take a
# listener away (dnsd closes it) and give it back
cp configs/dnsd.yaml "$WORK/dnsd.yaml"
cp configs/dnsd.yaml "$WORK/dnsd.full.yaml"
sed '/listen: 127.0.3.1:1053/,+1d' configs/dnsd.yaml >"$WORK/dnsd.no-ns1.yaml"
(cd "$WORK" && exec "$REPO/$BIN/netsim" --dns-config "$WORK/dnsd.yaml" >"$WORK/netsim.log" 2>&1) &
NETSIM=$!
if ! wait_up $NETSIM 200 netsim_up; then
  echo "chaos: netsim did not come up; its log ends:"; tail -5 "$WORK/netsim.log"; exit 1
fi
# shellcheck disable=SC1091
source "$WORK/var/netsim.env"

# dnsd and lbd as processes of their own, for their SIGHUP storm: dnsd
# authoritative for example.test. on 127.0.0.2, lbd on 127.0.0.2 in front of
# netsim's web servers
cat >"$WORK/dnsd.alone.yaml" <<'EOF'
admin: {listen: 127.0.0.2:9153}
servers:
  - {listen: 127.0.0.2:1053, zones: ["example.test."]}
EOF
cat >"$WORK/lbd.alone.yaml" <<'EOF'
admin: {listen: 127.0.0.2:8404}
frontends:
  - {name: http, listen: 127.0.0.2:8080, pool: web}
pools:
  - name: web
    health: {type: http, path: /healthz, interval: 1s, timeout: 500ms}
    backends:
      - {id: b1, address: 127.0.0.1:9001}
      - {id: b2, address: 127.0.0.1:9002}
      - {id: b3, address: 127.0.0.1:9003}
EOF
"$REPO/$BIN/dnsd" -c "$WORK/dnsd.alone.yaml" >"$WORK/dnsd.log" 2>&1 &
DNSD=$!
"$REPO/$BIN/lbd" -c "$WORK/lbd.alone.yaml" >"$WORK/lbd.log" 2>&1 &
LBD=$!
for i in $(seq 1 100); do
  curl -sf 127.0.0.2:9153/healthz >/dev/null 2>&1 && curl -sf 127.0.0.2:8404/healthz >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf 127.0.0.2:9153/healthz >/dev/null || { echo "chaos: dnsd on 127.0.0.2 did not come up:"; tail -5 "$WORK/dnsd.log"; exit 1; }
curl -sf 127.0.0.2:8404/healthz >/dev/null || { echo "chaos: lbd on 127.0.0.2 did not come up:"; tail -5 "$WORK/lbd.log"; exit 1; }
export NETSIM NETSIM_CONTROL_TOKEN WORK DNSD LBD

# --- the faults' commands (run by e2e/chaos at their time, through bash -c) -------
# loss PERCENT PORT ADDR…: drop that share of the packets to and from the
# addresses' PORT (UDP and TCP), each packet each way, at input (the sender
# sees nothing, as on a lossy link)
loss() {
  local pct=$1 port=$2; shift 2
  local set; set=$(IFS=,; echo "$*")
  local draw=(numgen random mod 100 "<" "$pct")
  [ "$pct" -ge 100 ] && draw=()
  nft add rule inet chaos in ip daddr "{ $set }" meta l4proto "{ tcp, udp }" th dport "$port" "${draw[@]}" drop &&
    nft add rule inet chaos in ip saddr "{ $set }" meta l4proto "{ tcp, udp }" th sport "$port" "${draw[@]}" drop
}
# crashed PORT ADDR…: what the kernel answers for a process that is gone:
# UDP port unreachable, TCP reset
crashed() {
  local port=$1; shift
  local set; set=$(IFS=,; echo "$*")
  nft add rule inet chaos in ip daddr "{ $set }" udp dport "$port" reject &&
    nft add rule inet chaos in ip daddr "{ $set }" tcp dport "$port" reject with tcp reset
}
heal() { nft flush chain inet chaos in; }
# part NAME STATE: netsim's control API (running, stopped, killed)
part() {
  curl -sf -o /dev/null -X PATCH -H "Authorization: Bearer $NETSIM_CONTROL_TOKEN" \
    -d "{\"state\":\"$2\"}" "127.0.0.1:8000/api/v1/parts/$1" || { echo "part $1 $2: the control API refused"; return 1; }
}
# hups N INTERVAL NAME…: a SIGHUP storm, N signals to each of netsim (dnsd
# and every lbd reload), dnsd, lbd; each must log reloads and no refusal
# (signals that arrive during a reload coalesce into the next one)
hups() {
  local n=$1 gap=$2 name rc=0 got bad; shift 2
  declare -A pid=([netsim]=$NETSIM [dnsd]=$DNSD [lbd]=$LBD) before=()
  declare -A line=([netsim]='reloaded dnsd and every lbd' [dnsd]='reloaded' [lbd]='configuration reloaded')
  for name in "$@"; do before[$name]=$(wc -l <"$WORK/$name.log"); done
  for _ in $(seq 1 "$n"); do
    for name in "$@"; do kill -HUP "${pid[$name]}" || return 1; done
    sleep "$gap"
  done
  sleep 0.5 # the last reload's line
  for name in "$@"; do
    got=$(tail -n +$((before[$name] + 1)) "$WORK/$name.log" | grep -c "${line[$name]}")
    bad=$(tail -n +$((before[$name] + 1)) "$WORK/$name.log" | grep -c 'reload refused')
    echo "    $name: $n SIGHUPs sent; $got reloads and $bad refusals logged"
    [ "$got" -gt 0 ] && [ "$bad" = 0 ] || rc=1
  done
  return $rc
}
# listener open|closed: ns1 (127.0.3.1:1053) taken out of dnsd's config or
# put back, and a SIGHUP; returns once TCP port 1053 there is as asked
listener() {
  local file=full i
  [ "$1" = closed ] && file=no-ns1
  cp "$WORK/dnsd.$file.yaml" "$WORK/dnsd.yaml" && kill -HUP "$NETSIM" || return 1
  for i in $(seq 1 100); do
    if timeout 1 bash -c 'exec 3<>/dev/tcp/127.0.3.1/1053' 2>/dev/null; then [ "$1" = open ] && return 0
    else [ "$1" = closed ] && return 0; fi
    sleep 0.05
  done
  echo "ns1's listener is not $1 5 s after the SIGHUP"; return 1
}
# slow DURATION: every web server answers that late (webd's latency knob),
# so that a crash finds requests in flight
slow() {
  local port
  for port in 9001 9002 9003; do
    curl -sf -o /dev/null -X PATCH -d "{\"latency\":\"$1\"}" "127.0.0.1:$port/admin/config" || return 1
  done
}
export -f loss crashed heal part hups listener slow

# settle: every part running, every lbd's backends up, GeoDNS counting
# every region: the next fault starts from a healthy stack
settle() {
  local i
  for i in $(seq 1 150); do
    [ "$(curl -s 127.0.0.1:8000/api/v1/parts | jq '[.data[] | select(.state != "running")] | length')" = 0 ] &&
      [ "$(curl -s 127.0.0.1:8404/api/v1/pools/web/backends | jq '[.data[] | select(.state != "up")] | length')" = 0 ] &&
      [ "$(curl -s 127.0.10.1:8404/api/v1/pools/web/backends | jq '[.data[] | select(.state != "up")] | length')" = 0 ] &&
      [ "$(curl -s '127.0.0.1:9153/api/v1/geo/pools?limit=100' | jq '[.data[].members[] | select(.state != "up")] | length')" = 0 ] &&
      return 0
    sleep 0.2
  done
  echo "chaos: the stack did not settle in 30 s after the last fault"
  return 1
}

TABLE=$WORK/table.md
# fault LONG SHORT NAME ARGS…: one row; LONG/SHORT: run it in that mode (1/0)
fault() {
  local long=$1 short=$2 name=$3; shift 3
  if [ $MODE = long ] && [ "$long" = 0 ]; then return; fi
  if [ $MODE = short ] && [ "$short" = 0 ]; then return; fi
  if [ -n "${ONLY:-}" ] && ! grep -qiE -- "$ONLY" <<<"$name"; then return; fi
  settle || { fail=$((fail+1)); return; }
  echo "== $name"
  local t0=$SECONDS
  "$BIN/chaos" --name "$name" --table "$TABLE" --records "$WORK/records.jsonl" "$@"
  local rc=$?
  heal 2>/dev/null
  if [ $rc -eq 0 ]; then echo "ok   - $name ($((SECONDS-t0)) s)"; return; fi
  fail=$((fail+1))
  local slug; slug=$(tr -cs 'a-zA-Z0-9' - <<<"$name" | cut -c1-60)
  mkdir -p "$KEEP/failed"
  cp "$WORK/records.jsonl" "$KEEP/failed/$slug.jsonl" 2>/dev/null
  echo "FAIL - $name (rc=$rc); its requests are in $KEEP/failed/$slug.jsonl"
}
# the run's length: D LONG SHORT
D() { if [ $MODE = long ]; then echo "$1"; else echo "$2"; fi; }

DNS_SERVERS="127.0.1.1 127.0.2.1 127.0.3.1 127.0.3.2 127.0.4.1"
UPSTREAM_TIMEOUT_MS=800   # configs/dnsd.yaml resolver.upstream_timeout

fault 1 1 "none (baseline)" --duration "$(D 8s 3s)" \
  --http-rate 200 --dns-rate 200 --dns-random apps.example.test --http-max-failed 0 --dns-max-failed 0

fault 1 1 "10% loss at every DNS server (root, TLD, ns1, ns2, sub)" --duration "$(D 20s 8s)" \
  --dns-rate 100 --dns-random apps.example.test \
  --fault-at "$(D 2s 1s)" --fault "loss 10 1053 $DNS_SERVERS" --heal-at "$(D 18s 7s)" --heal heal \
  --dns-max-p99 "$((3 * UPSTREAM_TIMEOUT_MS))ms"

fault 1 0 "10% loss at the EU lbd (127.0.10.1:8080)" --duration 12s \
  --http-rate 100 --http-regions eu --http-target http://www.example.test:8080/ \
  --fault-at 1s --fault "loss 10 8080 127.0.10.1" --heal-at 11s --heal heal --http-max-failed 0

fault 1 0 "10% loss between lbd and its web servers (127.0.0.1:9001-9003)" --duration 12s \
  --http-rate 200 --fault-at 1s --fault "loss 10 9001-9003 127.0.0.1" --heal-at 11s --heal heal

fault 1 1 "backend crash (b2 killed, started again $(D 8 4) s later)" --duration "$(D 16s 8s)" \
  --http-rate 200 --fault-at "$(D 2s 1s)" --fault "part b2 killed" --heal-at "$(D 10s 5s)" --heal "part b2 running" \
  --http-max-failed 0

slow 100ms || { fail=$((fail+1)); echo "FAIL - webd's latency knob refused"; }
fault 1 0 "backend crash with requests in flight (answers take 100 ms; b2 killed, started again 6 s later)" --duration 12s \
  --http-rate 200 --fault-at 2s --fault "part b2 killed" --heal-at 8s --heal "part b2 running" \
  --http-max-failed 0
slow 0s

fault 1 0 "regional lbd crash (lbd-eu killed, started again 29 s later)" --duration 35s \
  --http-rate 100 --http-regions eu --http-target http://www.example.test:8080/ \
  --fault-at 1s --fault "part lbd-eu killed" --heal-at 30s --heal "part lbd-eu running" \
  --http-max-outage 25s

fault 1 1 "ns1 (127.0.3.1) listener crash: ICMP port unreachable, TCP reset (nftables)" --duration "$(D 12s 6s)" \
  --dns-rate 200 --dns-random apps.example.test \
  --fault-at 1s --fault "crashed 1053 127.0.3.1" --heal-at "$(D 11s 5s)" --heal heal --dns-max-failed 0

fault 1 0 "ns1 (127.0.3.1) listener closed by a reload, re-opened by another (dnsd config, SIGHUP)" --duration 12s \
  --dns-rate 200 --dns-random apps.example.test \
  --fault-at 1s --fault "listener closed" --heal-at 8s --heal "listener open" --dns-max-failed 0

fault 1 0 "authority lost (ns1 and ns2 silent)" --duration 48s \
  --dns-rate 200 --dns-names www.example.test,canary.example.test \
  --fault-at 2s --fault "loss 100 1053 127.0.3.1 127.0.3.2" --heal-at 20s --heal heal \
  --dns-max-failed 0 --dns-min-stale 1

# one client asking as fast as the three above (the short form's only
# authority-lost row: stale answers, and the cap below): more than
# max_resolutions_per_client (100) of its queries wait for a refresh at once
# (200 q/s x stale_client_timeout 1.8 s); a stale answer is still due to each
fault 1 1 "authority lost, one busy client (200 q/s from 127.0.0.1)" --duration 11s \
  --dns-rate 200 --dns-from 127.0.0.1 --dns-names www.example.test,canary.example.test \
  --fault-at 1s --fault "loss 100 1053 127.0.3.1 127.0.3.2" --heal-at 9s --heal heal \
  --dns-max-failed 0 --dns-min-stale 1

fault 1 1 "SIGHUP storm on netsim (50 SIGHUPs, one per 50 ms: dnsd and every lbd reload)" --duration "$(D 12s 6s)" \
  --http-rate 200 --dns-rate 200 --dns-random apps.example.test \
  --fault-at "$(D 2s 1s)" --fault "hups 50 0.05 netsim" --http-max-failed 0 --dns-max-failed 0

fault 1 1 "SIGHUP storm on dnsd and lbd as processes (50 SIGHUPs each, one per 50 ms)" --duration "$(D 12s 6s)" \
  --http-rate 200 --http-target http://127.0.0.2:8080/ --dns-rate 200 --dns-resolver 127.0.0.2:1053 --dns-from 127.0.0.1 \
  --fault-at "$(D 2s 1s)" --fault "hups 50 0.05 dnsd lbd" --http-max-failed 0 --dns-max-failed 0

{
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
  echo "Chaos run ($MODE), $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores (${cpu:-unknown CPU}), $(uname -sr)," \
    "$(go version | cut -d' ' -f3), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
  echo
  cat "$TABLE"
} >"$KEEP/table.md"
echo
cat "$KEEP/table.md"
echo
for name in netsim dnsd lbd; do
  if grep -qiE 'panic|fatal' "$WORK/$name.log"; then
    fail=$((fail+1)); echo "FAIL - $name's log has a panic:"; grep -iE -m5 -A5 'panic|fatal' "$WORK/$name.log"
  fi
done
for p in $NETSIM $DNSD $LBD; do
  kill -0 "$p" 2>/dev/null || { fail=$((fail+1)); echo "FAIL - process $p (netsim, dnsd or lbd) is no longer running"; }
done
if [ $fail -gt 0 ]; then
  mkdir -p "$KEEP/failed"
  cp "$WORK"/{netsim,dnsd,lbd}.log "$KEEP/failed/" 2>/dev/null
  echo "logs of netsim, dnsd and lbd kept in $KEEP/failed/"
fi
echo "chaos ($MODE): $fail failed (table in $KEEP/table.md)"
[ $fail -eq 0 ]
