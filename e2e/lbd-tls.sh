#!/usr/bin/env bash
# End-to-end checks of lbd's HTTPS and TCP frontends with real clients:
# curl (h2 by ALPN, the demo CA), openssl s_client (TLS 1.1 refused, 1.2 and
# 1.3 accepted, certificate chosen by SNI), bash /dev/tcp through the L4
# frontend (round robin over e1..e3), the admin API and metrics, a SIGHUP
# reload that keeps an API-set state, and testssl.sh when it is installed
# (fails on any finding of severity MEDIUM or higher except trust in the
# local demo CA).
#
#   make build && bash e2e/lbd-tls.sh
#   HTTPS_PORT=18443 TCP_PORT=19000 bash e2e/lbd-tls.sh   # other ports
#
# Runs bin/lbd and bin/webd (from `make build`) and the echo backends of
# e2e/echo-backends (built here with go: the same netsim/internal/echo
# servers netsim starts). The config is configs/lbd.yaml with the ports
# below and the demo PKI in a temporary directory, plus a second certificate
# from another CA for the SNI check. Prints "N passed, N failed"; exits 1 on
# any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

HTTP_PORT=${HTTP_PORT:-8080}
HTTPS_PORT=${HTTPS_PORT:-8443}
TCP_PORT=${TCP_PORT:-9000}
ADMIN_PORT=${ADMIN_PORT:-8404}
WEB_BASE=${WEB_BASE:-9001}
ECHO_BASE=${ECHO_BASE:-9101}
LBD=${LBD:-bin/lbd}
WEBD=${WEBD:-bin/webd}
TOKEN=e2e-$RANDOM$RANDOM

. e2e/lib.sh # ok, bad, check

for f in "$LBD" "$WEBD"; do
  [ -x "$f" ] || { echo "lbd-tls: $f not found: run make build first"; exit 1; }
done
for cmd in curl openssl jq go; do
  command -v "$cmd" >/dev/null || { echo "lbd-tls: $cmd not found"; exit 1; }
done

work=$(mktemp -d /tmp/lbd-tls.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ "$fail" -gt 0 ]; then
    echo "--- lbd log (last 40 lines)"; tail -40 "$work/lbd.log" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# wait_for "what" seconds command...: poll until the command succeeds.
