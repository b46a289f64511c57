#!/usr/bin/env bash
# Validating resolver benchmark (issue 17): cache-hit QPS and CPU per answer
# of dnsd's resolver with DNSSEC validation on, against Unbound with
# validation on ("validator iterator"), in the same run.
#
#   bash bench/dns-validate.sh             # 3 runs x 10 s per resolver and per query kind
#   RUNS=5 DURATION=20 bash bench/dns-validate.sh
#
# The signed hierarchy (., test., example.test., sub.example.test., signed
# online, ECDSA P-256, KSK + ZSK) is served by one dnsd process on
# 127.0.{1,2,3,4}.x:$SIMPORT; both resolvers iterate it from the same trust
# anchor, the root's DS that process writes (root.key: dnsd reads the
# trust-anchors clause, Unbound the DS line). Why these zones for both: the
# timed part is cache hits only, so the authoritative side is touched by the
# warm-up alone, and both resolvers validate the very same records,
# signatures and TTLs; the resolver under test is a dnsd process of its own,
# so its CPU figure holds nothing of the signing side.
#
# Two query kinds, each asking for the ad bit (RFC 6840 §5.7): "DO" (EDNS,
# DO set: RRSIGs and NSEC proofs in the reply) and "AD" (EDNS without DO, the
# AD flag set, as dig sends by default: no DNSSEC records in the reply). The
# query files are wire format (dnsperf -B), as dnsperf cannot set AD.
# Every name of the mix is secure: each answer must be NOERROR with ad.
# dnsperf counts the rcodes of the timed runs; ad is checked on every
# distinct question of the file (dig -f) after the warm-up and after the
# runs, each non-ad answer counted as a failure.
#
# Unbound's config is bench/unbound-resolver.conf.in's (so-rcvbuf 4m as
# dnsd's, one thread, stub zones into the hierarchy) with validation on.
#
# A third process, dnsd's resolver with validation off, answers the AD kind
# as the reference: what a cache hit costs without DNSSEC (no ad there).
#
# Resolvers on CPU 0 (one thread each: Unbound num-threads 1, dnsd
# GOMAXPROCS 1 from its affinity), dnsperf on CPU 1; the figure to compare
# is CPU per answer (utime+stime of the resolver process over the run),
# since dnsperf on one core tops out near both resolvers' rate.
# Needs: go, dnsperf, unbound, dig, taskset, curl, python3 (Debian packages
# dnsperf unbound dnsutils util-linux curl python3; installed as root).
. "$(dirname "$0")/lib.sh" # strict mode, the repo root, RUNS (default 3)

SIMPORT=${SIMPORT:-2153}  # the signed hierarchy (dnsd, authoritative)
DPORT=${DPORT:-2154}      # dnsd's resolver on 127.0.0.1
UPORT=${UPORT:-2155}      # Unbound on 127.0.0.1
NPORT=${NPORT:-2156}      # dnsd's resolver without validation (the reference), 127.0.0.1
AUTH_ADMIN=${AUTH_ADMIN:-19553}
RES_ADMIN=${RES_ADMIN:-19554}
NOVAL_ADMIN=${NOVAL_ADMIN:-19555}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-500}

bench_need dnsperf unbound unbound-checkconf dig taskset curl python3 -- dnsperf unbound dnsutils util-linux curl python3
bench_workdir dns-validate
W=$work

echo "== building dnsd"
build_dnsd "$W"

cat >"$W/auth.yaml" <<YAML
log: {level: warn}
admin: {listen: 127.0.0.1:$AUTH_ADMIN}
servers:
  - {listen: 127.0.1.1:$SIMPORT, zones: ["."], rrl: off}
  - {listen: 127.0.2.1:$SIMPORT, zones: ["test."], rrl: off}
  - {listen: 127.0.3.1:$SIMPORT, zones: ["example.test."], rrl: off}
  - {listen: 127.0.3.2:$SIMPORT, zones: ["example.test."], rrl: off}
  - {listen: 127.0.4.1:$SIMPORT, zones: ["sub.example.test."], rrl: off}
