#!/usr/bin/env bash
# lbd's L4 proxy (netsim/lb/l4) vs HAProxy "mode tcp", same backends, round robin.
#
#   bash bench/lb-l4.sh                 # 3 runs each, medians
#   RUNS=1 BYTES=268435456 bash bench/lb-l4.sh
#   ONLY=bulk bash bench/lb-l4.sh       # bulk (1 and STREAMS streams) or conns
#   LBD_BIN=/tmp/lbd-old bash bench/lb-l4.sh   # another lbd build (before/after)
#   STRACE=1 bash bench/lb-l4.sh        # and one more run of each under strace -c:
#                                       # system calls per MiB and per connection
#
# Three figures per proxy: bulk throughput of BYTES (default 1 GiB) through
# the proxy to a sink over one stream and over STREAMS (default 4) at once,
# and new connections per second (connect, one byte echoed, close) with 32
# concurrent clients for DURATION. The proxy is
# pinned to CPU 0, load generator and backends to CPU 1 (BENCHMARKING.md).
# Besides the wall-clock figures, the proxy's CPU time (utime+stime from
# /proc/PID/stat) per GiB and per 1000 connections is the fair comparison.
# lbd's side is lbd itself (cmd/lbd, an l4: frontend, round robin, checks
# off as in the HAProxy config); GOMAXPROCS=1 like HAProxy's single thread.
# Load generator and backends are lb/l4/l4bench (send, connrate, sink, echo).
# For bulk, HAProxy splices both ways ("option splice-request/-response")
# through 1 MiB pipes (tune.pipesize), as lbd does: "splice-auto" barely splices on this
# kind of run (0.51 s of CPU per GiB against 0.18 s forced, measured 2026-11-30).
# Needs: go, haproxy, taskset.
. "$(dirname "$0")/lib.sh" # strict mode, the repo root, RUNS (default 3)

BYTES=${BYTES:-1073741824}
DURATION=${DURATION:-10s}
CONC=${CONC:-32}
STREAMS=${STREAMS:-4}
ONLY=${ONLY:-}
BASE=${BASE:-19100}
LBD_PORT=${LBD_PORT:-19090}
ADMIN_PORT=${ADMIN_PORT:-19404}
HAP_PORT=${HAP_PORT:-19091}

bench_need go haproxy taskset -- haproxy util-linux
[[ -z ${STRACE:-} ]] || bench_need strace -- strace
bench_workdir lb-l4

go build -o "$work/l4bench" ./lb/l4/l4bench
if [[ -n ${LBD_BIN:-} ]]; then cp "$LBD_BIN" "$work/lbd"; else go build -o "$work/lbd" ./cmd/lbd; fi
B=$work/l4bench

# Backends on CPU 1: three sinks for the bulk test, three echoes for conn/s.
sinks=() echoes=()
for i in 1 2 3; do
  taskset -c 1 "$B" sink -listen 127.0.0.1:$((BASE+i)) & pids+=($!)
  taskset -c 1 "$B" echo -listen 127.0.0.1:$((BASE+10+i)) & pids+=($!)
  sinks+=("127.0.0.1:$((BASE+i))"); echoes+=("127.0.0.1:$((BASE+10+i))")
done