wait_for() {
  local what=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then echo "lbd-tls: timed out after ${secs}s waiting for $what"; return 1; fi
    sleep 0.1
  done
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- certificates: the demo PKI (lbd cert) and a second CA for SNI
"$LBD" cert --dir "$work/pki" >"$work/cert.out" 2>&1
check "lbd cert writes the demo CA and prints how to trust it" \
  grep -q -- "--cacert $work/pki/ca.pem" "$work/cert.out"
"$LBD" cert --dir "$work/other" --names api.other.test >/dev/null 2>&1 ||
  { echo "lbd-tls: lbd cert --names api.other.test failed"; exit 1; }

# --- config: configs/lbd.yaml with these ports, the PKI dirs and the SNI cert
sed -e "s/127\.0\.0\.1:8080/127.0.0.1:$HTTP_PORT/; s/127\.0\.0\.1:8443/127.0.0.1:$HTTPS_PORT/" \
    -e "s/127\.0\.0\.1:9000/127.0.0.1:$TCP_PORT/; s/127\.0\.0\.1:8404/127.0.0.1:$ADMIN_PORT/" \
    -e "s/127\.0\.0\.1:900\([1-3]\)/127.0.0.1:__WEB\1__/; s/127\.0\.0\.1:910\([1-3]\)/127.0.0.1:__ECHO\1__/" \
    -e "s|^\(      \)demo: true.*|\1demo: true\n\1demo_dir: $work/pki\n\1certs:\n\1  - {cert: $work/other/server.pem, key: $work/other/server-key.pem}|" \
    configs/lbd.yaml >"$work/lbd.yaml"
for i in 1 2 3; do
  sed -i -e "s/__WEB${i}__/$((WEB_BASE + i - 1))/" -e "s/__ECHO${i}__/$((ECHO_BASE + i - 1))/" "$work/lbd.yaml"
done
check "config is valid (lbd check)" "$LBD" check -c "$work/lbd.yaml"

# --- backends and lbd
for p in $HTTP_PORT $HTTPS_PORT $TCP_PORT $ADMIN_PORT; do
  if port_open "$p"; then echo "lbd-tls: port $p is in use (is netsim running?)"; exit 1; fi
done
go build -o "$work/echo-backends" ./e2e/echo-backends || exit 1
"$WEBD" --count 3 --base-port "$WEB_BASE" --log-level warn >"$work/webd.log" 2>&1 &
pids+=($!)
"$work/echo-backends" --count 3 --base-port "$ECHO_BASE" >"$work/echo.log" 2>&1 &
pids+=($!)
LBD_ADMIN_TOKEN=$TOKEN "$LBD" -c "$work/lbd.yaml" >"$work/lbd.log" 2>&1 &
lbd_pid=$!
pids+=($lbd_pid)
admin=http://127.0.0.1:$ADMIN_PORT
wait_for "lbd /readyz" 20 curl -sf "$admin/readyz" || { fail=$((fail + 1)); echo "$pass passed, $fail failed"; exit 1; }
wait_for "e1..e3 up" 20 bash -c "curl -sf $admin/api/v1/l4/pools/echo | jq -e '[.data.backends[] | select(.state == \"up\")] | length == 3'"
# /readyz needs one web backend up; the spread check below needs all three
# (a loaded machine brought b3 up 0.1 s after the first requests went out)
wait_for "b1..b3 up" 20 bash -c "curl -sf $admin/api/v1/pools/web/backends | jq -e '[.data[] | select(.state == \"up\")] | length == 3'"
check "lbd prints how to trust the demo CA" grep -q "Demo CA: $work/pki/ca.pem" "$work/lbd.log"

# --- HTTPS: h2 by ALPN with the demo CA, spread over b1..b3
url=https://www.example.test:$HTTPS_PORT/
resolve=(--resolve "www.example.test:$HTTPS_PORT:127.0.0.1" --cacert "$work/pki/ca.pem")
declare -A seen=()
h2=0
for _ in 1 2 3 4 5 6; do
  out=$(curl -s -o /dev/null "${resolve[@]}" -w '%{http_code} %{http_version} %header{x-lb-backend}' "$url")
  read -r code ver backend <<<"$out"
  [ "$code" = 200 ] && [ "$ver" = 2 ] && h2=$((h2 + 1))
  seen[$backend]=1
done
check "6 HTTPS requests answered 200 over HTTP/2" [ "$h2" = 6 ]
check "HTTPS requests spread over b1, b2, b3 (saw: ${!seen[*]})" [ "${seen[b1]:-}${seen[b2]:-}${seen[b3]:-}" = 111 ]
check "curl -v shows ALPN h2 accepted" bash -c "curl -sv -o /dev/null ${resolve[*]} $url 2>&1 | grep -q 'ALPN: server accepted h2'"
check "X-Forwarded-Proto https reaches the backend" bash -c \
  "curl -s ${resolve[*]} -H 'Accept: application/json' $url | jq -e '.x_forwarded_proto == \"https\"' >/dev/null"
check "sticky cookie over HTTPS is Secure" bash -c "curl -s -o /dev/null -D - ${resolve[*]} $url | grep -qi '^set-cookie:.*; Secure'"
check "plain HTTP frontend still serves" bash -c "curl -sf http://127.0.0.1:$HTTP_PORT/ >/dev/null"
check "HTTP/1.1 still offered by ALPN" bash -c "curl -s --http1.1 -o /dev/null -w '%{http_version}' ${resolve[*]} $url | grep -qx 1.1"

# --- TLS versions (the client is allowed to offer TLS 1.1; the server refuses it)
sclient() { timeout 10 openssl s_client -connect "127.0.0.1:$HTTPS_PORT" "$@" </dev/null 2>&1; }
verifies() { sclient "$@" | grep -q 'Verify return code: 0 (ok)'; }
not_verifies() { ! verifies "$@"; }
refused_tls11() {
  local out
  out=$(sclient -servername www.example.test -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0')
  grep -q 'alert protocol version' <<<"$out" && grep -q 'Cipher is (NONE)' <<<"$out"
}
check "TLS 1.1 refused by the server (protocol version alert)" refused_tls11
check "TLS 1.2 accepted" verifies -servername www.example.test -tls1_2 -CAfile "$work/pki/ca.pem"
check "TLS 1.3 accepted" verifies -servername www.example.test -tls1_3 -CAfile "$work/pki/ca.pem"

# --- SNI: api.other.test gets the other CA's certificate, anything else the
# demo one (the default). openssl checks the chain, not the name, so which
# CA verifies says which certificate came.
check "SNI api.other.test → its own certificate (the other CA verifies it)" verifies -servername api.other.test -CAfile "$work/other/ca.pem"
check "SNI api.other.test → not the demo certificate" not_verifies -servername api.other.test -CAfile "$work/pki/ca.pem"
check "SNI shop.example.test → the demo *.example.test certificate" verifies -servername shop.example.test -CAfile "$work/pki/ca.pem"
check "unknown SNI → the default (demo) certificate" verifies -servername unknown.invalid -CAfile "$work/pki/ca.pem"
check "GET /api/v1/certificates lists both certificates" bash -c \
  "curl -sf $admin/api/v1/certificates | grep -q api.other.test && curl -sf $admin/api/v1/certificates | grep -q '\\*.example.test'"

# --- L4: round robin over e1..e3, one line echoed per connection
declare -A l4=()
l4ok=0
for i in 1 2 3 4 5 6; do
  if exec 3<>"/dev/tcp/127.0.0.1/$TCP_PORT"; then
    greet="" reply=""
    read -r -t 5 greet <&3
    printf 'hello %s\n' "$i" >&3
    read -r -t 5 reply <&3
    exec 3<&- 3>&-
    id=${greet% ready}
    if [ -n "$id" ] && [ "$reply" = "$id: hello $i" ]; then
      l4ok=$((l4ok + 1)); l4[$id]=$((${l4[$id]:-0} + 1))
    fi
  fi
done
check "6 TCP connections through :$TCP_PORT greeted and echoed" [ "$l4ok" = 6 ]
check "TCP round robin: e1, e2, e3 twice each (got e1=${l4[e1]:-0} e2=${l4[e2]:-0} e3=${l4[e3]:-0})" \
  [ "${l4[e1]:-0}${l4[e2]:-0}${l4[e3]:-0}" = 222 ]

# --- admin API and metrics
check "GET /api/v1/l4/frontends shows tcp" bash -c "curl -sf $admin/api/v1/l4/frontends | jq -e '.data[0].name == \"tcp\"' >/dev/null"
check "PATCH without the token is 401" bash -c \
  "[ \$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -d '{\"state\":\"draining\"}' $admin/api/v1/l4/pools/echo/backends/e2) = 401 ]"
check "PATCH e2 draining with the token" bash -c \
  "curl -sf -X PATCH -H 'Authorization: Bearer $TOKEN' -d '{\"state\":\"draining\"}' $admin/api/v1/l4/pools/echo/backends/e2 | grep -q draining"
kill -HUP "$lbd_pid"
wait_for "reload logged" 10 grep -q "tcp configuration reloaded" "$work/lbd.log"
check "SIGHUP reload keeps e2 draining" bash -c "curl -sf $admin/api/v1/l4/pools/echo/backends/e2 | jq -e '.data.state == \"draining\"' >/dev/null"
metrics=$(curl -sf "$admin/metrics")
for m in 'lbd_l4_connections_total{frontend="tcp",result="ok"}' 'lbd_l4_bytes_total{backend="e1"' \
  'lbd_tls_handshakes_total{' 'lbd_tls_handshake_errors_total{' 'lbd_tls_certificate_expiry_seconds{'; do
  check "metric $m on :$ADMIN_PORT/metrics" grep -qF "$m" <<<"$metrics"
done

# --- testssl.sh
ts=$(command -v testssl || command -v testssl.sh || true)
[ -n "${NO_TESTSSL:-}" ] && ts=""
if [ -z "$ts" ]; then
  echo "SKIP testssl.sh not installed (apt-get install testssl.sh)"
else
  echo "--- testssl.sh against www.example.test:$HTTPS_PORT (takes a minute or two)"
  "$ts" --quiet --color 0 --warnings off --ip 127.0.0.1 --add-ca "$work/pki/ca.pem" --severity MEDIUM \
    --jsonfile "$work/testssl.json" "www.example.test:$HTTPS_PORT" >"$work/testssl.out" 2>&1
  sed -n '/Testing protocols/,$p' "$work/testssl.out" | grep -E 'Testing|offered|not offered|VULNERABLE|not vulnerable|Overall|Chain of trust|Negotiated|TLS_FALLBACK|HSTS|Rating|Grade' | head -60
  if [ ! -s "$work/testssl.json" ]; then
    bad "testssl.sh wrote no JSON"; tail -20 "$work/testssl.out"
  else
    # Findings of MEDIUM or higher, except trust in the local CA.
    findings=$(jq -r '.[] | select(.severity|test("MEDIUM|HIGH|CRITICAL")) | select(.id|test("^cert_chain_of_trust|^cert_trust")|not) | "\(.severity) \(.id): \(.finding)"' "$work/testssl.json")
    # The demo certificate names a CRL (lbd publishes it on the admin port),
    # so cert_revocation is no longer an exception.
    jq -r '.[] | select(.id|test("^cert_chain_of_trust|^cert_trust")) | select(.severity|test("MEDIUM|HIGH|CRITICAL")) | "(ignored: local CA) \(.severity) \(.id): \(.finding)"' "$work/testssl.json"
    if [ -z "$findings" ]; then
      ok "testssl.sh: no finding of severity MEDIUM or higher (besides trust in the local CA)"
    else
      bad "testssl.sh findings:"; echo "$findings"
    fi
  fi
fi

echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
