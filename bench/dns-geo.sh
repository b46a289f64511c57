#!/usr/bin/env bash
# GeoDNS cost: dnsperf against one dnsd serving example.test. with the demo
# geo section, ECS on every query (81.2.69.142/32, a London address):
# www.example.test A (geo-managed: locate, pick a pool, echo ECS with scope)
# against web.example.test A (a plain zone answer), in the same run.
# dnsd on CPU 0, dnsperf on CPU 1, 3 runs each (median). Target: geo ≥ 0.8× plain.
# (This replaces dns/geo TestDnsperf, which ran dnsperf against a test-only
# server and only logged the figures: a benchmark, not a check.)
# Usage: bench/dns-geo.sh [seconds per run, default 15]
. "$(dirname "$0")/lib.sh" # strict mode, the repo root, RUNS (default 3)
SECS=${1:-15}
bench_need dnsperf dig taskset -- dnsperf dnsutils util-linux
bench_workdir dns-geo
W=$work
go build -o "$W/dnsd" ./cmd/dnsd
# the embedded demo config, with only the example.test. listener moved to a bench port
sed -n '/^geo:/,$p' configs/dnsd.yaml > "$W/geo.yaml"
cat > "$W/dnsd.yaml" <<YAML
log: {level: warn}
admin: {listen: 127.0.0.1:19263}
servers: [{listen: 127.0.0.1:15363, zones: [example.test.], rrl: off}]   # one client flooding: not a rate-limiting test
$(cat "$W/geo.yaml")
YAML
for i in $(seq 1 10000); do echo "www.example.test A"; done > "$W/geo.q"
for i in $(seq 1 10000); do echo "web.example.test A"; done > "$W/plain.q"
taskset -c 0 "$W/dnsd" --config "$W/dnsd.yaml" >"$W/dnsd.log" 2>&1 & pids+=($!)
for i in $(seq 1 100); do dig +short +time=1 +tries=1 -p 15363 @127.0.0.1 web.example.test >/dev/null 2>&1 && break; sleep 0.1; done
ECS=8:000120005102458e   # option 8: family 1, source /32, scope 0, 81.2.69.142
got=$(dig +short -p 15363 @127.0.0.1 www.example.test +subnet=81.2.69.142/32)
[ "$got" = 127.0.10.1 ] || { echo "geo answer is $got, want 127.0.10.1"; exit 1; }
dpid=${pids[-1]}
# one dnsperf run: "q/s µs-of-dnsd-CPU-per-answer"
perf() {
  local t0 t1 out
  t0=$(cpu_ticks "$dpid")
  out=$(taskset -c 1 dnsperf -s 127.0.0.1 -p 15363 -d "$1" -l "$SECS" -q 500 -c 4 -e -E "$ECS" 2>&1)
  t1=$(cpu_ticks "$dpid")
  awk -v dt=$((t1 - t0)) -v hz="$hz" '/Queries completed/ {n=$3} /Queries per second/ {q=$4}
    END {printf "%s %.2f\n", q, dt*1e6/hz/n}' <<<"$out"
}
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -a G P GC PC
for r in $(seq 1 "$RUNS"); do
  read -r q c < <(perf "$W/plain.q"); P+=("$q"); PC+=("$c")
  read -r q c < <(perf "$W/geo.q"); G+=("$q"); GC+=("$c")
  echo "run $r: geo ${G[-1]} q/s ${GC[-1]} µs CPU/answer, plain ${P[-1]} q/s ${PC[-1]} µs CPU/answer"
done
g=$(med "${G[@]}"); p=$(med "${P[@]}"); gc=$(med "${GC[@]}"); pc=$(med "${PC[@]}")
echo
echo "geo (www, ECS): $g q/s, $gc µs dnsd CPU/answer   plain (web, ECS): $p q/s, $pc µs   (median of $RUNS × ${SECS}s; dnsd on CPU 0, dnsperf on CPU 1)"
awk -v g="$g" -v p="$p" -v gc="$gc" -v pc="$pc" 'BEGIN {printf "ratio geo/plain: %.2f q/s (target >= 0.80), CPU per answer geo/plain: %.2f\n", g/p, gc/pc}'
