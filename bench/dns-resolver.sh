#!/usr/bin/env bash
# Recursive resolver benchmark: dnsperf against dnsd's resolver and against
# Unbound, both resolving the simulated hierarchy (root → test. → example.test.)
# that dnsd serves on 127.0.{1,2,3,4}.x:$SIMPORT.
#
#   bash bench/dns-resolver.sh            # 3 runs of 15 s each, medians and the ratio
#   RUNS=5 DURATION=30 bash bench/dns-resolver.sh
#
# Warm cache: each resolver first answers the whole query file once, then
# dnsperf replays it; every timed answer is a cache hit. Servers run on CPU 0,
# dnsperf on CPU 1 (../shared/BENCHMARKING.md). Cold: the time to resolve
# www.example.test through the three hops right after a cache flush, measured
# by dnsperf's latency for that single query (median of $RUNS).
# Needs: go, dnsperf, unbound, unbound-control, taskset, curl (Debian
# packages dnsperf unbound util-linux curl; installed when run as root).
. "$(dirname "$0")/lib.sh" # strict mode, the repo root, RUNS (default 3)

SIMPORT=${SIMPORT:-1153}           # simulated hierarchy and dnsd's resolver (127.0.0.1)
UNBOUND_PORT=${UNBOUND_PORT:-1154} # Unbound on 127.0.0.1
ADMIN=127.0.0.1:${ADMIN_PORT:-9353}
TOKEN=bench-$$
DURATION=${DURATION:-15}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-500}

bench_need dnsperf unbound unbound-control taskset curl -- dnsperf unbound curl util-linux
bench_workdir dns-resolver

echo "== building dnsd"
go build -o "$work/dnsd" ./cmd/dnsd

cat >"$work/dnsd.yaml" <<YAML
log:
  level: warn
admin:
  listen: $ADMIN
  token: $TOKEN
servers:
  - listen: 127.0.0.1:$SIMPORT
    recursion: true
  - listen: 127.0.1.1:$SIMPORT
    zones: ["."]
  - listen: 127.0.2.1:$SIMPORT
    zones: ["test."]
  - listen: 127.0.3.1:$SIMPORT
    zones: ["example.test."]
  - listen: 127.0.3.2:$SIMPORT
    zones: ["example.test."]
  - listen: 127.0.4.1:$SIMPORT
    zones: ["sub.example.test."]
resolver:
  root_hints: ["127.0.1.1"]
  port: $SIMPORT
YAML

sed -e "s#@PORT@#$UNBOUND_PORT#g; s#@SIMPORT@#$SIMPORT#g; s#@DIR@#$work#g" \
	bench/unbound-resolver.conf.in >"$work/unbound.conf"
unbound-checkconf "$work/unbound.conf" >/dev/null

echo "== starting dnsd (hierarchy + resolver on 127.0.0.1:$SIMPORT) and Unbound (127.0.0.1:$UNBOUND_PORT), both on CPU 0"
taskset -c 0 "$work/dnsd" --config "$work/dnsd.yaml" >"$work/dnsd.log" 2>&1 &
pids+=($!)
dnsd_pid=$!
taskset -c 0 unbound -d -c "$work/unbound.conf" >"$work/unbound.out" 2>&1 &
pids+=($!)
unbound_pid=$!
# ticks PID: CPU ticks (utime+stime) of PID, counted after the ")" of its name
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
ubc() { unbound-control -c "$work/unbound.conf" "$@"; }
for _ in $(seq 100); do
	if curl -sf "http://$ADMIN/healthz" >/dev/null && ubc status >/dev/null 2>&1; then break; fi
	sleep 0.1
done
curl -sf "http://$ADMIN/healthz" >/dev/null || { echo "dnsd did not start:"; cat "$work/dnsd.log"; exit 1; }
ubc status >/dev/null || { echo "unbound did not start:"; cat "$work/unbound.out" "$work/unbound.log"; exit 1; }

# ~10k queries: 30% www A, 10% www AAAA, 10% MX, CNAME chains, TXT, SRV,
# the delegated child, 10% NXDOMAIN (500 names), 10% wildcard (1000 names).
resolver_mix "$work/queries.txt"
echo "www.example.test A" >"$work/cold.txt"

