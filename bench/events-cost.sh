#!/usr/bin/env bash
# What the event streams (issue 11) cost: dnsd and lbd built from BASE (a
# revision before the streams) against this tree with no subscriber and with
# one subscriber that reads every event (curl -N /api/v1/events), same run.
# Servers on CPU 0, dnsperf / wrk and the backends on CPU 1; medians of RUNS;
# CPU µs per query / request from /proc/PID/stat beside the rates.
#
#   bash bench/events-cost.sh                       # BASE defaults to the commit before the streams landed
#   RUNS=1 SECS=5 BASE=<rev> bash bench/events-cost.sh
#   BASE=stub bash bench/events-cost.sh                   # against this tree's HEAD with the bus compiled out
#   BASE=95033fe^1 NOW=95033fe bash bench/events-cost.sh   # the merge that added the streams against its parent:
#                                                          # the change alone, without what main gained since
. "$(dirname "$0")/lib.sh" # strict mode, the repo root, RUNS (default 3)
bench_need dnsperf wrk dig curl taskset -- dnsperf wrk dnsutils curl util-linux
bench_workdir events-cost
SECS=${SECS:-10}
BASE=${BASE:-95033fe^1}

echo "== building dnsd, lbd, webd at $BASE and at this tree (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
if [[ $BASE == stub ]]; then
	# this tree's last commit with the bus compiled out (Active, Wants false; Publish
	# returns): today's code without the streams, where no revision before them has it
	git worktree add -q --detach "$work/base-src" HEAD
	sed -i -e 's/return b != nil \&\& b.subs.Load() != nil/return false/' \
		-e 's/^func (b \*Bus) Wants(typ string) bool {$/&\n\tif true {\n\t\treturn false\n\t}/' \
		-e 's/^func (b \*Bus) Publish(e Event) {$/&\n\tif true {\n\t\treturn\n\t}/' "$work/base-src/internal/events/bus.go"
	grep -c 'if true' "$work/base-src/internal/events/bus.go" | grep -qx 2 || { echo "events-cost: the stub did not apply to internal/events/bus.go"; exit 1; }
else
	git worktree add -q --detach "$work/base-src" "$BASE"
fi
(cd "$work/base-src" && go build -o "$work/base/" ./cmd/dnsd ./cmd/lbd)
git worktree remove --force "$work/base-src"
if [[ -n ${NOW:-} ]]; then
	git worktree add -q --detach "$work/now-src" "$NOW"
	(cd "$work/now-src" && go build -o "$work/head/" ./cmd/dnsd ./cmd/lbd ./cmd/webd)
	git worktree remove --force "$work/now-src"
else
	go build -o "$work/head/" ./cmd/dnsd ./cmd/lbd ./cmd/webd
fi

cp zones/data/example.test.zone "$work/"
# BASE predates rate limiting (and would refuse the key); this tree's dnsd
# turns it off, as one client flooding is not a rate-limiting test.
if [[ $BASE == stub ]]; then
	dnsd_conf "$work/dnsd-base.yaml" "$work" 19273 15373 ", rrl: off"
else
	dnsd_conf "$work/dnsd-base.yaml" "$work" 19273 15373
fi
if [[ -n ${NOW:-} ]] && ! git grep -qi rrl "$NOW" -- dns/dnsd; then
	cp "$work/dnsd-base.yaml" "$work/dnsd-head.yaml" # NOW predates rate limiting too
else
	dnsd_conf "$work/dnsd-head.yaml" "$work" 19273 15373 ", rrl: off"
fi
awk 'BEGIN { for (i = 0; i < 10000; i++) { k = i % 10
	if (k < 4) print "www.example.test A"; else if (k < 6) print "mail.example.test MX"
	else if (k < 8) print "alias.example.test A"; else print "nope" i ".example.test A" } }' >"$work/queries"

# drops ADMIN NS: the subscriber's events published and dropped (NS_events_*_total),
# appended to $work/drops: dropped events are counted and shown, not hidden
drops() {
	curl -s "127.0.0.1:$1/metrics" | awk -v ns="$2" '$1 == ns "_events_published_total" {p=$2} $1 == ns "_events_dropped_total" {d=$2}
		END {printf "%s published %d dropped %d (%.1f %%)\n", ns, p, d, p ? 100*d/p : 0}' >>"$work/drops"
}

