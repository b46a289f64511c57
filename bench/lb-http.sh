#!/usr/bin/env bash
# lbd vs HAProxy, same three webd backends, round robin, HTTP/1.1 keep-alive.
# lbd runs twice: on its fast engine (frontend engine: fast, the default) and
# on engine nethttp (net/http + httputil.ReverseProxy), so that the note can
# give both against HAProxy from one run.
#
#   bash bench/lb-http.sh            # 3 runs of 15 s each per proxy, medians
#   RUNS=1 DURATION=5s bash bench/lb-http.sh
#   HAP_FORWARD=false bash bench/lb-http.sh  # HAProxy without the X-Forwarded-* fields lbd sends
#   WRK_OUT=1 bash bench/lb-http.sh          # also wrk's output, one response and TCP segments per request
#   (segments are counted per network namespace: run it under `unshare -n` to count only its own)
#
# The proxy under test is pinned to CPU 0; wrk and the backends share CPU 1
# (BENCHMARKING.md). requests/s is therefore a whole-machine figure; the fair
# comparison is the proxy's CPU time per request, read from /proc/PID/stat
# (utime+stime) before and after each run. HAProxy runs with one thread and
# "http-reuse always"; lbd with its default GC setting (runtime.gc_percent 400)
# and GOMAXPROCS=1, like HAProxy's single thread. Needs: go, wrk, haproxy.
# Two more columns say where requests/s is decided: webd's CPU time per request
# and CPU 1's busy time per request (wrk, webd and the kernel's softirq work on
# that core, from /proc/stat; meaningful only on an otherwise quiet machine).
. "$(dirname "$0")/lib.sh" # strict mode, the repo root, RUNS (default 3)

DURATION=${DURATION:-15s}
CONNS=${CONNS:-64}
PORT_BASE=${PORT_BASE:-19001}     # webd on PORT_BASE..+2
LBD_PORT=${LBD_PORT:-18080}      # fast engine; nethttp on LBD_PORT+2
HAP_PORT=${HAP_PORT:-18081}
ADMIN_PORT=${ADMIN_PORT:-18404}  # and ADMIN_PORT+1
PPROF=${PPROF:-false}            # true: admin.pprof on (/debug/pprof on the admin ports)
# lbd always sends X-Forwarded-For, -Host and -Proto to the backend; HAProxy
# by default none, so webd (on the load generator's CPU, which is the
# bottleneck of req/s) parses three fields fewer per request behind it.
# So HAProxy does the same work by default (option forwardfor and two
# set-header rules): requests/s is decided on CPU 1 (the "CPU 1 µs/req"
# column is its busy time per request, 1/req/s when it is saturated), and
# webd's extra parsing behind lbd was part of the gap. HAP_FORWARD=false
# gives the figures of the runs before 2026-12-01 (HAProxy forwarding none).
HAP_FORWARD=${HAP_FORWARD:-true}
WRK_OUT=${WRK_OUT:-}

bench_need go wrk haproxy taskset -- wrk haproxy util-linux
bench_workdir lb-http

go build -o "$work/lbd" ./cmd/lbd
go build -o "$work/webd" ./cmd/webd

web3 "$PORT_BASE"
lbd_config() { # $1 engine, $2 port, $3 admin port
  lbd_web_conf "$work/lbd-$1.yaml" "$2" 400 "listen: 127.0.0.1:$3, pprof: $PPROF" ", engine: $1"
}
NET_PORT=$((LBD_PORT+2))
lbd_config fast "$LBD_PORT" "$ADMIN_PORT"
lbd_config nethttp "$NET_PORT" "$((ADMIN_PORT+1))"
if [ "$HAP_FORWARD" = true ]; then
  haproxy_web_cfg "$work/haproxy.cfg" "$HAP_PORT" 4000 60s "option forwardfor"
  sed -i '/^frontend fe/a\    http-request set-header X-Forwarded-Host %[req.hdr(host)]\n    http-request set-header X-Forwarded-Proto http' "$work/haproxy.cfg"
else
  haproxy_web_cfg "$work/haproxy.cfg" "$HAP_PORT" 4000 60s
fi

taskset -c 1 "$work/webd" --count 3 --base-port "$PORT_BASE" --log-level warn &
webd_pid=$!; pids+=($webd_pid)
GOMAXPROCS=1 taskset -c 0 "$work/lbd" -c "$work/lbd-fast.yaml" &
lbd_pid=$!; pids+=($lbd_pid)
GOMAXPROCS=1 taskset -c 0 "$work/lbd" -c "$work/lbd-nethttp.yaml" &
net_pid=$!; pids+=($net_pid)
taskset -c 0 haproxy -f "$work/haproxy.cfg" -db &
hap_pid=$!; pids+=($hap_pid)

