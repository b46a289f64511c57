# e2e/lib.sh — the check helpers of the e2e scripts; source it after
# `cd` to the repository: counts in $pass and $fail.
#   ok TEXT / bad TEXT / skip TEXT   one line of the report
#   check TEXT COMMAND...             ok when the command succeeds, else bad
#   has TEXT REGEX                    TEXT matches the extended regex
#   finish                            print "$E2E: N passed, N failed"; exit 1 if any failed
#   netsim_up [DIR]                   netsim's control API answers and DIR/var/netsim.env exists (DIR: $WORK)
#   wait_up PID TRIES COMMAND...      run COMMAND every 0.1 s until it succeeds, PID exits or
#                                     TRIES are spent; its status is COMMAND's last
pass=0; fail=0
ok()   { pass=$((pass+1)); echo "ok   - $*"; }
bad()  { fail=$((fail+1)); echo "FAIL - $*"; }
skip() { echo "skip - $*"; }
check() { # check "description" command... : passes when the command succeeds
  local what=$1; shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
has() { grep -qE -- "$2" <<<"$1"; }
netsim_up() { curl -sf 127.0.0.1:8000/healthz >/dev/null 2>&1 && test -s "${1:-$WORK}/var/netsim.env"; }
wait_up() {
  local pid=$1 tries=$2 i; shift 2
  for ((i = 0; i < tries; i++)); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  "$@"
}
finish() { echo "${E2E:-e2e}: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }
