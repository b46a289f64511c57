# bench/lib.sh — what every bench script needs; source it after `cd` to the repo root.
#   bench_need CMD... [-- DEBIAN-PACKAGE...]  commands the script runs; installs the packages when root
#   bench_workdir NAME                        sets $work (removed at exit) and $pids (killed at exit)
#   cpu_ticks PID                             utime+stime of PID in clock ticks; $hz ticks per second
#   per_op TICKS N                            CPU microseconds per operation
#   median                                    median of the numbers on stdin (mean of the middle two when even)
#   wait_port PORT [HOST]                     until a TCP connect succeeds (exits after 10 s)
#   wait_http URL                             until URL answers 2xx (exits after 10 s)

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
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
per_op() { awk -v t="$1" -v hz="$hz" -v n="$2" 'BEGIN {printf "%.1f", t*1e6/hz/n}'; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

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
