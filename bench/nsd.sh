# bench/nsd.sh — what the scripts that run dnsd against NSD share; source it
# after bench/lib.sh.
#   nsd_bench NAME                      bench_workdir NAME, then W=$work holding dnsd (build_dnsd: DNSD=binary
#                                       measures another build) and the example.test. zone
#   nsd_conf DIR PORT [SERVER-LINE...]  writes DIR/nsd.conf: example.test. from DIR on 127.0.0.1@PORT,
#                                       one server process, no RRL; extra lines go in server:
#   query_mix FILE                      dnsperf's query file: A, MX, AAAA, CNAME chains, NXDOMAIN, wildcard
#                                       (~10k lines; dns-auth.sh and dns-dnssec.sh ask the same)
#   wait_dns PORT                       until www.example.test answers on 127.0.0.1:PORT (10 s)
#   proc_tree PID                       PID and its descendants (NSD -d: xfrd → main → server child)
#   tree_ticks PID                      CPU ticks of the tree (fields read after the ")" of the
#                                       name: NSD's children are called "nsd: server 1")
#   tree_pss PID                        kB of PSS of the tree (forked pages counted once)

nsd_bench() {
	bench_workdir "$1"
	W=$work
	build_dnsd "$W"
	cp zones/data/example.test.zone "$W/"
}

nsd_conf() {
	local dir=$1 port=$2 line
	shift 2
	mkdir -p "$dir/nsd"
	{
		echo "server:"
		echo "  ip-address: 127.0.0.1@$port"
		echo "  port: $port"
		echo '  username: ""'
		echo '  chroot: ""'
		echo "  zonesdir: \"$dir\""
		echo "  pidfile: \"$dir/nsd/nsd.pid\""
		echo "  zonelistfile: \"$dir/nsd/zone.list\""
		echo "  xfrdfile: \"$dir/nsd/xfrd.state\""
		echo '  database: ""'
		echo "  server-count: 1"
		echo "  rrl-ratelimit: 0"
		echo "  verbosity: 0"
		echo "  hide-version: yes"
		for line in "$@"; do echo "  $line"; done
		echo "remote-control:"
		echo "  control-enable: no"
		echo "zone:"
		echo "  name: example.test"
		echo "  zonefile: example.test.zone"
	} >"$dir/nsd.conf"
}

wait_dns() {
	local _
	for _ in $(seq 1 100); do
		dig +short +time=1 +tries=1 -p "$1" @127.0.0.1 www.example.test A >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "server on $1 did not start" >&2
	return 1
}

proc_tree() {
	local p
	echo "$1"
	for p in $(pgrep -P "$1"); do proc_tree "$p"; done
}

tree_ticks() {
	local p t=0
	for p in $(proc_tree "$1"); do t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'))); done
	echo "$t"
}

tree_pss() {
	local p t=0
	for p in $(proc_tree "$1"); do t=$((t + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup"))); done
	echo "$t"
}

query_mix() {
python3 - "$1" <<'PY'
import random, sys
random.seed(1)
mix = [("www.example.test", "A", 30), ("mail.example.test", "MX", 15), ("www.example.test", "AAAA", 15),
       ("alias.example.test", "A", 10), ("ext.example.test", "CNAME", 5), ("example.test", "NS", 5),
       ("info.example.test", "TXT", 5)]
lines = []
for name, t, w in mix:
    lines += [f"{name} {t}"] * (w * 100)
lines += [f"nx{random.randrange(10**6)}.example.test A" for _ in range(1000)]      # NXDOMAIN
lines += [f"h{random.randrange(10**6)}.apps.example.test A" for _ in range(500)]   # wildcard
random.shuffle(lines)
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
}
