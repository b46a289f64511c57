#!/usr/bin/env bash
# Authoritative DNS: dnsd against NSD serving the same example.test. zone,
# each pinned to CPU 0, dnsperf on CPU 1, 3 runs each (median quoted).
# Needs: dnsperf nsd (Debian packages; installed when missing and root).
# Usage: bench/dns-auth.sh [seconds per run, default 15]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-15}
RUNS=${RUNS:-3}
. bench/lib.sh
bench_need dnsperf nsd dig taskset -- dnsperf nsd dnsutils util-linux
bench_workdir dns-auth
W=$work
go build -o "$W/dnsd" ./cmd/dnsd
cp zones/data/example.test.zone "$W/"

# the query mix: A, MX, AAAA, CNAME chains, NXDOMAIN, wildcard (~10k lines)
python3 - "$W/queries" <<'PY'
import random, sys
random.seed(1)
mix = [("www.example.test", "A", 30), ("mail.example.test", "MX", 15), ("www.example.test", "AAAA", 15),
       ("alias.example.test", "A", 10), ("ext.example.test", "CNAME", 5), ("example.test", "NS", 5),
       ("info.example.test", "TXT", 5)]
lines = []
for name, t, w in mix:
    lines += [f"{name} {t}"] * (w * 100)
lines += [f"nx{random.randrange(10**6)}.example.test A" for _ in range(1000)]      # NXDOMAIN
lines += [f"h{random.randrange(10**6)}.apps.example.test A" for _ in range(500)]   # wildcard
random.shuffle(lines)
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY

cat > "$W/dnsd.yaml" <<YAML
log: {level: warn}
admin: {listen: 127.0.0.1:19253}
zones: {dir: $W}
servers: [{listen: 127.0.0.1:15353, zones: [example.test.]}]
YAML
mkdir -p "$W/nsd"
cat > "$W/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@15354
  port: 15354
  username: ""
  chroot: ""
  zonesdir: "$W"
  pidfile: "$W/nsd/nsd.pid"
  zonelistfile: "$W/nsd/zone.list"
  xfrdfile: "$W/nsd/xfrd.state"
  database: ""
  server-count: 1
  rrl-ratelimit: 0
  verbosity: 0
  hide-version: yes
remote-control:
  control-enable: no
zone:
  name: example.test
  zonefile: example.test.zone
CONF

wait_dns() { for i in $(seq 1 100); do dig +short +time=1 +tries=1 -p "$1" @127.0.0.1 www.example.test A >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "server on $1 did not start"; return 1; }
perf() { # port → qps
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$1" -d "$W/queries" -l "$SECS" -q 500 -c 4 -T 1 2>&1 | awk '/Queries per second/ {print $4}'
}
lost() { taskset -c 1 dnsperf -s 127.0.0.1 -p "$1" -d "$W/queries" -l 3 -q 500 2>&1 | awk '/Queries lost/ {print $3}'; }

taskset -c 0 "$W/dnsd" --config "$W/dnsd.yaml" >"$W/dnsd.log" 2>&1 & pids+=($!)
taskset -c 0 nsd -d -c "$W/nsd.conf" >"$W/nsd.log" 2>&1 & pids+=($!)
wait_dns 15353; wait_dns 15354

declare -a D N
for r in $(seq 1 "$RUNS"); do
  N+=("$(perf 15354)")
  D+=("$(perf 15353)")
  echo "run $r: dnsd ${D[-1]} q/s, nsd ${N[-1]} q/s"
done
dq=$(printf '%s\n' "${D[@]}" | median)
nq=$(printf '%s\n' "${N[@]}" | median)
echo
echo "dnsd: $dq q/s   NSD: $nq q/s   (median of $RUNS × ${SECS}s; servers on CPU 0, dnsperf on CPU 1)"
awk -v d="$dq" -v n="$nq" 'BEGIN {printf "ratio dnsd/NSD: %.2f\n", d/n}'
