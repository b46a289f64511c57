#!/usr/bin/env bash
# lbd's response cache and compression vs nginx proxy_cache (+ gzip), same
# origin, same files, same run.
#
#   bash bench/lb-cache.sh            # 3 runs of 10 s per case and proxy, medians
#   RUNS=1 DURATION=5s bash bench/lb-cache.sh
#
# The origin is an nginx serving two files from disk with Cache-Control
# max-age and an ETag: app.css (24 KiB) and data.json (16 KiB). In front of
# it, on CPU 0: lbd (fast engine, GOMAXPROCS=1, gc_percent 400) with
# `cache:` and `compress:` on its frontend, and nginx (one worker) with
# proxy_cache and gzip at the same level (GZIP_LEVEL, default 1, nginx's
# default). wrk and the origin share CPU 1 (BENCHMARKING.md). Cases:
#   hit       GET app.css, no Accept-Encoding: a cache hit, identity
#   hit-gzip  GET data.json with Accept-Encoding: gzip: a cache hit that is
#             sent gzipped (lbd stores the gzipped variant; nginx stores the
#             identity response and gzips it on every hit, as it does)
#   gzip      GET data.json with Accept-Encoding: gzip through a frontend
#             that compresses but does not cache: a proxied, compressed
#             response every time (lbd leaves its byte relay for this)
# The origin's access log is counted before and after each cache run: a
# cache hit adds no backend request. Needs: go, wrk, nginx (nginx-light).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
GZIP_LEVEL=${GZIP_LEVEL:-1}
ORIGIN_PORT=${ORIGIN_PORT:-19201}
LBD_PORT=${LBD_PORT:-18280}        # cache+compress; compress only on LBD_PORT+1
NGX_PORT=${NGX_PORT:-18290}        # proxy_cache+gzip; gzip only on NGX_PORT+1
ADMIN_PORT=${ADMIN_PORT:-18484}

. bench/lib.sh
bench_need go wrk nginx taskset curl -- wrk nginx-light util-linux curl
bench_workdir lb-cache

go build -o "$work/lbd" ./cmd/lbd
mkdir -p "$work/www/static" "$work/www/api" "$work/ngx" "$work/origin" "$work/cache"
# Text that compresses as real CSS and JSON do (about 5:1 with gzip -1).
# Written whole, then cut: `awk | head -c` lost awk to SIGPIPE now and then, and
# pipefail made the script exit there without a word.
awk 'BEGIN { for (i = 0; i < 700; i++) printf ".c%d { color: #%06x; margin: %dpx %dpx; }\n", i, i*2654435 % 16777216, i % 17, i % 9 }' >"$work/www/static/app.css"
awk 'BEGIN { printf "["; for (i = 0; i < 400; i++) printf "%s{\"id\": %d, \"sku\": \"SKU-%05d\", \"qty\": %d, \"price\": %d.%02d}", (i ? ", " : ""), i, i*7919 % 100000, i % 13, i % 97, i % 100; print "]" }' >"$work/www/api/data.json"
truncate -s 24576 "$work/www/static/app.css"
truncate -s 16384 "$work/www/api/data.json"

ngx_common="worker_processes 1; daemon off; user root; error_log $work/ngx/error.log warn;"
ngx_temps="client_body_temp_path $work/ngx/body; proxy_temp_path $work/ngx/proxy; fastcgi_temp_path $work/ngx/fcgi; uwsgi_temp_path $work/ngx/uwsgi; scgi_temp_path $work/ngx/scgi;"

cat >"$work/origin.conf" <<CFG
$ngx_common pid $work/origin/nginx.pid;
events { worker_connections 8192; }
http {
  $ngx_temps
  types { text/css css; application/json json; }
  access_log $work/origin/access.log;
  server {
    listen 127.0.0.1:$ORIGIN_PORT;
    root $work/www;
    location / { add_header Cache-Control "public, max-age=3600"; etag on; }
    location = /healthz { access_log off; return 200 ok; }
  }
}
CFG

