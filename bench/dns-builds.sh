#!/usr/bin/env bash
# dnsd built from several revisions against one another in one run, the
# shape of bench/events-cost.sh (dnsperf -c 4 -q 256, the 40/20/20/20 mix of
# A, MX, CNAME and NXDOMAIN): each build in turn, RUNS rounds; dnsd on CPU 0,
# dnsperf on CPU 1; q/s and CPU µs per answer from /proc, medians per build.
#
#   bash bench/dns-builds.sh                            # HEAD against 95033fe^1 (before the raw sockets)
#   REVS="HEAD 4d8263d^ 95033fe^1" SECS=5 bash bench/dns-builds.sh
#
# q/s near dnsperf's one-core ceiling is decided by whatever else runs on
# the machine: read CPU per answer first, and the load average printed.
. "$(dirname "$0")/lib.sh" # strict mode, the repo root, RUNS (default 3)
bench_need dnsperf dig taskset -- dnsperf dnsutils util-linux
bench_workdir dns-builds
SECS=${SECS:-10}
read -ra revs <<<"${REVS:-HEAD 95033fe^1}"

echo "== building dnsd at ${revs[*]} (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
for i in "${!revs[@]}"; do
	git worktree add -q --detach "$work/src" "${revs[$i]}"
	(cd "$work/src" && go build -o "$work/b$i/" ./cmd/dnsd)
	git worktree remove --force "$work/src"
done
cp zones/data/example.test.zone "$work/"
dnsd_conf "$work/rrl-off.yaml" "$work" 19283 15383 ", rrl: off"
dnsd_conf "$work/plain.yaml" "$work" 19283 15383 # a revision before rate limiting refuses the key
awk 'BEGIN { for (i = 0; i < 10000; i++) { k = i % 10
	if (k < 4) print "www.example.test A"; else if (k < 6) print "mail.example.test MX"
	else if (k < 8) print "alias.example.test A"; else print "nope" i ".example.test A" } }' >"$work/queries"

# one BIN → "qps us_per_answer"
one() {
	local pid= t0 t1 out n conf
	for conf in rrl-off plain; do
		taskset -c 0 "$1" --config "$work/$conf.yaml" >"$work/dnsd.log" 2>&1 & pid=$!
		for _ in $(seq 50); do dig +short +time=1 +tries=1 -p 15383 @127.0.0.1 www.example.test >/dev/null 2>&1 && break 2; sleep 0.1; done
		kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=
	done
	[[ -n $pid ]] || { echo "dns-builds: $1 did not start:" >&2; cat "$work/dnsd.log" >&2; exit 1; }
	pids+=($pid)
	t0=$(cpu_ticks "$pid")
	out=$(taskset -c 1 dnsperf -s 127.0.0.1 -p 15383 -d "$work/queries" -l "$SECS" -c 4 -q 256 2>&1)
	t1=$(cpu_ticks "$pid")
	kill "$pid"; wait "$pid" 2>/dev/null || true
	n=$(awk '/Queries completed:/ {print $3}' <<<"$out")
	echo "$(awk '/Queries per second/ {printf "%.0f", $4}' <<<"$out") $(per_op $((t1 - t0)) "$n")"
}

declare -A R
for r in $(seq "$RUNS"); do
	line="run $r (load $(cut -d' ' -f1 /proc/loadavg)):"
	for i in "${!revs[@]}"; do
		res=$(one "$work/b$i/dnsd"); R[$i]+="$res"$'\n'
		line+="  ${revs[$i]} $res"
	done
	echo "$line"
done
echo
printf '%-14s %10s %12s\n' build "q/s" "µs/answer"
for i in "${!revs[@]}"; do
	printf '%-14s %10s %12s\n' "${revs[$i]}" "$(awk 'NF {print $1}' <<<"${R[$i]}" | median)" "$(awk 'NF {print $2}' <<<"${R[$i]}" | median)"
done
echo "(medians of $RUNS × ${SECS}s, builds in turn; dnsd on CPU 0, dnsperf on CPU 1; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
