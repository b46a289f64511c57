#!/usr/bin/env bash
# Zone transfer cost: dnsd (pinned to CPU 0) sends AXFR of generated zones
# of 1,000, 10,000 and 100,000 A records to dig (CPU 1); and, the real
# path, Knot loads the 10k zone from dnsd as a secondary. Quoted per 1,000
# records: wall time per transfer (dig's, parse included) and dnsd's CPU.
# Needs: dig taskset (knotd optional). Usage: bench/dns-axfr.sh [transfers per run, default 20]
# Listens on 127.0.0.1:15393; run it in `unshare -n` on a shared machine.
. "$(dirname "$0")/lib.sh" # strict mode, the repo root, RUNS (default 3)
K=${1:-20}
bench_need dig taskset -- dnsutils util-linux
bench_workdir dns-axfr
build_dnsd "$work"
mkdir -p "$work/zones"
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
for _ in $(seq 100); do dig +short +time=1 +tries=1 @127.0.0.1 -p 15393 z1000.test SOA >/dev/null 2>&1 && break; sleep 0.1; done
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $K transfers per run, $RUNS runs"

now_us() { echo $(( $(date +%s%N) / 1000 )); }
for n in "${SIZES[@]}"; do
  got=$(dig +noall +answer @127.0.0.1 -p 15393 "z$n.test" AXFR | wc -l)
  [ "$got" -eq $((n + 4)) ] || { echo "AXFR of z$n.test: $got records, want $((n + 4))"; exit 1; }
  W=(); C=()
  for r in $(seq "$RUNS"); do
    t0=$(cpu_ticks "$dpid"); w0=$(now_us)
    for _ in $(seq "$K"); do taskset -c 1 dig +noall @127.0.0.1 -p 15393 "z$n.test" AXFR >/dev/null; done
    w1=$(now_us); t1=$(cpu_ticks "$dpid")
    W+=("$(awk -v d=$((w1 - w0)) -v k="$K" -v n="$n" 'BEGIN {printf "%.2f", d/1000/k/(n/1000)}')")
    C+=("$(awk -v t=$((t1 - t0)) -v hz="$hz" -v k="$K" -v n="$n" 'BEGIN {printf "%.3f", t*1000/hz/k/(n/1000)}')")
  done
  echo "z$n.test ($n records): $(med "${W[@]}") ms wall per 1,000 records (dig, runs: ${W[*]}), dnsd $(med "${C[@]}") ms CPU per 1,000 records (runs: ${C[*]})"
done

# the real path: Knot as a secondary, time from start to the zone loaded
if command -v knotd >/dev/null; then
  . e2e/secondaries.sh
  for r in $(seq "$RUNS"); do
    d="$work/knot$r"; mkdir -p "$d"
    knot_conf "$d" 127.0.0.2 15395 127.0.0.1 15393 127.0.0.0/8
    sed -i 's/example\.test\./z10000.test./' "$d/knot.conf"
    t0=$(now_us)
    taskset -c 1 knotd -c "$d/knot.conf" >"$d/log" 2>&1 & kp=$!
    for _ in $(seq 600); do dig +short +norec +time=1 +tries=1 @127.0.0.2 -p 15395 z10000.test SOA 2>/dev/null | grep -q hostmaster && break; sleep 0.01; done
    t1=$(now_us); kill $kp; wait $kp 2>/dev/null || true
    echo "Knot run $r: start to serving z10000.test (AXFR of 10,000 records, Knot's start included): $(( (t1 - t0) / 1000 )) ms"
  done
fi