cat >"$work/proxy.conf" <<CFG
$ngx_common pid $work/ngx/nginx.pid;
events { worker_connections 4096; }
http {
  $ngx_temps
  access_log off; sendfile on; tcp_nopush on;
  proxy_cache_path $work/cache levels=1:2 keys_zone=c:10m max_size=64m;
  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 512; }
  gzip on; gzip_comp_level $GZIP_LEVEL; gzip_min_length 1024; gzip_proxied any; gzip_vary on;
  gzip_types text/css application/json;
  server {
    listen 127.0.0.1:$NGX_PORT;
    location / {
      proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_cache c; proxy_cache_lock on;
      add_header X-Cache \$upstream_cache_status;
    }
  }
  server {
    listen 127.0.0.1:$((NGX_PORT+1));
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CFG

cat >"$work/lbd.yaml" <<YAML
log: {level: warn}
admin: {listen: 127.0.0.1:$ADMIN_PORT}
runtime: {gc_percent: 400}
frontends:
  - name: cache
    listen: 127.0.0.1:$LBD_PORT
    pool: origin
    cache: {max_bytes: 67108864}
    compress: {encodings: [gzip], level: $GZIP_LEVEL}
  - name: gzip
    listen: 127.0.0.1:$((LBD_PORT+1))
    pool: origin
    compress: {encodings: [gzip], level: $GZIP_LEVEL}
pools:
  - name: origin
    sticky: {mode: none}
    health: {type: http, path: /healthz, interval: 3s, timeout: 3s, fall: 5}  # the origin shares CPU 1 with wrk
    backends:
      - {id: o1, address: "127.0.0.1:$ORIGIN_PORT"}
YAML

taskset -c 1 nginx -p "$work/origin" -c "$work/origin.conf" &
pids+=($!)
GOMAXPROCS=1 taskset -c 0 "$work/lbd" -c "$work/lbd.yaml" &
lbd_pid=$!; pids+=($lbd_pid)
taskset -c 0 nginx -p "$work/ngx" -c "$work/proxy.conf" &
pids+=($!)
wait_http "http://127.0.0.1:$ORIGIN_PORT/healthz"
wait_http "http://127.0.0.1:$NGX_PORT/static/app.css"
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$LBD_PORT/static/app.css" 2>/dev/null && break; sleep 0.1; done
ngx_worker=$(pgrep -P "$(cat "$work/ngx/nginx.pid")" | head -1)

# check URL AE: one request, its X-Cache and Content-Encoding
check() { curl -s -o /dev/null -D - -H "Accept-Encoding: $2" "$1" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache"{x=$2} tolower($1)=="content-encoding"{e=$2} END {printf "X-Cache %s, Content-Encoding %s", x ? x : "-", e ? e : "identity"}'; }

origin_reqs() { wc -l <"$work/origin/access.log"; }

# run NAME PID URL AE -> "rps cpu_us_per_req origin_requests"
run() {
  local name=$1 pid=$2 url=$3 ae=$4 before after out reqs rps o1 o2 hdr=()
  [ -n "$ae" ] && hdr=(-H "Accept-Encoding: $ae")
  taskset -c 1 wrk -t1 -c"$CONNS" -d2s "${hdr[@]}" "$url" >/dev/null   # warm-up (and fill)
  o1=$(origin_reqs); before=$(cpu_ticks "$pid")
  out=$(taskset -c 1 wrk -t2 -c"$CONNS" -d"$DURATION" "${hdr[@]}" "$url")
  after=$(cpu_ticks "$pid"); o2=$(origin_reqs)
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
  [ -n "$errs" ] && echo "  $name: $errs" >&2
  echo "$rps $(per_op "$((after-before))" "$reqs") $((o2-o1))"
}

css=/static/app.css; json=/api/data.json
echo "lbd   hit:      $(check "http://127.0.0.1:$LBD_PORT$css" identity)"
echo "nginx hit:      $(check "http://127.0.0.1:$NGX_PORT$css" identity)"
echo "lbd   hit-gzip: $(check "http://127.0.0.1:$LBD_PORT$json" gzip)"
echo "nginx hit-gzip: $(check "http://127.0.0.1:$NGX_PORT$json" gzip)"
echo "lbd   gzip:     $(check "http://127.0.0.1:$((LBD_PORT+1))$json" gzip)"
echo "nginx gzip:     $(check "http://127.0.0.1:$((NGX_PORT+1))$json" gzip)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# lbd's errors and retries so far (503 no_backend while the readiness loop above
# ran before the origin's first health checks passed): the table counts those after.
lbd_errors() { curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^lbd_(proxy_errors|retries)_total/ {s += $2} END {print s + 0}'; }
errs_before=$(lbd_errors)

cases=("hit $css identity 0" "hit-gzip $json gzip 0" "gzip $json gzip 1")
for c in "${cases[@]}"; do : >"$work/lbd-${c%% *}.txt"; : >"$work/ngx-${c%% *}.txt"; done
for i in $(seq "$RUNS"); do
  for c in "${cases[@]}"; do
    read -r name path ae off <<<"$c"
    [ "$ae" = identity ] && ae=""
    l=$(run "lbd $name" "$lbd_pid" "http://127.0.0.1:$((LBD_PORT+off))$path" "$ae"); echo "$l" >>"$work/lbd-$name.txt"
    n=$(run "nginx $name" "$ngx_worker" "http://127.0.0.1:$((NGX_PORT+off))$path" "$ae"); echo "$n" >>"$work/ngx-$name.txt"
    echo "run $i $name: lbd rps cpu_us/req origin_reqs = $l; nginx = $n"
  done
done

col() { awk -v c="$2" '{print $c}' "$1" | median; }
echo
printf "%-9s %12s %12s %8s %12s %12s %8s %10s\n" case "lbd req/s" "lbd µs/req" "origin" "nginx req/s" "nginx µs/req" "origin" "rps ratio"
for c in "${cases[@]}"; do
  name=${c%% *}
  lr=$(col "$work/lbd-$name.txt" 1); lc=$(col "$work/lbd-$name.txt" 2); lo=$(col "$work/lbd-$name.txt" 3)
  nr=$(col "$work/ngx-$name.txt" 1); nc=$(col "$work/ngx-$name.txt" 2); no=$(col "$work/ngx-$name.txt" 3)
  printf "%-9s %12s %12s %8s %12s %12s %8s %10s\n" "$name" "$lr" "$lc" "$lo" "$nr" "$nc" "$no" "$(awk -v a="$lr" -v b="$nr" 'BEGIN {printf "%.2f", a/b}')"
done
echo "lbd's own errors and retries during the runs: $(($(lbd_errors) - errs_before)) (before them, while the origin came up: $errs_before)"
curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -E '^lbd_(proxy_errors|retries)_total' | sed 's/^/  /' || true
for log in "$work/origin/error.log" "$work/ngx/error.log"; do
  [ -s "$log" ] && { echo "nginx errors ($log):"; tail -5 "$log"; }
done
echo "(median of $RUNS runs of $DURATION, $CONNS connections, gzip level $GZIP_LEVEL; proxies on CPU 0, wrk and the origin on CPU 1;"
echo " origin = origin requests during the measured run; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
