#!/usr/bin/env bash
# Memory of 10,000 idle TCP connections: dnsd against NSD serving the same
# example.test. zone, each on CPU 0. A client opens 10,000 connections to
# one server, sends nothing, and the server's memory is read while they are
# held (PSS summed over the server's processes, so NSD's forked children
# are not counted twice), then the same for the other; 3 runs, medians.
# Connection limits: dnsd tcp_conns 20001 (the table stays under half full,
# so idle connections keep the full 10 s timeout), NSD tcp-count 10000,
# tcp-timeout 120.
# Needs: nsd python3 (Debian packages nsd python3).
# Usage: bench/dns-idle.sh [connections, default 10000]
. "$(dirname "$0")/lib.sh" # strict mode, the repo root, RUNS (default 3)
CONNS=${1:-10000}
. bench/nsd.sh
bench_need nsd dig python3 taskset -- nsd dnsutils python3 util-linux
nsd_bench dns-idle
ulimit -n "$(( $(ulimit -Hn) < CONNS + 1000 ? $(ulimit -Hn) : CONNS + 1000 ))" # each side holds CONNS descriptors

dnsd_conf "$W/dnsd.yaml" "$W" 19254 15355 ", tcp_conns: 20001, tcp_conns_per_client: 20001"
nsd_conf "$W" 15356 "tcp-count: $CONNS" "tcp-timeout: 120"

# the client: open N connections, say "held", keep them until stdin closes
cat > "$W/hold.py" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    socks.append(s)
print("held", flush=True)
sys.stdin.read()
PY

taskset -c 0 "$W/dnsd" --config "$W/dnsd.yaml" >"$W/dnsd.log" 2>&1 & pids+=($!); dpid=$!
taskset -c 0 nsd -d -c "$W/nsd.conf" >"$W/nsd.log" 2>&1 & pids+=($!); npid=$!
wait_dns 15355; wait_dns 15356
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $CONNS idle TCP connections per server"

measure() { # port pid → "rest held established" (kB, kB, count)
  local rest held est
  rest=$(tree_pss "$2")
  coproc HOLD { taskset -c 1 python3 "$W/hold.py" "$1" "$CONNS"; }
  read -r _ <&"${HOLD[0]}"
  sleep 1
  held=$(tree_pss "$2")
  est=$(ss -Htn state established "( sport = :$1 )" | wc -l)
  exec {HOLD[1]}>&-
  wait "$HOLD_PID" 2>/dev/null || true
  echo "$rest $held $est"
}

declare -a D N
for r in $(seq 1 "$RUNS"); do
  read -r drest dheld dest < <(measure 15355 "$dpid")
  sleep 11 # let dnsd's idle timeout close what the client left
  read -r nrest nheld nest < <(measure 15356 "$npid")
  D+=("$dheld"); N+=("$nheld")
  echo "run $r: dnsd ${drest} → ${dheld} kB (${dest} held) | nsd ${nrest} → ${nheld} kB (${nest} held)"
done
dm=$(med "${D[@]}"); nm=$(med "${N[@]}")
echo
echo "with $CONNS idle connections: dnsd $dm kB   NSD $nm kB   (PSS, medians of $RUNS)"
awk -v d="$dm" -v n="$nm" 'BEGIN {printf "ratio dnsd/NSD: %.2f (target <= 2)\n", d/n}'
