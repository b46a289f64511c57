#!/usr/bin/env bash
# Memory of idle HTTP keep-alive client connections: lbd vs HAProxy.
#
#   bash bench/lb-idle.sh                 # 9,900 connections, 3 runs each, medians
#   N=2000 RUNS=1 bash bench/lb-idle.sh
#   GC_PERCENT=400 bash bench/lb-idle.sh  # lbd with lb-http.sh's GC setting
#
# Each run starts the proxy afresh (pinned to CPU 0; GOMAXPROCS=1 for lbd,
# one thread for HAProxy), reads its resident set (VmRSS) at rest, then
# opens N client connections (l4bench idle, on CPU 1), each carrying one
# GET / that a webd backend answers, and leaves them open and quiet. After
# SETTLE seconds the proxy's VmRSS is read again. Printed: RSS at rest,
# RSS with the N idle connections, and the difference per connection;
# the ratio is lbd's RSS over HAProxy's with the connections open.
# Connection limits: lbd max_connections 20000 (its default, 10000, would
# be exactly full); HAProxy maxconn N+50. N is 9,900 rather than 10,000
# because HAProxy reserves two descriptors per maxconn and refuses to start
# when that exceeds the hard descriptor limit, 20,000 in this sandbox. Idle timeouts 5m on both, so
# nothing is closed while measuring. Kernel socket memory is not in RSS
# and is the same for both. Needs: go, haproxy, taskset, curl.
. "$(dirname "$0")/lib.sh" # strict mode, the repo root, RUNS (default 3)

N=${N:-9900}
CONC=${CONC:-200}
SETTLE=${SETTLE:-3}
GC_PERCENT=${GC_PERCENT:-0}       # 0: lbd's default (Go's 100)
PORT_BASE=${PORT_BASE:-19201}     # webd on PORT_BASE..+2
LBD_PORT=${LBD_PORT:-19280}
HAP_PORT=${HAP_PORT:-19281}
ADMIN_PORT=${ADMIN_PORT:-19284}

bench_need go haproxy taskset curl -- haproxy util-linux curl
bench_workdir lb-idle

go build -o "$work/lbd" ./cmd/lbd
go build -o "$work/webd" ./cmd/webd
go build -o "$work/l4bench" ./lb/l4/l4bench

web3 "$PORT_BASE"
lbd_web_conf "$work/lbd.yaml" "$LBD_PORT" "$GC_PERCENT" "listen: 127.0.0.1:$ADMIN_PORT" ", idle_timeout: 5m, max_connections: 20000"
haproxy_web_cfg "$work/haproxy.cfg" "$HAP_PORT" $((N+50)) 5m "timeout http-keep-alive 5m"

taskset -c 1 "$work/webd" --count 3 --base-port "$PORT_BASE" --log-level warn &
pids+=($!)
wait_http "http://$b3/healthz"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# one NAME PORT -> "rest_kb idle_kb" for one fresh proxy process
one() {
  local name=$1 port=$2 pid tool rest used _
  if [[ $name == lbd ]]; then
    GOMAXPROCS=1 taskset -c 0 "$work/lbd" -c "$work/lbd.yaml" >"$work/lbd.log" 2>&1 &
  else
    taskset -c 0 haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
  fi
  pid=$!; pids+=($pid)
  wait_http "http://127.0.0.1:$port/"
  rest=$(rss_kb "$pid")
  : >"$work/idle.out"
  taskset -c 1 "$work/l4bench" idle -addr "127.0.0.1:$port" -n "$N" -c "$CONC" >"$work/idle.out" 2>&1 &
  tool=$!
  for _ in $(seq 1200); do
    grep -q open "$work/idle.out" && break
    kill -0 "$tool" 2>/dev/null || { cat "$work/idle.out" >&2; exit 1; }
    sleep 0.1
  done
  grep -q open "$work/idle.out" || { echo "$name: connections did not open in 120 s" >&2; exit 1; }
  sleep "$SETTLE"
  used=$(rss_kb "$pid")
  kill "$tool"; wait "$tool" 2>/dev/null || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$rest $used"
}

echo "== $N idle keep-alive connections, $RUNS runs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$work/lbd.txt"; : >"$work/hap.txt"
for i in $(seq "$RUNS"); do
  l=$(one lbd "$LBD_PORT");     echo "run $i lbd:     rest_kB idle_kB = $l"; echo "$l" >>"$work/lbd.txt"
  h=$(one haproxy "$HAP_PORT"); echo "run $i haproxy: rest_kB idle_kB = $h"; echo "$h" >>"$work/hap.txt"
done

printf '\n%-8s %12s %14s %16s\n' proxy "rest MiB" "idle MiB" "KiB per conn"
for p in lbd hap; do
  r=$(col "$work/$p.txt" 1); u=$(col "$work/$p.txt" 2)
  awk -v p="$p" -v r="$r" -v u="$u" -v n="$N" 'BEGIN {printf "%-8s %12.1f %14.1f %16.2f\n", (p == "hap" ? "haproxy" : p), r/1024, u/1024, (u-r)/n}'
done
awk -v a="$(col "$work/lbd.txt" 2)" -v b="$(col "$work/hap.txt" 2)" \
  'BEGIN {printf "\nlbd/haproxy RSS with the connections open: %.2fx (target <= 2.0x)\n", a/b}'