perf() { # port file [extra dnsperf args…] → dnsperf output
	local port=$1 file=$2
	shift 2
	taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$file" -c "$CLIENTS" -q "$OUTSTANDING" -t 5 "$@" 2>&1
}
qps() { awk '/Queries per second:/ {print $4}'; }

echo "== cold resolution of www.example.test (caches flushed; root → test. → example.test.), before any load"
: >"$work/dnsd.cold"
: >"$work/unbound.cold"
lat() { awk '/Average Latency/ {printf "%.3f\n", $4 * 1000}'; }
for run in $(seq "$RUNS"); do
	curl -sf -X DELETE -H "Authorization: Bearer $TOKEN" "http://$ADMIN/api/v1/cache" >/dev/null
	perf "$SIMPORT" "$work/cold.txt" -n 1 -c 1 -q 1 | lat >>"$work/dnsd.cold"
	ubc flush_zone . >/dev/null
	ubc flush_infra all >/dev/null
	ubc flush_requestlist >/dev/null
	perf "$UNBOUND_PORT" "$work/cold.txt" -n 1 -c 1 -q 1 | lat >>"$work/unbound.cold"
done
dc=$(median <"$work/dnsd.cold")
uc=$(median <"$work/unbound.cold")

echo "== warming both caches (the whole query file once)"
for port in "$SIMPORT" "$UNBOUND_PORT"; do
	out=$(perf "$port" "$work/queries.txt" -n 1 -q 100)
	echo "   127.0.0.1:$port $(grep -E 'Response codes' <<<"$out" | sed 's/^ *//')"
done

echo "== cache hits: $RUNS runs x ${DURATION}s each, dnsperf -c $CLIENTS -q $OUTSTANDING on CPU 1; load average $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$work/dnsd.qps"
: >"$work/unbound.qps"
: >"$work/dnsd.cpu"
: >"$work/unbound.cpu"
for run in $(seq "$RUNS"); do
	for who in dnsd unbound; do
		port=$SIMPORT pid=$dnsd_pid
		[[ $who == unbound ]] && port=$UNBOUND_PORT pid=$unbound_pid
		t0=$(ticks "$pid")
		out=$(perf "$port" "$work/queries.txt" -l "$DURATION")
		t1=$(ticks "$pid")
		q=$(qps <<<"$out")
		echo "$q" >>"$work/$who.qps"
		n=$(awk '/Queries completed:/ {print $3}' <<<"$out")
		us=$(per_op $((t1 - t0)) "$n")
		echo "$us" >>"$work/$who.cpu"
		lost=$(awk '/Queries lost:/ {print $3}' <<<"$out")
		codes=$(grep -E 'Response codes' <<<"$out" | sed 's/^ *Response codes: *//')
		printf '   run %d %-8s %10.0f q/s  %s µs CPU/answer  lost %s  %s\n' "$run" "$who" "$q" "$us" "$lost" "$codes"
	done
done
d=$(median <"$work/dnsd.qps")
u=$(median <"$work/unbound.qps")
dcpu=$(median <"$work/dnsd.cpu")
ucpu=$(median <"$work/unbound.cpu")

echo
echo "== result (medians of $RUNS; dnsperf on one core tops out near 100-130k q/s)"
printf 'cache hits   dnsd %8.0f q/s   unbound %8.0f q/s   ratio dnsd/unbound %.2f (target >= 1.0)\n' "$d" "$u" "$(awk -v a="$d" -v b="$u" 'BEGIN {print a / b}')"
printf 'CPU/answer   dnsd %8.2f µs    unbound %8.2f µs    ratio %.2f (dnsperf is near its one-core ceiling: this is the figure to compare)\n' "$dcpu" "$ucpu" "$(awk -v a="$dcpu" -v b="$ucpu" 'BEGIN {print a / b}')"
printf 'cold www     dnsd %8.3f ms    unbound %8.3f ms    (three referral hops)\n' "$dc" "$uc"
echo "   cold runs dnsd: $(tr '\n' ' ' <"$work/dnsd.cold") ms; unbound: $(tr '\n' ' ' <"$work/unbound.cold") ms"
