#!/usr/bin/env bash
# TLS termination through lbd's HTTPS frontend vs HAProxy, same run.
#
#   bash bench/lb-tls.sh                # 3 runs each, medians
#   RUNS=1 DURATION=5s bash bench/lb-tls.sh
#   HANDSHAKES=false bash bench/lb-tls.sh   # keep-alive figures only
# Keep-alive runs of lbd (fast engine) and HAProxy alternate, both running.
#
# Both proxies terminate TLS with the same ECDSA P-256 certificate (demo
# PKI) and proxy to the same webd backend (one server, on CPU 1 with the
# load): lbd is bin/lbd-as-built from cmd/lbd with an HTTPS frontend, round
# robin, no sticky; HAProxy 1 thread, "http-reuse always". Figures:
#   1. new full handshakes per second: tls/tlsbench handshakes, CONC clients,
#      no session cache (each handshake full, then one request with
#      Connection: close; wrk with Connection: close would resume sessions),
#      TLS 1.3 with X25519 — and TLS 1.2 ECDHE-ECDSA-AES128-GCM. The
#      client checks the handshake signature but not the certificate chain
#      (VERIFY=true: both): a full verify costs the client twice the
#      server's work, and with it the one load core, not the proxy,
#      decided the rate (2026-11-30: lbd 0.80x HAProxy's CPU per handshake
#      but only 1.09x the rate);
#   2. HTTPS keep-alive requests per second: wrk, 64 connections; lbd on its
#      fast engine (the default) and on engine nethttp (handshakes are the
#      same code on both: they finish before the engine sees the connection).
# The proxy is pinned to CPU 0, the load and the backend to CPU 1; the
# proxy's CPU time per handshake / per request (/proc/PID/stat) is the fair
# comparison. lbd runs with GOMAXPROCS=1 like HAProxy's single thread (and
# runtime.gc_percent 400 from its default config).
# Needs: go, haproxy, wrk, taskset.
. "$(dirname "$0")/lib.sh" # strict mode, the repo root, RUNS (default 3)

DURATION=${DURATION:-10s}
CONC=${CONC:-32}
GO_PORT=${GO_PORT:-18443}
HAP_PORT=${HAP_PORT:-18444}
WEB_PORT=${WEB_PORT:-18480}
ADMIN_PORT=${ADMIN_PORT:-18404}
HANDSHAKES=${HANDSHAKES:-true}
VERIFY=${VERIFY:-false}
# lbd sends X-Forwarded-For, -Host and -Proto to the backend; HAProxy does
# too unless HAP_FORWARD=false (equal work for webd, which shares CPU 1 with
# wrk: that core decides requests/s; see bench/lb-http.sh).
HAP_FORWARD=${HAP_FORWARD:-true}

bench_need go haproxy wrk taskset -- haproxy wrk util-linux
bench_workdir lb-tls

go build -o "$work/tlsbench" ./tls/tlsbench
go build -o "$work/lbd" ./cmd/lbd
go build -o "$work/webd" ./cmd/webd
T=$work/tlsbench
read -r ca cert key < <("$T" pki -dir "$work/pki")
cat "$cert" "$key" >"$work/haproxy.pem"

taskset -c 1 "$work/webd" --listen 127.0.0.1:$WEB_PORT --log-level warn >/dev/null 2>&1 & pids+=($!)
wait_port $WEB_PORT

start_go() { # $1 engine
  cat >"$work/lbd.yaml" <<CFG
log: {level: warn}
admin: {listen: 127.0.0.1:$ADMIN_PORT}
runtime: {gc_percent: 400}
frontends:
  - name: https
    listen: 127.0.0.1:$GO_PORT
    pool: web
    engine: $1
    tls:
      certs: [{cert: $cert, key: $key}]
pools:
  - name: web
    policy: round_robin
    health: {type: tcp, interval: 10s}
    backends: [{id: b1, address: 127.0.0.1:$WEB_PORT}]
CFG
  GOMAXPROCS=1 taskset -c 0 "$work/lbd" -c "$work/lbd.yaml" >"$work/lbd.log" 2>&1 &
  server_pid=$!; pids+=($server_pid); wait_port $GO_PORT
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null && return 0; sleep 0.05; done
  echo "lbd not ready"; cat "$work/lbd.log"; exit 1
}
start_haproxy() {
  cat >"$work/haproxy.cfg" <<CFG
global
    nbthread 1
    maxconn 4000
    ssl-default-bind-options ssl-min-ver TLSv1.2
    ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305
    ssl-default-bind-curves X25519:P-256
    tune.ssl.default-dh-param 2048
defaults
    mode http
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend f
    bind 127.0.0.1:$HAP_PORT ssl crt $work/haproxy.pem alpn h2,http/1.1
    default_backend b
$(if [ "$HAP_FORWARD" = true ]; then printf '    option forwardfor\n    http-request set-header X-Forwarded-Host %%[req.hdr(host)]\n    http-request set-header X-Forwarded-Proto https\n'; fi)
backend b
    server b1 127.0.0.1:$WEB_PORT
CFG
  taskset -c 0 haproxy -f "$work/haproxy.cfg" -db >/dev/null 2>&1 &
  server_pid=$!; pids+=($server_pid); wait_port $HAP_PORT
}
stop_server() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }

