#!/usr/bin/env bash
# Authoritative DNS: dnsd against NSD serving the same example.test. zone,
# each pinned to CPU 0, dnsperf on CPU 1, 3 runs each (median quoted).
# Needs: dnsperf nsd (Debian packages; installed when missing and root).
# Usage: bench/dns-auth.sh [seconds per run, default 15]
. "$(dirname "$0")/lib.sh" # strict mode, the repo root, RUNS (default 3)
SECS=${1:-15}
. bench/nsd.sh
bench_need dnsperf nsd dig taskset -- dnsperf nsd dnsutils util-linux
nsd_bench dns-auth

query_mix "$W/queries"   # A, MX, AAAA, CNAME chains, NXDOMAIN, wildcard (~10k lines)

dnsd_conf "$W/dnsd.yaml" "$W" 19253 15353 ", rrl: off"   # one client at 100k+ q/s: rate limiting would measure itself
nsd_conf "$W" 15354

OUTSTANDING=${OUTSTANDING:-256}
# RATE=N caps dnsperf at N q/s (-Q) for both servers: CPU per answer at
# the same offered load, where batching cannot favour the faster one
RATE=${RATE:-}
CLIENTS=${CLIENTS:-4}
# tree_csw PID: context switches (voluntary and not) of every thread of
# PID's tree: a server that sleeps and wakes per batch, or whose runtime
# hands its CPU around, shows here (dns/server/README.md)
tree_csw() {
  local p t=0
  for p in $(proc_tree "$1"); do
    # (a thread may end while it is read)
    t=$((t + $( (cat /proc/"$p"/task/*/status 2>/dev/null || true) | awk '/ctxt_switches/ {s += $2} END {print s + 0}')))
  done
  echo "$t"
}
# run PORT PID → "qps lost cpu-µs-per-answer switches-per-answer" for one timed dnsperf run
run() {
  local t0 t1 c0 c1 out
  t0=$(tree_ticks "$2"); c0=$(tree_csw "$2")
  out=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$1" -d "$W/queries" -l "$SECS" -q "$OUTSTANDING" -c "$CLIENTS" -T 1 ${RATE:+-Q "$RATE"} 2>&1)
  t1=$(tree_ticks "$2"); c1=$(tree_csw "$2")
  awk -v dt=$((t1 - t0)) -v cs=$((c1 - c0)) -v hz="$hz" '/Queries completed/ {n=$3} /Queries lost/ {l=$3} /Queries per second/ {q=$4}
    END {printf "%s %s %.2f %.3f\n", q, l, dt*1e6/hz/n, cs/n}' <<<"$out"
}

taskset -c 0 "$W/dnsd" --config "$W/dnsd.yaml" >"$W/dnsd.log" 2>&1 & pids+=($!); dpid=$!
taskset -c 0 nsd -d -c "$W/nsd.conf" >"$W/nsd.log" 2>&1 & pids+=($!); npid=$!
wait_dns 15353; wait_dns 15354
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); dnsperf -c $CLIENTS -q $OUTSTANDING${RATE:+ -Q $RATE}, ${SECS}s per run"

declare -a D N DL NL DC NC DS NS
for r in $(seq 1 "$RUNS"); do
  read -r q l c s < <(run 15354 "$npid"); N+=("$q"); NL+=("$l"); NC+=("$c"); NS+=("$s")
  read -r q l c s < <(run 15353 "$dpid"); D+=("$q"); DL+=("$l"); DC+=("$c"); DS+=("$s")
  echo "run $r: dnsd ${D[-1]} q/s lost ${DL[-1]} ${DC[-1]} µs/answer ${DS[-1]} switches/answer | nsd ${N[-1]} q/s lost ${NL[-1]} ${NC[-1]} µs/answer ${NS[-1]} switches/answer"
done
dq=$(med "${D[@]}"); nq=$(med "${N[@]}"); dc=$(med "${DC[@]}"); nc=$(med "${NC[@]}")
echo
echo "dnsd: $dq q/s, lost $(med "${DL[@]}"), $dc µs CPU/answer, $(med "${DS[@]}") context switches/answer   NSD: $nq q/s, lost $(med "${NL[@]}"), $nc µs CPU/answer, $(med "${NS[@]}") switches/answer"
echo "(medians of $RUNS × ${SECS}s; servers on CPU 0, dnsperf on CPU 1 — near its one-core ceiling, so compare CPU/answer)"
awk -v d="$dq" -v n="$nq" -v a="$dc" -v b="$nc" 'BEGIN {printf "ratio dnsd/NSD: %.2f q/s, %.2f CPU per answer\n", d/n, a/b}'