start_lbd() { # $1 = comma-separated backends
  {
    printf 'log: {level: warn}\nadmin: {listen: 127.0.0.1:%s}\n' "$ADMIN_PORT"
    # lbd needs one HTTP frontend; this one is idle.
    printf 'frontends: [{name: http, listen: "127.0.0.1:0", pool: idle}]\n'
    printf 'pools: [{name: idle, health: {type: none}, backends: [{id: x, address: "127.0.0.1:9"}]}]\n'
    printf 'l4:\n  frontends: [{name: tcp, listen: "127.0.0.1:%s", pool: p}]\n' "$LBD_PORT"
    printf '  pools:\n    - name: p\n      policy: round_robin\n      health: {disabled: true}\n      backends:\n'
    local i=0 a; for a in ${1//,/ }; do i=$((i+1)); printf '        - {id: s%d, address: "%s"}\n' "$i" "$a"; done
  } >"$work/lbd.yaml"
  GOMAXPROCS=1 taskset -c 0 "$work/lbd" -c "$work/lbd.yaml" >"$work/lbd.log" 2>&1 &
  proxy_pid=$!; pids+=($proxy_pid); wait_port $LBD_PORT
}
# HAProxy's best setting per test: forced splice for bulk; for the 1-byte
# echo of the connection test forced splice stalls (about 120 connections/s
# against 4,500 with splice-auto), so that test keeps splice-auto.
HAP_SPLICE=
start_haproxy() { # $@ = backends
  {
    printf 'global\n    nbthread 1\n    maxconn 4000\n    tune.pipesize 1048576\n'
    printf 'defaults\n    mode tcp\n%s' "$HAP_SPLICE"
    printf '    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n'
    printf 'frontend f\n    bind 127.0.0.1:%s\n    default_backend b\n' "$HAP_PORT"
    printf 'backend b\n    balance roundrobin\n'
    local i=0; for a in "$@"; do i=$((i+1)); printf '    server s%d %s\n' "$i" "$a"; done
  } >"$work/haproxy.cfg"
  taskset -c 0 haproxy -f "$work/haproxy.cfg" -db >/dev/null 2>&1 &
  proxy_pid=$!; pids+=($proxy_pid); wait_port $HAP_PORT
}
stop_proxy() { kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; }

declare -A R
# syscalls NAME WHAT DIVISOR CMD...: the proxy's system calls during one
# more run of CMD, per DIVISOR (empty: per connection that CMD reports),
# all of them and the five most frequent (failed calls in brackets).
syscalls() {
  local name=$1 what=$2 div=$3 sp out; shift 3
  strace -c -S calls -f -p "$proxy_pid" -o "$work/strace" 2>/dev/null & sp=$!
  sleep 0.5 # attached
  out=$("$@")
  kill -INT "$sp"; wait "$sp" 2>/dev/null || true
  [[ -n $div ]] || div=$(awk '{print $2}' <<<"$out")
  awk -v n="$name" -v w="$what" -v d="$div" '
    $NF == "total" { tot = $4 }
    $1 ~ /^[0-9.]+$/ && $NF != "total" { e = (NF == 6) ? $5 : 0
      line[++k] = sprintf("%s %.2f", $NF, $4 / d) (e ? sprintf(" [%.2f]", e / d) : "") }
    END { printf "syscalls %s %s: %.2f (", n, w, tot / d
          for (i = 1; i <= 5 && i <= k; i++) printf "%s%s", (i > 1 ? ", " : ""), line[i]; print ")" }' "$work/strace"
}
measure() { # $1 name, $2 port, $3 streams
  local name=$1 port=$2 streams=$3 t0 t1 out
  local tp=() cpuB=()
  for _ in $(seq "$RUNS"); do
    t0=$(cpu_ticks "$proxy_pid")
    out=$(taskset -c 1 "$B" send -addr 127.0.0.1:$port -bytes "$BYTES" -streams "$streams")
    t1=$(cpu_ticks "$proxy_pid")
    tp+=("$(awk '{print $6}' <<<"$out")")
    cpuB+=("$(awk -v d=$((t1-t0)) -v hz="$hz" -v b="$BYTES" 'BEGIN{printf "%.3f", d/hz/(b/1073741824)}')")
  done
  [[ -z ${STRACE:-} ]] || syscalls "$name" "$streams stream(s), per MiB" $((BYTES >> 20)) \
    taskset -c 1 "$B" send -addr 127.0.0.1:$port -bytes "$BYTES" -streams "$streams"
  R[$name,mibs$streams]=$(med "${tp[@]}")
  R[$name,cpu_gib$streams]=$(med "${cpuB[@]}")
}
measure_conns() { # $1 name, $2 port
  local name=$1 port=$2 t0 t1 out n
  local cr=() cpuC=()
  for _ in $(seq "$RUNS"); do
    t0=$(cpu_ticks "$proxy_pid")
    out=$(taskset -c 1 "$B" connrate -addr 127.0.0.1:$port -c "$CONC" -d "$DURATION")
    t1=$(cpu_ticks "$proxy_pid")
    n=$(awk '{print $2}' <<<"$out")
    cr+=("$(awk '{print $6}' <<<"$out")")
    cpuC+=("$(per_op $((t1-t0)) "$n")")
  done
  [[ -z ${STRACE:-} ]] || syscalls "$name" "per connection" "" \
    taskset -c 1 "$B" connrate -addr 127.0.0.1:$port -c "$CONC" -d "$DURATION"
  R[$name,cps]=$(med "${cr[@]}")
  R[$name,us_conn]=$(med "${cpuC[@]}")
}

sink_list=$(IFS=,; echo "${sinks[*]}"); echo_list=$(IFS=,; echo "${echoes[*]}")

bulk() { measure "$1" "$2" 1; measure "$1" "$2" "$STREAMS"; }
if [[ $ONLY != conns ]]; then
  echo "== bulk: $BYTES bytes per run over 1 and $STREAMS streams, $RUNS runs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  start_lbd "$sink_list";      bulk lbd $LBD_PORT;     stop_proxy
  HAP_SPLICE=$'    option splice-request\n    option splice-response\n'
  start_haproxy "${sinks[@]}"; bulk haproxy $HAP_PORT; stop_proxy
fi
if [[ $ONLY != bulk ]]; then
  echo "== connections: $CONC clients, $DURATION per run, $RUNS runs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  start_lbd "$echo_list";       measure_conns lbd $LBD_PORT;     stop_proxy
  HAP_SPLICE=$'    option splice-auto\n'
  start_haproxy "${echoes[@]}"; measure_conns haproxy $HAP_PORT; stop_proxy
fi

printf '\n%-8s %10s %10s %10s %10s %10s %12s\n' proxy "MiB/s 1" "s/GiB 1" "MiB/s $STREAMS" "s/GiB $STREAMS" "conns/s" "cpu us/conn"
for p in lbd haproxy; do
  printf '%-8s %10s %10s %10s %10s %10s %12s\n' "$p" "${R[$p,mibs1]:--}" "${R[$p,cpu_gib1]:--}" \
    "${R[$p,mibs$STREAMS]:--}" "${R[$p,cpu_gib$STREAMS]:--}" "${R[$p,cps]:--}" "${R[$p,us_conn]:--}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b == "" || b == 0) print "-"; else printf "%.2fx", a/b }'; }
printf '\nlbd/haproxy: 1 stream %s (target >= 1.0x), %s streams %s (>= 1.0x), connections/s %s (>= 1.2x)\n' \
  "$(ratio "${R[lbd,mibs1]:-}" "${R[haproxy,mibs1]:-}")" "$STREAMS" \
  "$(ratio "${R[lbd,mibs$STREAMS]:-}" "${R[haproxy,mibs$STREAMS]:-}")" \
  "$(ratio "${R[lbd,cps]:-}" "${R[haproxy,cps]:-}")"
printf 'CPU lbd/haproxy: per GiB 1 stream %s, per connection %s (lower is better)\n' \
  "$(ratio "${R[lbd,cpu_gib1]:-}" "${R[haproxy,cpu_gib1]:-}")" "$(ratio "${R[lbd,us_conn]:-}" "${R[haproxy,us_conn]:-}")"