dnssec: {enabled: true, key_dir: $W/keys, root_key: $W/root.key}
YAML
cat >"$W/resolver.yaml" <<YAML
log: {level: warn}
admin: {listen: 127.0.0.1:$RES_ADMIN}
servers:
  - {listen: 127.0.0.1:$DPORT, recursion: true}
dnssec: {enabled: false}
resolver:
  root_hints: ["127.0.1.1"]
  port: $SIMPORT
  dnssec: {validate: true, trust_anchor_file: $W/root.key}
YAML
sed -e "s/127.0.0.1:$DPORT/127.0.0.1:$NPORT/; s/127.0.0.1:$RES_ADMIN/127.0.0.1:$NOVAL_ADMIN/; s/validate: true, trust_anchor_file: .*}/validate: false}/" "$W/resolver.yaml" >"$W/noval.yaml"

# on0 LOG CMD...: CMD on CPU 0, output to LOG, killed at exit; its pid in $pid
on0() {
	local log=$1
	shift
	taskset -c 0 "$@" >"$log" 2>&1 &
	pid=$!
	pids+=("$pid")
}
echo "== starting the signed hierarchy (dnsd, 127.0.{1,2,3,4}.x:$SIMPORT)"
on0 "$W/auth.log" "$W/dnsd" --config "$W/auth.yaml"
for _ in $(seq 100); do [[ -s $W/root.key ]] && curl -sf "http://127.0.0.1:$AUTH_ADMIN/healthz" >/dev/null && break; sleep 0.1; done
[[ -s $W/root.key ]] || { echo "the hierarchy wrote no root.key:"; cat "$W/auth.log"; exit 1; }
ds=$(grep '^#   "' "$W/root.key" | head -1 | sed 's/^#   "//; s/"$//')
echo "   trust anchor: $ds"

sed -e "s#@PORT@#$UPORT#g; s#@SIMPORT@#$SIMPORT#g; s#@DIR@#$W#g" \
	-e 's#^    module-config: "iterator"#    module-config: "validator iterator"\n    trust-anchor: "'"$ds"'"\n    val-log-level: 1#' \
	-e '/no DNSSEC validation/d' bench/unbound-resolver.conf.in >"$W/unbound.conf"
grep -q 'validator iterator' "$W/unbound.conf" || { echo "unbound.conf: validation not turned on" >&2; exit 1; }
unbound-checkconf "$W/unbound.conf" >/dev/null

echo "== starting dnsd's resolver (127.0.0.1:$DPORT) and Unbound (127.0.0.1:$UPORT), both validating, and dnsd's without validation (127.0.0.1:$NPORT), on CPU 0"
on0 "$W/resolver.log" "$W/dnsd" --config "$W/resolver.yaml"
dnsd_pid=$pid
on0 "$W/unbound.out" unbound -d -c "$W/unbound.conf"
unbound_pid=$pid
on0 "$W/noval.log" "$W/dnsd" --config "$W/noval.yaml"
noval_pid=$pid
ubc() { unbound-control -c "$W/unbound.conf" "$@"; }
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$RES_ADMIN/healthz" >/dev/null && curl -sf "http://127.0.0.1:$NOVAL_ADMIN/healthz" >/dev/null && ubc status >/dev/null 2>&1 && break
	sleep 0.1
done
curl -sf "http://127.0.0.1:$RES_ADMIN/healthz" >/dev/null || { echo "dnsd's resolver did not start:"; cat "$W/resolver.log"; exit 1; }
curl -sf "http://127.0.0.1:$NOVAL_ADMIN/healthz" >/dev/null || { echo "dnsd's resolver without validation did not start:"; cat "$W/noval.log"; exit 1; }
ubc status >/dev/null || { echo "unbound did not start:"; cat "$W/unbound.out" "$W/unbound.log"; exit 1; }

