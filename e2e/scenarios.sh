#!/usr/bin/env bash
# Scenarios against the running stack, as a teacher runs them: start the
# built netsim (as e2e/run.sh does), then `netsim scenario run` rolling-deploy,
# --no-drain, canary and region-outage at short durations (about 2 minutes
# together), each judged by its own expectations (exit status) plus a look
# at its records; then a second scenario and a break are refused, and
# Ctrl-C in the middle of a deploy puts the stack back. Prints "N passed,
# N failed"; the timelines are kept under var/e2e-scenarios/.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
WORK=$(mktemp -d)
KEEP=var/e2e-scenarios
. e2e/lib.sh # ok, bad, check

(cd "$WORK" && exec "$OLDPWD/$BIN/netsim" >"$WORK/netsim.log" 2>&1) &
NETSIM=$!
trap 'kill $NETSIM 2>/dev/null; wait $NETSIM 2>/dev/null; rm -rf "$WORK"' EXIT
if ! wait_up $NETSIM 150 netsim_up; then
  bad "netsim is up (control API /healthz); its log follows"; tail -5 "$WORK/netsim.log"
  echo "e2e scenarios: $pass passed, $fail failed"; exit 1
fi
ok "netsim is up"
# the regional lbds answer and GeoDNS has probed them
for i in $(seq 1 50); do curl -sf 127.0.10.1:8404/readyz >/dev/null 2>&1 && break; sleep 0.1; done
sleep 2

mkdir -p "$KEEP"
# run NAME [args…]: one scenario; its output is kept in $WORK/NAME.out
run() {
  local name=$1; shift
  local tag=${name}${1:+$1}
  tag=${tag//--/-}
  local t0=$SECONDS
  "$BIN/netsim" scenario run "$name" "$@" --env-file "$WORK/var/netsim.env" --out "$WORK/out" >"$WORK/$tag.out" 2>&1
  local rc=$?
  grep -E '^(sent|  (pass|FAIL)|failed|  [a-z_]+[0-9 ]|p50)' "$WORK/$tag.out" | sed 's/^/    /' | head -20
  check "scenario $name $* passes its expectations (rc=$rc, $((SECONDS-t0)) s)" test $rc -eq 0
  [ $rc -eq 0 ] || tail -15 "$WORK/$tag.out"
  JSONL=$(ls -t "$WORK"/out/*.jsonl 2>/dev/null | head -1)
  cp "${JSONL%.jsonl}".* "$KEEP/" 2>/dev/null
}

run rolling-deploy --duration 15s --rate 200
check "rolling-deploy: 0 failed and the last answers from v2" \
  bash -c "jq -se '(map(select(.cause)) | length) == 0 and (.[-50:] | all(.version == \"v2\"))' '$JSONL' >/dev/null"

run rolling-deploy --no-drain --duration 15s --rate 200
check "rolling-deploy --no-drain: failures, each with its cause and error" \
  bash -c "jq -se 'map(select(.cause)) | length > 0 and all(.cause != \"\" and .error != \"\")' '$JSONL' >/dev/null"

run canary --duration 20s --rate 200
check "canary: the pool is back as found (b1..b3 weight 1, up)" \
  bash -c "curl -s 127.0.0.1:8404/api/v1/pools/web/backends | jq -e '[.data[] | select(.weight == 1 and .state == \"up\")] | length == 3' >/dev/null"
check "canary: the regional lbds too" \
  bash -c "curl -s 127.0.10.1:8404/api/v1/pools/web/backends | jq -e '[.data[] | select(.weight == 1 and .state == \"up\")] | length == 3' >/dev/null"

run region-outage
check "region-outage: Europe's lbd runs again" bash -c "curl -sf 127.0.10.1:8404/healthz >/dev/null"
# a request in flight when the lbd stopped may be cut (reset): it was sent before the stop
STOP=$(awk '/stop region eu/ {print $1 + 0; exit}' "$WORK/region-outage.out")
check "region-outage: Europe's clients failed only at the dead lbd (refused; reset if sent before the stop at ${STOP:-?}s)" \
  bash -c "jq -se 'map(select(.cause)) | all(.region == \"eu\" and (.cause == \"refused\" or (.cause == \"reset\" and .t <= ${STOP:-5} + 0.2)))' '$JSONL' >/dev/null"

# a scenario refuses to start while `netsim break` has faults active
echo '{}' > "$WORK/var/break.json"
out=$("$BIN/netsim" scenario run rolling-deploy --duration 2s --env-file "$WORK/var/netsim.env" --out "$WORK/out" 2>&1); rc=$?
check "scenario refused during a break (rc=$rc)" bash -c "test $rc -ne 0 && grep -q 'break.json' <<<'$out'"
rm -f "$WORK/var/break.json"

# one scenario at a time; Ctrl-C in the middle of a deploy puts the stack back.
# The run is long (60 s) so that the Ctrl-C lands inside it even on a slow
# machine (a 12 s run could end by itself first; one CI run failed both
# Ctrl-C checks and its output was not kept: it is printed now on failure).
"$BIN/netsim" scenario run rolling-deploy --duration 60s --env-file "$WORK/var/netsim.env" --out "$WORK/out" >"$WORK/ctrlc.out" 2>&1 &
SCEN=$!
v2() { # a backend answers as v2 (not a pipe into grep -q: pipefail would fail it)
  local vs="" a
  for a in $(curl -s 127.0.0.1:8404/api/v1/pools/web/backends | jq -r '.data[].address'); do
    vs+=" $(curl -s "$a/admin/config" | jq -r .data.version)"
  done
  [[ $vs == *v2* ]]
}
wait_up $SCEN 200 v2 # b1 restarted on v2: the deploy is under way
out=$("$BIN/netsim" scenario run canary --duration 2s --env-file "$WORK/var/netsim.env" --out "$WORK/out" 2>&1); rc=$?
check "a second scenario refused while one runs (rc=$rc)" bash -c "test $rc -ne 0 && grep -q 'another scenario' <<<'$out'"
kill -INT $SCEN; wait $SCEN
check "Ctrl-C: the run was interrupted" grep -q "interrupted: putting the stack back" "$WORK/ctrlc.out"
check "Ctrl-C: the run says the stack is back" grep -q "the stack is back as it was found" "$WORK/ctrlc.out"
grep -q "the stack is back as it was found" "$WORK/ctrlc.out" || { echo "--- the interrupted run's last lines:"; tail -n 15 "$WORK/ctrlc.out"; }
check "Ctrl-C: no request counted as failed by the interrupt" bash -c "! grep -q 'cancelled' '$WORK/ctrlc.out'"
check "Ctrl-C: every backend back on v1 with no added latency, up, weight 1" bash -c '
  curl -s 127.0.0.1:8404/api/v1/pools/web/backends | jq -e "[.data[] | select(.state == \"up\" and .weight == 1)] | length == 3" >/dev/null &&
  for a in $(curl -s 127.0.0.1:8404/api/v1/pools/web/backends | jq -r ".data[].address"); do
    curl -s "$a/admin/config" | jq -e ".data.version == \"v1\" and .data.latency == \"0s\"" >/dev/null || exit 1; done'

echo "e2e scenarios: $pass passed, $fail failed (timelines in $KEEP/)"
[ $fail -eq 0 ]
