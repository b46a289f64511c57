# bench/lib.sh — what every bench script needs. A script starts with
#   . "$(dirname "$0")/lib.sh"
# which turns on strict mode (set -euo pipefail), moves to the repo root and
# sets RUNS (runs per figure, default 3), then offers:
#   bench_need CMD... [-- DEBIAN-PACKAGE...]  commands the script runs; installs the packages when root
#   bench_workdir NAME                        sets $work (removed at exit) and $pids (killed at exit)
#   cpu_ticks PID                             utime+stime of PID in clock ticks; $hz ticks per second
#   per_op TICKS N                            CPU microseconds per operation
#   median                                    median of the numbers on stdin (mean of the middle two when even)
#   med NUMBER...                             median of the arguments
#   col FILE N                                median of column N of FILE
#   wait_port PORT [HOST]                     until a TCP connect succeeds (exits after 10 s)
#   wait_http URL                             until URL answers 2xx (exits after 10 s)
#   build_dnsd DIR                            DIR/dnsd: built from this tree, or a copy of $DNSD (another build)
#   dnsd_conf FILE DIR ADMIN PORT [FIELDS]    dnsd config: example.test. from DIR on 127.0.0.1:PORT, admin on
#                                             127.0.0.1:ADMIN; FIELDS (", key: value…") go into the server
#   resolver_mix FILE [secure]               the resolver benchmarks' ~10k questions into the demo zones (dnsperf
#                                             -d form): A, AAAA, MX, a CNAME chain, TXT, SRV, the delegated child,
#                                             NXDOMAIN, wildcard; with secure, names with a secure NOERROR answer only
#   web3 PORT_BASE                            sets b1 b2 b3: the addresses of webd --count 3 --base-port PORT_BASE
#   lbd_web_conf FILE PORT GC ADMIN [FIELDS]  lbd config: HTTP frontend on 127.0.0.1:PORT, round robin over
#                                             $b1 $b2 $b3 with HTTP checks, runtime.gc_percent GC, admin {ADMIN};
#                                             FIELDS (", key: value…") go into the frontend
#   haproxy_web_cfg FILE PORT MAXCONN CLIENT-TIMEOUT [LINE...]
#                                             HAProxy: one thread, HTTP keep-alive on 127.0.0.1:PORT, round
#                                             robin over $b1 $b2 $b3 with checks; LINEs go into defaults
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${RUNS:-3}

bench_need() {
	local cmds=() pkgs=() missing=() c
	while (($#)); do
		[[ $1 == -- ]] && { shift; pkgs=("$@"); break; }
		cmds+=("$1"); shift
	done
	for c in "${cmds[@]}"; do command -v "$c" >/dev/null || missing+=("$c"); done
	((${#missing[@]})) || return 0
	if ((${#pkgs[@]})) && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		echo "installing ${pkgs[*]} (missing: ${missing[*]})"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
	else
		echo "$(basename "$0"): missing ${missing[*]}${pkgs:+ (apt-get install ${pkgs[*]})}" >&2
		exit 1
	fi
}

bench_workdir() {
	work=$(mktemp -d "/tmp/$1.XXXXXX")
	pids=()
	trap bench_cleanup EXIT
}

bench_cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}

hz=$(getconf CLK_TCK)
# The fields after comm, which is in parentheses and may hold spaces
# ("haproxy -f x" does not, but a thread name can): split after the last ')'.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12+$13}'; }
# core_busy_ticks N: ticks CPU N spent on anything but idle and iowait (/proc/stat).
core_busy_ticks() { awk -v c="cpu$1" '$1==c {print $2+$3+$4+$7+$8+$9}' /proc/stat; }
# tcp_out_segs: TCP segments sent in this network namespace so far.
tcp_out_segs() { awk '/^Tcp:/ {n++; if (n==1) for (i=1;i<=NF;i++) if ($i=="OutSegs") c=i; if (n==2) print $c}' /proc/net/snmp; }
per_op() { awk -v t="$1" -v hz="$hz" -v n="$2" 'BEGIN {printf "%.1f", t*1e6/hz/n}'; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
med() { printf '%s\n' "$@" | median; }
col() { awk -v c="$2" '{print $c}' "$1" | median; }

wait_port() {
	local _
	for _ in $(seq 200); do (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null && return 0; sleep 0.05; done
	echo "port ${2:-127.0.0.1}:$1 did not open" >&2; exit 1
}

wait_http() {
	local _
	for _ in $(seq 200); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.05; done
	echo "$1 did not answer" >&2; exit 1
}

build_dnsd() {
	if [[ -n ${DNSD:-} ]]; then cp "$DNSD" "$1/dnsd"; else go build -o "$1/dnsd" ./cmd/dnsd; fi
}

dnsd_conf() {
	cat >"$1" <<YAML
log: {level: warn}
admin: {listen: 127.0.0.1:$3}
zones: {dir: $2}
servers: [{listen: 127.0.0.1:$4, zones: [example.test.]${5:-}}]
YAML
}

resolver_mix() {
	awk -v secure="${2:-}" 'BEGIN {
		j = 0
		for (i = 0; i < 10000; i++) {
			k = i % 20
			if (k < 6) print "www.example.test A"
			else if (k < 8) print "www.example.test AAAA"
			else if (k < 10) print "mail.example.test MX"
			else if (k == 10) print "alias.example.test A"
			else if (k == 11) print "info.example.test TXT"
			else if (k == 12) print "_http._tcp.example.test SRV"
			else if (k == 13) print "www.sub.example.test A"
			else if (secure != "") print (k == 14) ? "example.test MX" : "h" (j++ % 1000) ".apps.example.test A"
			else if (k == 14) print "ext.example.test A"
			else if (k < 17) print "nope-" (i % 500) ".example.test A"
			else if (k < 19) print "h" (i % 1000) ".apps.example.test A"
			else print "example.test MX"
		}
	}' >"$1"
}

web3() {
	b1=127.0.0.1:$1; b2=127.0.0.1:$(($1 + 1)); b3=127.0.0.1:$(($1 + 2))
}

lbd_web_conf() {
	cat >"$1" <<YAML
log: {level: warn}
admin: {$4}
runtime: {gc_percent: $3}
frontends:
  - {name: http, listen: 127.0.0.1:$2, pool: web, backend_header: false${5:-}}
pools:
  - name: web
    policy: round_robin
    health: {type: http, path: /healthz, interval: 2s, timeout: 1s}
    backends:
      - {id: b1, address: "$b1"}
      - {id: b2, address: "$b2"}
      - {id: b3, address: "$b3"}
YAML
}

haproxy_web_cfg() {
	local file=$1 port=$2 maxconn=$3 client=$4 line
	shift 4
	{
		printf 'global\n    nbthread 1\n    maxconn %s\n' "$maxconn"
		printf 'defaults\n    mode http\n    timeout connect 2s\n    timeout client %s\n    timeout server 30s\n' "$client"
		for line in "$@"; do printf '    %s\n' "$line"; done
		printf '    option http-keep-alive\n'
		printf 'frontend fe\n    bind 127.0.0.1:%s\n    default_backend web\n' "$port"
		printf 'backend web\n    balance roundrobin\n    http-reuse always\n    option httpchk GET /healthz\n'
		printf '    server %s %s check inter 2s\n' b1 "$b1" b2 "$b2" b3 "$b3"
	} >"$file"
}