# dns VARIANT BIN SUB → "qps us_per_query"
dns() {
	local bin=$1 sub=$2 pid spid= t0 t1 out n
	local conf=$work/dnsd-head.yaml
	[[ $bin == "$work/base/"* ]] && conf=$work/dnsd-base.yaml
	taskset -c 0 "$bin" --config "$conf" >"$work/dnsd.log" 2>&1 & pid=$!; pids+=($pid)
	for _ in $(seq 100); do dig +short +time=1 +tries=1 -p 15373 @127.0.0.1 www.example.test >/dev/null 2>&1 && break; sleep 0.1; done
	if [[ $sub == 1 ]]; then taskset -c 1 curl -sN 127.0.0.1:19273/api/v1/events >/dev/null & spid=$!; sleep 0.3; fi
	t0=$(cpu_ticks "$pid")
	out=$(taskset -c 1 dnsperf -s 127.0.0.1 -p 15373 -d "$work/queries" -l "$SECS" -c 4 -q 256 2>&1)
	t1=$(cpu_ticks "$pid")
	[[ -n $spid ]] && { drops 19273 dnsd; kill "$spid" 2>/dev/null; }
	kill "$pid"; wait "$pid" 2>/dev/null || true
	n=$(awk '/Queries completed:/ {print $3}' <<<"$out")
	echo "$(awk '/Queries per second/ {print $4}' <<<"$out") $(per_op $((t1 - t0)) "$n")"
}

# the L7 side: three webd backends on CPU 1, lbd on CPU 0, wrk on CPU 1
taskset -c 1 "$work/head/webd" --count 3 --base-port 19301 --log-level warn >/dev/null 2>&1 & pids+=($!)
wait_http http://127.0.0.1:19303/healthz
cat >"$work/lbd.yaml" <<YAML
log: {level: warn}
admin: {listen: 127.0.0.1:19474}
runtime: {gc_percent: 400}
frontends: [{name: http, listen: 127.0.0.1:18090, pool: web, backend_header: false}]
pools:
  - name: web
    policy: round_robin
    health: {type: http, path: /healthz, interval: 2s, timeout: 1s}
    backends: [{id: b1, address: "127.0.0.1:19301"}, {id: b2, address: "127.0.0.1:19302"}, {id: b3, address: "127.0.0.1:19303"}]
YAML
http() {
	local bin=$1 sub=$2 pid spid= t0 t1 out n
	GOMAXPROCS=1 taskset -c 0 "$bin" -c "$work/lbd.yaml" >"$work/lbd.log" 2>&1 & pid=$!; pids+=($pid)
	wait_http http://127.0.0.1:18090/
	if [[ $sub == 1 ]]; then taskset -c 1 curl -sN 127.0.0.1:19474/api/v1/events >/dev/null & spid=$!; sleep 0.3; fi
	taskset -c 1 wrk -t1 -c64 -d2s http://127.0.0.1:18090/ >/dev/null
	t0=$(cpu_ticks "$pid")
	out=$(taskset -c 1 wrk -t2 -c64 -d"${SECS}s" http://127.0.0.1:18090/)
	t1=$(cpu_ticks "$pid")
	[[ -n $spid ]] && { drops 19474 lbd; kill "$spid" 2>/dev/null; }
	kill "$pid"; wait "$pid" 2>/dev/null || true
	n=$(awk '/requests in/ {print $1}' <<<"$out")
	echo "$(awk '/^Requests\/sec/ {print $2}' <<<"$out") $(per_op $((t1 - t0)) "$n")"
}

declare -A R
for r in $(seq "$RUNS"); do
	for v in base:0 head:0 head:1; do
		bin=${v%:*}; sub=${v#*:}
		R[dns,$v]+="$(dns "$work/$bin/dnsd" "$sub")"$'\n'
		R[http,$v]+="$(http "$work/$bin/lbd" "$sub")"$'\n'
	done
	echo "run $r done"
done
col() { awk -v c="$2" 'NF {print $c}' <<<"$1" | median; }
printf '\n%-6s %-26s %12s %12s\n' what variant "rate/s" "CPU µs/op"
for what in dns http; do
	for v in base:0 head:0 head:1; do
		name=$([[ $v == base:0 ]] && echo "before ($BASE)" || { [[ $v == head:0 ]] && echo "now, no subscriber" || echo "now, one subscriber"; })
		printf '%-6s %-26s %12s %12s\n' "$what" "$name" "$(col "${R[$what,$v]}" 1)" "$(col "${R[$what,$v]}" 2)"
	done
	b=$(col "${R[$what,base:0]}" 1); n=$(col "${R[$what,head:0]}" 1); s=$(col "${R[$what,head:1]}" 1)
	awk -v b="$b" -v n="$n" -v s="$s" -v w="$what" 'BEGIN {printf "%s: no subscriber %.1f %% of before (target ≥ 97 %%), one subscriber %.1f %% (target ≥ 85 %%); one subscriber against no subscriber, same tree: %.1f %%\n", w, 100*n/b, 100*s/b, 100*s/n}'
done
echo "the subscriber's events, each run (published while it listened; dropped by its full buffer):"
cat "$work/drops"
echo "(medians of $RUNS runs of ${SECS}s; servers on CPU 0, load on CPU 1)"