wait_http "http://$b3/healthz"
wait_http "http://127.0.0.1:$LBD_PORT/"
wait_http "http://127.0.0.1:$NET_PORT/"
wait_http "http://127.0.0.1:$HAP_PORT/"

# run NAME PID PORT -> "rps p99_ms cpu_us_per_req"
run() {
  local name=$1 pid=$2 port=$3 before after out reqs rps p99 wb wa cb ca sb sa
  taskset -c 1 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$port/" >/dev/null   # warm-up
  wb=$(cpu_ticks "$webd_pid"); cb=$(core_busy_ticks 1); sb=$(tcp_out_segs)
  before=$(cpu_ticks "$pid")
  out=$(taskset -c 1 wrk -t2 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$port/")
  [ -n "$WRK_OUT" ] && echo "$out" >&2
  [ -n "$WRK_OUT" ] && curl -si "http://127.0.0.1:$port/" >&2
  after=$(cpu_ticks "$pid")
  wa=$(cpu_ticks "$webd_pid"); ca=$(core_busy_ticks 1); sa=$(tcp_out_segs)
  [ -n "$WRK_OUT" ] && awk -v n="$((sa-sb))" -v r="$(awk '/requests in/ {print $1}' <<<"$out")" 'BEGIN {printf "TCP segments per request: %.2f\n", n/r}' >&2
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' <<<"$out")
  errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
  [ -n "$errs" ] && echo "  $name: $errs" >&2
  echo "$rps $p99 $(per_op "$((after-before))" "$reqs") $(per_op "$((wa-wb))" "$reqs") $(per_op "$((ca-cb))" "$reqs")"
}

: >"$work/lbd.txt"; : >"$work/net.txt"; : >"$work/hap.txt"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); HAProxy adds X-Forwarded-*: $HAP_FORWARD"
for i in $(seq "$RUNS"); do
  l=$(run lbd "$lbd_pid" "$LBD_PORT"); echo "run $i lbd fast:    rps p99_ms cpu_us/req webd_us/req cpu1_us/req = $l"; echo "$l" >>"$work/lbd.txt"
  n=$(run lbd-net "$net_pid" "$NET_PORT"); echo "run $i lbd nethttp: rps p99_ms cpu_us/req webd_us/req cpu1_us/req = $n"; echo "$n" >>"$work/net.txt"
  h=$(run haproxy "$hap_pid" "$HAP_PORT"); echo "run $i haproxy:     rps p99_ms cpu_us/req webd_us/req cpu1_us/req = $h"; echo "$h" >>"$work/hap.txt"
  awk -v l="$l" -v h="$h" 'BEGIN { split(l, a, " "); split(h, b, " ");
    printf "run %d lbd fast/haproxy: rps %.2f, p99 %.2f, CPU per request %.2f\n", '"$i"', a[1]/b[1], a[2]/b[2], a[3]/b[3] }'
done

echo
printf "%-12s %12s %10s %14s %14s %14s\n" proxy "req/s" "p99 ms" "CPU µs/req" "webd µs/req" "CPU 1 µs/req"
for f in lbd:lbd-fast net:lbd-nethttp hap:haproxy; do
  printf "%-12s %12s %10s %14s %14s %14s\n" "${f#*:}" "$(col "$work/${f%%:*}.txt" 1)" "$(col "$work/${f%%:*}.txt" 2)" "$(col "$work/${f%%:*}.txt" 3)" \
    "$(col "$work/${f%%:*}.txt" 4)" "$(col "$work/${f%%:*}.txt" 5)"
done
lr=$(col "$work/lbd.txt" 1); lp=$(col "$work/lbd.txt" 2); lc=$(col "$work/lbd.txt" 3)
hr=$(col "$work/hap.txt" 1); hp=$(col "$work/hap.txt" 2); hc=$(col "$work/hap.txt" 3)
awk -v lr="$lr" -v hr="$hr" -v lp="$lp" -v hp="$hp" -v lc="$lc" -v hc="$hc" 'BEGIN {
  printf "medians, lbd fast/haproxy: rps %.2f (target >= 1.0), p99 %.2f (target <= 1.2), CPU per request %.2f (target <= 1.2)\n", lr/hr, lp/hp, lc/hc }'
echo "(median of $RUNS runs of $DURATION, $CONNS connections; proxies on CPU 0, wrk and webd on CPU 1; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
