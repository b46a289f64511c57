#!/usr/bin/env bash
# Signed authoritative DNS (issue 17): dnsd signing example.test. online
# against Knot signing it online (mod-onlinesign) and NSD serving it signed
# beforehand (ldns-signzone), every query with DO set, each server pinned to
# CPU 0, dnsperf on CPU 1, RUNS runs each (median quoted). Also the count
# of signatures dnsd made: a popular answer is signed once, not per query.
# Needs: dnsperf knotd nsd ldns-signzone (Debian packages; installed when
# missing and root).
# Usage: bench/dns-dnssec.sh [seconds per run, default 10]
. "$(dirname "$0")/lib.sh" # strict mode, the repo root, RUNS (default 3)
SECS=${1:-10}
. bench/nsd.sh
bench_need dnsperf knotd nsd ldns-signzone ldns-keygen dig taskset -- dnsperf knot nsd ldnsutils dnsutils util-linux
nsd_bench dns-dnssec

query_mix "$W/queries"   # the mix of bench/dns-auth.sh

# dnsd: online signing, ECDSA P-256, KSK + ZSK
dnsd_conf "$W/dnsd.yaml" "$W" 19263 15363 ", rrl: off"
cat >>"$W/dnsd.yaml" <<YAML
dnssec: {enabled: true, key_dir: $W/keys}
YAML
# Knot: online signing of the same zone (mod-onlinesign, ECDSA P-256)
mkdir -p "$W/knot"
cp "$W/example.test.zone" "$W/knot/"
cat >"$W/knot.conf" <<CONF
server:
    rundir: "$W/knot"
    listen: 127.0.0.1@15364
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "$W/knot/knot.sock"
database:
    storage: "$W/knot"
log:
  - target: stderr
    any: warning
policy:
  - id: p256
    algorithm: ecdsap256sha256
mod-onlinesign:
  - id: sign
    policy: p256
template:
  - id: default
    storage: "$W/knot"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: example.test
    file: example.test.zone
    module: mod-onlinesign/sign
CONF
# NSD: the zone signed beforehand with ldns (a KSK and a ZSK, NSEC chain)
mkdir -p "$W/nsd-signed"
(cd "$W/nsd-signed" && cp ../example.test.zone . &&
	zsk=$(ldns-keygen -a ECDSAP256SHA256 example.test) && ksk=$(ldns-keygen -k -a ECDSAP256SHA256 example.test) &&
	ldns-signzone -f example.test.zone.signed example.test.zone "$zsk" "$ksk" >/dev/null)
nsd_conf "$W/nsd-signed" 15365
sed -i 's/zonefile: example.test.zone/zonefile: example.test.zone.signed/' "$W/nsd-signed/nsd.conf"

OUTSTANDING=${OUTSTANDING:-256}
CLIENTS=${CLIENTS:-4}
# run PORT PID → "qps lost cpu-µs-per-answer" for one timed dnsperf run, DO set (-D)
run() {
	local t0 t1 out
	t0=$(tree_ticks "$2")
	out=$(taskset -c 1 dnsperf -D -s 127.0.0.1 -p "$1" -d "$W/queries" -l "$SECS" -q "$OUTSTANDING" -c "$CLIENTS" -T 1 2>&1)
	t1=$(tree_ticks "$2")
	awk -v dt=$((t1 - t0)) -v hz="$hz" '/Queries completed/ {n=$3} /Queries lost/ {l=$3} /Queries per second/ {q=$4}
    END {printf "%s %s %.2f\n", q, l, dt*1e6/hz/n}' <<<"$out"
}
signed_by_dnsd() { curl -s 127.0.0.1:19263/api/v1/dnssec/zones/example.test. | awk -F'[:,]' '/signatures_made/ {gsub(/ /,"",$2); print $2}'; }

taskset -c 0 "$W/dnsd" --config "$W/dnsd.yaml" >"$W/dnsd.log" 2>&1 & pids+=($!); dpid=$!
taskset -c 0 knotd -c "$W/knot.conf" >"$W/knot.log" 2>&1 & pids+=($!); kpid=$!
taskset -c 0 nsd -d -c "$W/nsd-signed/nsd.conf" >"$W/nsd.log" 2>&1 & pids+=($!); npid=$!
wait_dns 15363; wait_dns 15364; wait_dns 15365
for p in 15363 15364 15365; do
	dig +dnssec +time=2 +tries=1 -p $p @127.0.0.1 www.example.test A | grep -q 'RRSIG' || { echo "server on $p gives no RRSIG with DO" >&2; exit 1; }
done
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); dnsperf -D -c $CLIENTS -q $OUTSTANDING, ${SECS}s per run"

declare -a D K N DC KC NC
for r in $(seq 1 "$RUNS"); do
	read -r q kl c < <(run 15364 "$kpid"); K+=("$q"); KC+=("$c")
	read -r q nl c < <(run 15365 "$npid"); N+=("$q"); NC+=("$c")
	before=$(signed_by_dnsd)
	read -r q dl c < <(run 15363 "$dpid"); D+=("$q"); DC+=("$c")
	after=$(signed_by_dnsd)
	echo "run $r: dnsd ${D[-1]} q/s lost $dl ${DC[-1]} µs/answer ($((after - before)) signatures made) | knot ${K[-1]} q/s lost $kl ${KC[-1]} µs/answer | nsd (pre-signed) ${N[-1]} q/s lost $nl ${NC[-1]} µs/answer"
done
dq=$(med "${D[@]}"); kq=$(med "${K[@]}"); nq=$(med "${N[@]}")
echo
echo "DO queries, medians of $RUNS × ${SECS}s: dnsd (online) $dq q/s $(med "${DC[@]}") µs CPU/answer | Knot (online) $kq q/s $(med "${KC[@]}") µs | NSD (pre-signed) $nq q/s $(med "${NC[@]}") µs"
awk -v d="$dq" -v k="$kq" -v n="$nq" -v dc="$(med "${DC[@]}")" -v kc="$(med "${KC[@]}")" \
	'BEGIN {printf "ratio dnsd/Knot: %.2f q/s (acceptance: >= 0.8), %.2f CPU per answer; dnsd/NSD: %.2f q/s\n", d/k, dc/kc, d/n}'
echo "(servers on CPU 0, dnsperf on CPU 1; on a busy machine q/s follows the CPU each got: compare CPU per answer)"