# ~10k questions, all secure NOERROR answers: 30% www A, 10% www AAAA, 10%
# MX, a CNAME chain, TXT, SRV, the signed child, the apex MX, 25% wildcard
# (1000 names, each answer with its NSEC proof for DO clients).
resolver_mix "$W/queries.txt" secure
sort -u "$W/queries.txt" >"$W/distinct.txt"
# wire-format query files (2-byte length, then the message; dnsperf sets the ID)
python3 - "$W/queries.txt" "$W" <<'PY'
import struct, sys
types = {"A": 1, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33}
def msg(name, qtype, flags, do):
    q = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".") if l) + b"\0"
    opt = b"\0" + struct.pack(">HHBBHH", 41, 1232, 0, 0, 0x8000 if do else 0, 0)
    m = struct.pack(">HHHHHH", 0, flags, 1, 0, 0, 1) + q + struct.pack(">HH", types[qtype], 1) + opt
    return struct.pack(">H", len(m)) + m
lines = [l.split() for l in open(sys.argv[1])]
for kind, flags, do in (("DO", 0x0100, True), ("AD", 0x0120, False)):
    with open(f"{sys.argv[2]}/queries.{kind}.bin", "wb") as f:
        for name, t in lines:
            f.write(msg(name, t, flags, do))
PY

perf() { # port file [extra dnsperf args…] → dnsperf output
	local port=$1 file=$2
	shift 2
	taskset -c 1 dnsperf -B -s 127.0.0.1 -p "$port" -d "$file" -c "$CLIENTS" -q "$OUTSTANDING" -t 5 "$@" 2>&1
}
# digopts KIND: how dig asks as the query kind does
digopts() { if [[ $1 == DO ]]; then echo "+dnssec +noadflag"; else echo "+nodnssec +adflag"; fi; }
# not_ad PORT KIND: each distinct question once (dig -f, RD, no retries);
# prints the answers that are not NOERROR with ad, and their count last
not_ad() {
	local opts
	opts=$(digopts "$2")
	# shellcheck disable=SC2086
	taskset -c 1 dig -p "$1" @127.0.0.1 +time=2 +tries=1 +noall +comments $opts -f "$W/distinct.txt" 2>&1 |
		awk '/->>HEADER<<-/ {st=$6; sub(",", "", st)} /^;; flags:/ {n++; f=$0; sub(/;.*flags:/, "", f); sub(/;.*/, "", f); if (st != "NOERROR" || f !~ / ad/) {bad++; if (bad <= 3) print "   not secure:", st, f}}
		END {print bad + 0, n + 0}'
}

echo "== warming both caches (the query file once per kind) and checking ad"
for kind in DO AD; do
	for port in "$DPORT" "$UPORT" "$NPORT"; do
		[[ $kind == DO && $port == "$NPORT" ]] && continue
		out=$(perf "$port" "$W/queries.$kind.bin" -n 1 -q 100)
		echo "   $kind 127.0.0.1:$port $(grep -E 'Response codes' <<<"$out" | sed 's/^ *//')"
	done
done
# check_ad: not_ad on both resolvers and kinds, into BAD[resolver.kind]
declare -A BAD
check_ad() {
	local who port kind out bad n
	for who in dnsd unbound; do
		port=$DPORT
		[[ $who == unbound ]] && port=$UPORT
		for kind in DO AD; do
			out=$(not_ad "$port" "$kind")
			read -r bad n <<<"$(tail -1 <<<"$out")"
			BAD[$who.$kind]=$bad
			echo "   $who $kind: $n distinct questions, $bad not NOERROR with ad"
			sed '$d' <<<"$out"
		done
	done
}
check_ad
echo "== sample answers"
for who in dnsd unbound; do
	port=$DPORT
	[[ $who == unbound ]] && port=$UPORT
	for kind in DO AD; do
		# shellcheck disable=SC2046
		printf '   %-7s %s www.example.test A: %s %s\n' "$who" "$kind" \
			"$(dig -p "$port" @127.0.0.1 +time=2 +tries=1 $(digopts "$kind") www.example.test A | grep -E '^;; flags:' | sed 's/;.*flags: //; s/;.*//')" \
			"($(dig -p "$port" @127.0.0.1 +time=2 +tries=1 $(digopts "$kind") www.example.test A | grep -c 'RRSIG') RRSIG lines)"
	done
done