declare -A R
handshakes() { # $1 name, $2 port: full handshakes/s and CPU per handshake, TLS 1.3 and 1.2
  local name=$1 port=$2 t0 t1 out n v
  for v in 13 12; do
    local hs=() cpu=()
    local flag=true; [ "$v" = 12 ] && flag=false
    for _ in $(seq "$RUNS"); do
      t0=$(cpu_ticks "$server_pid")
      out=$(taskset -c 1 "$T" handshakes -addr 127.0.0.1:$port -ca "$ca" -c "$CONC" -d "$DURATION" -tls13=$flag -verify="$VERIFY")
      t1=$(cpu_ticks "$server_pid")
      n=$(awk '{print $2}' <<<"$out")
      hs+=("$(awk '{print $6}' <<<"$out")")
      cpu+=("$(per_op $((t1-t0)) "$n")")
    done
    R[$name,hs$v]=$(med "${hs[@]}")
    R[$name,us$v]=$(med "${cpu[@]}")
  done
}
# keepalive NAME PID PORT: one wrk run, appended to NAME's lists
declare -A KA
keepalive() {
  local name=$1 pid=$2 port=$3 t0 t1 c0 c1 out n
  c0=$(core_busy_ticks 1); t0=$(cpu_ticks "$pid")
  out=$(taskset -c 1 wrk -t1 -c64 -d"$DURATION" --latency "https://127.0.0.1:$port/" 2>&1)
  t1=$(cpu_ticks "$pid"); c1=$(core_busy_ticks 1)
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  KA[$name,rps]+="$(awk '/Requests\/sec/ {print $2}' <<<"$out") "
  KA[$name,p99]+="$(awk '$1=="99%" {print $2}' <<<"$out") "
  KA[$name,us]+="$(per_op $((t1-t0)) "$n") "
  KA[$name,core]+="$(per_op $((c1-c0)) "$n") "
}
summarize() { # $1 name: medians of its keep-alive runs
  R[$1,rps]=$(med ${KA[$1,rps]})
  R[$1,p99]=$(printf '%s\n' ${KA[$1,p99]} | sort -V | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  R[$1,usreq]=$(med ${KA[$1,us]})
  R[$1,core1]=$(med ${KA[$1,core]})
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$HANDSHAKES" = true ]; then
  start_go fast;  handshakes lbd $GO_PORT;      stop_server
  start_haproxy;  handshakes haproxy $HAP_PORT; stop_server
fi
# Keep-alive: lbd and HAProxy run side by side and their runs alternate,
# so that both see the same moments of a shared machine.
start_go fast;  lbd_pid=$server_pid
start_haproxy;  hap_pid=$server_pid
for _ in $(seq "$RUNS"); do
  keepalive lbd "$lbd_pid" $GO_PORT
  keepalive haproxy "$hap_pid" $HAP_PORT
done
kill "$lbd_pid" "$hap_pid" 2>/dev/null || true; wait "$lbd_pid" "$hap_pid" 2>/dev/null || true
start_go nethttp
for _ in $(seq "$RUNS"); do keepalive lbd-net "$server_pid" $GO_PORT; done
stop_server
for p in lbd lbd-net haproxy; do summarize $p; done

printf '\n%-8s %10s %10s %10s %10s %10s %8s %10s %12s\n' server "hs/s 1.3" "us/hs" "hs/s 1.2" "us/hs" "ka req/s" "p99" "us/req" "CPU 1 us/req"
for p in lbd lbd-net haproxy; do
  printf '%-8s %10s %10s %10s %10s %10s %8s %10s %12s\n' "$p" "${R[$p,hs13]:--}" "${R[$p,us13]:--}" "${R[$p,hs12]:--}" "${R[$p,us12]:--}" "${R[$p,rps]}" "${R[$p,p99]}" "${R[$p,usreq]}" "${R[$p,core1]}"
done
echo "(lbd: fast engine; lbd-net: engine nethttp, keep-alive only; CPU 1 us/req: the load core's busy time per request; HAProxy adds X-Forwarded-*: $HAP_FORWARD)"
awk -v a="${R[lbd,hs13]:-0}" -v b="${R[haproxy,hs13]:-0}" -v c="${R[lbd,rps]}" -v d="${R[haproxy,rps]}" -v e="${R[lbd,usreq]}" -v f="${R[haproxy,usreq]}" \
  'BEGIN{printf "\nlbd/haproxy: "; if (b > 0) printf "full handshakes/s %.2fx (target >= 1.2x), ", a/b
    printf "keep-alive req/s %.2fx (target >= 0.95x), CPU per keep-alive request %.2fx\n", c/d, e/f}'
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
