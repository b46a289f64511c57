#!/usr/bin/env bash
# Zone transfer cost: dnsd, then NSD (the peer, same zones, same run), each
# pinned to CPU 0, send AXFR of generated zones of 1,000, 10,000 and
# 100,000 A records to dig (CPU 1); and, the real path, Knot loads the 10k
# zone from dnsd as a secondary. Quoted per 1,000 records: wall time per
# transfer (dig's, parse included) and the server's CPU.
# Needs: dig taskset nsd (knotd optional). Usage: bench/dns-axfr.sh [transfers per run, default 20]
# Listens on 127.0.0.1:15393 (dnsd) and :15396 (NSD); run it in `unshare -n` on a shared machine.
. "$(dirname "$0")/lib.sh" # strict mode, the repo root, RUNS (default 3)
K=${1:-20}
. bench/nsd.sh
bench_need dig taskset nsd -- dnsutils util-linux nsd
bench_workdir dns-axfr
build_dnsd "$work"
mkdir -p "$work/zones"
cp zones/data/example.test.zone "$work/zones/"
SIZES=(1000 10000 100000)
for n in "${SIZES[@]}"; do
  {
    printf '$ORIGIN z%s.test.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ IN NS ns1\nns1 IN A 127.0.0.1\n' "$n"
    awk -v n="$n" 'BEGIN {for (i = 0; i < n; i++) printf "h%d IN A 10.%d.%d.%d\n", i, int(i/65536)%256, int(i/256)%256, i%256}'
  } >"$work/zones/z$n.test.zone"
done
zl=$(printf 'z%s.test., ' "${SIZES[@]}"); zl=${zl%, }
{
  echo "log: {level: warn}"
  echo "admin: {listen: 127.0.0.1:15394}"
  echo "zones: {dir: $work/zones}"
  echo "servers: [{listen: 127.0.0.1:15393, zones: [$zl]}]"
  echo "primary:"
  echo "  zones:"
  for n in "${SIZES[@]}"; do echo "    - {name: z$n.test., allow_transfer: [{from: 127.0.0.0/8}]}"; done
} >"$work/dnsd.yaml"
taskset -c 0 "$work/dnsd" --config "$work/dnsd.yaml" >"$work/dnsd.log" 2>&1 & pids+=($!); dpid=$!
nsd_conf "$work/zones" 15396
for n in "${SIZES[@]}"; do printf 'zone:\n  name: z%s.test\n  zonefile: z%s.test.zone\n  provide-xfr: 127.0.0.0/8 NOKEY\n' "$n" "$n"; done >>"$work/zones/nsd.conf"
taskset -c 0 nsd -d -c "$work/zones/nsd.conf" >"$work/nsd.log" 2>&1 & pids+=($!); npid=$!
for port in 15393 15396; do
  for _ in $(seq 100); do dig +short +time=1 +tries=1 @127.0.0.1 -p $port z100000.test SOA 2>/dev/null | grep -q hostmaster && break; sleep 0.1; done
done
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $K transfers per run, $RUNS runs"

now_us() { echo $(( $(date +%s%N) / 1000 )); }
# measure NAME PORT PID N → one line: wall and server CPU per 1,000 records
measure() {
  local name=$1 port=$2 pid=$3 n=$4 got W=() C=() t0 t1 w0 w1
  got=$(dig +noall +answer @127.0.0.1 -p "$port" "z$n.test" AXFR | wc -l)
  [ "$got" -eq $((n + 4)) ] || { echo "$name: AXFR of z$n.test: $got records, want $((n + 4))"; return 1; }
  for _ in $(seq "$RUNS"); do
    t0=$(tree_ticks "$pid"); w0=$(now_us)
    for _ in $(seq "$K"); do taskset -c 1 dig +noall @127.0.0.1 -p "$port" "z$n.test" AXFR >/dev/null; done
    w1=$(now_us); t1=$(tree_ticks "$pid")
    W+=("$(awk -v d=$((w1 - w0)) -v k="$K" -v n="$n" 'BEGIN {printf "%.2f", d/1000/k/(n/1000)}')")
    C+=("$(awk -v t=$((t1 - t0)) -v hz="$hz" -v k="$K" -v n="$n" 'BEGIN {printf "%.3f", t*1000/hz/k/(n/1000)}')")
  done
  echo "$name z$n.test ($n records): $(med "${W[@]}") ms wall per 1,000 records (dig; runs: ${W[*]}), $(med "${C[@]}") ms server CPU per 1,000 records (runs: ${C[*]})"
}
for n in "${SIZES[@]}"; do
  measure dnsd 15393 "$dpid" "$n"
  measure "NSD " 15396 "$npid" "$n"
done

# the real path: Knot as a secondary, time from start to the zone loaded
if command -v knotd >/dev/null; then
  . e2e/secondaries.sh   # after the measurements: its helpers are not bench/nsd.sh's
  for r in $(seq "$RUNS"); do
    d="$work/knot$r"; mkdir -p "$d"
    knot_secondary_conf "$d" 127.0.0.2 15395 127.0.0.1 15393 127.0.0.0/8
    sed -i 's/example\.test\./z10000.test./' "$d/knot.conf"
    t0=$(now_us)
    taskset -c 1 knotd -c "$d/knot.conf" >"$d/log" 2>&1 & kp=$!
    for _ in $(seq 600); do dig +short +norec +time=1 +tries=1 @127.0.0.2 -p 15395 z10000.test SOA 2>/dev/null | grep -q hostmaster && break; sleep 0.01; done
    t1=$(now_us); kill $kp; wait $kp 2>/dev/null || true
    echo "Knot run $r: start to serving z10000.test (AXFR of 10,000 records, Knot's start included): $(( (t1 - t0) / 1000 )) ms"
  done
fi