echo "== cache hits: $RUNS runs x ${DURATION}s per resolver and kind, dnsperf -c $CLIENTS -q $OUTSTANDING on CPU 1; load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq "$RUNS"); do
	for kind in DO AD; do
		for who in dnsd unbound dnsd-noval; do
			port=$DPORT pid=$dnsd_pid
			[[ $who == unbound ]] && port=$UPORT pid=$unbound_pid
			[[ $who == dnsd-noval ]] && { [[ $kind == AD ]] || continue; port=$NPORT pid=$noval_pid; }
			t0=$(cpu_ticks "$pid")
			out=$(perf "$port" "$W/queries.$kind.bin" -l "$DURATION")
			t1=$(cpu_ticks "$pid")
			q=$(awk '/Queries per second:/ {print $4}' <<<"$out")
			n=$(awk '/Queries completed:/ {print $3}' <<<"$out")
			lost=$(awk '/Queries lost:/ {print $3}' <<<"$out")
			noerr=$(grep -Eo 'NOERROR [0-9]+' <<<"$out" | awk '{print $2}')
			us=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$n" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}')
			echo "$q $us $lost $((n - ${noerr:-0}))" >>"$W/$who.$kind"
			codes=$(grep -E 'Response codes' <<<"$out" | sed 's/^ *Response codes: *//')
			printf '   run %d %-2s %-10s %9.0f q/s  %5s µs CPU/answer  lost %s  %s\n' "$run" "$kind" "$who" "$q" "$us" "$lost" "$codes"
		done
	done
done

# udp_drops PORT: datagrams the kernel dropped at the socket on 127.0.0.1:PORT (full receive buffer)
udp_drops() { awk -v p="$(printf ':%04X' "$1")" '$2 ~ p"$" {print $NF}' /proc/net/udp | head -1; }
echo "== where lost queries went: socket drops dnsd $(udp_drops "$DPORT"), unbound $(udp_drops "$UPORT"); unbound: $(ubc stats_noreset | grep -E '^total\.(requestlist\.(exceeded|overwritten)|num\.queries_ip_ratelimited)|^num\.query\.(dnscrypt|ratelimited)|^total\.num\.queries=' | tr '\n' ' ')"
echo "== ad after the runs"
check_ad

echo
echo "== result, validation on (medians of $RUNS x ${DURATION}s; dnsperf on one core tops out near 100-130k q/s: compare CPU per answer)"
printf '%-4s %-10s %10s %12s %10s %14s %8s\n' kind resolver "q/s" "µs CPU/ans" "lost/run" "not NOERROR" "not ad"
for kind in DO AD; do
	for who in dnsd unbound; do
		printf '%-4s %-10s %10.0f %12.2f %10s %14s %8s\n' "$kind" "$who" "$(col "$W/$who.$kind" 1)" "$(col "$W/$who.$kind" 2)" \
			"$(col "$W/$who.$kind" 3)" "$(awk '{s += $4} END {print s + 0}' "$W/$who.$kind")" "${BAD[$who.$kind]}"
	done
	awk -v dq="$(col "$W/dnsd.$kind" 1)" -v uq="$(col "$W/unbound.$kind" 1)" -v dc="$(col "$W/dnsd.$kind" 2)" -v uc="$(col "$W/unbound.$kind" 2)" -v k="$kind" \
		'BEGIN {printf "%-4s ratio dnsd/unbound: %.2f q/s, %.2f CPU per answer (target: q/s >= 1.0, CPU <= 1.0)\n", k, dq / uq, dc / uc}'
done
printf '%-4s %-10s %10.0f %12.2f %10s %14s %8s   (no validation: the reference; ad not expected)\n' AD dnsd-noval "$(col "$W/dnsd-noval.AD" 1)" \
	"$(col "$W/dnsd-noval.AD" 2)" "$(col "$W/dnsd-noval.AD" 3)" "$(awk '{s += $4} END {print s + 0}' "$W/dnsd-noval.AD")" -
awk -v v="$(col "$W/dnsd.AD" 2)" -v n="$(col "$W/dnsd-noval.AD" 2)" 'BEGIN {printf "dnsd CPU per answer, validated (AD) / not validating: %.2f\n", v / n}'
