#!/usr/bin/env bash
# The lab guides' commands, run: start netsim as e2e/run.sh does, run every
# "console" block of docs/labs/*.md in order against it (e2e/labs), stop
# netsim. Prints ok/FAIL per command with the guide's file:line; exits
# non-zero when one fails. LABS="docs/labs/02-*.md" runs some guides only.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BIN=${BIN:-bin}
. e2e/lib.sh # wait_up, netsim_up
WORK=$(mktemp -d)
NETSIM=
cleanup() {
  if [ -n "$NETSIM" ]; then kill -INT "$NETSIM" 2>/dev/null; wait "$NETSIM" 2>/dev/null; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in dig drill curl jq; do
  command -v $tool >/dev/null || { echo "labs: $tool is missing (apt-get install dnsutils ldnsutils curl jq)"; exit 1; }
done
go build -o "$WORK/labcheck" ./e2e/labs || exit 1
# shellcheck disable=SC2086
"$WORK/labcheck" --parse ${LABS:-docs/labs/[0-9]*.md} >/dev/null || exit 1

# The commands run where a student runs them: a directory with the
# repository's files (go run ./cmd/…, bin/, docs/) and netsim's own var/.
mkdir -p "$WORK/class"
for f in "$REPO"/*; do
  [ "$(basename "$f")" = var ] || ln -s "$f" "$WORK/class/$(basename "$f")"
done
(cd "$WORK/class" && exec "$REPO/$BIN/netsim" >"$WORK/netsim.log" 2>&1) &
NETSIM=$!
labs_up() {
  curl -sf 127.0.0.1:9153/healthz >/dev/null 2>&1 && curl -sf 127.0.0.1:8404/healthz >/dev/null 2>&1 \
    && curl -sf 127.0.0.1:8000/api/v1/world >/dev/null 2>&1 && netsim_up "$WORK/class"
}
if ! wait_up $NETSIM 100 labs_up; then
  echo "labs: netsim did not come up (another copy running?); its log ends:"; tail -5 "$WORK/netsim.log"; exit 1
fi
# as the guides say: source var/netsim.env
# shellcheck disable=SC1091
source "$WORK/class/var/netsim.env"
# shellcheck disable=SC2086
"$WORK/labcheck" --dir "$WORK/class" ${LABS:-docs/labs/[0-9]*.md}
rc=$?
if [ $rc -ne 0 ]; then echo "netsim's log ends:"; tail -15 "$WORK/netsim.log"; fi
exit $rc
