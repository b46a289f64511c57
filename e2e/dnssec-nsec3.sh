# Sourced by e2e/dnssec.sh (after its checks helpers, $WORK, $BIN, N3PIDS and
# cleanup): NSEC3 end to end on 127.0.70.x:5300, never the demo's addresses.
N3=127.0.70.1; N3R=127.0.70.9; N3S=127.0.70.3; N3K=127.0.70.4; N3U=127.0.70.99; N3P=5300
mkdir -p "$WORK/n3/zones"
cp zones/data/example.test.zone "$WORK/n3/zones/"
cat >"$WORK/n3/dnsd.yaml" <<YAML
admin: {listen: "$N3:9155", token: e2e}
zones: {dir: "$WORK/n3/zones"}
servers: [{listen: "$N3:$N3P", zones: [example.test.]}]
dnssec: {enabled: true, key_dir: "$WORK/n3/keys", denial: nsec3, nsec3_iterations: 0, nsec3_salt: ""}
primary:
  serial: increment
  zones: [{name: example.test., allow_transfer: [{from: 127.0.0.0/8}], notify: ["$N3S:$N3P", "$N3K:$N3P"]}]
YAML
"$BIN/dnsd" --config "$WORK/n3/dnsd.yaml" >"$WORK/n3/dnsd.log" 2>&1 & N3PIDS+=($!)
for i in $(seq 100); do dig +short +time=1 +tries=1 -p $N3P @$N3 example.test SOA 2>/dev/null | grep -q . && break; sleep 0.1; done
ksk=$(dig +short -p $N3P @$N3 example.test DNSKEY | awk '$1 == 257 {k = ""; for (i = 4; i <= NF; i++) k = k $i; print $1, $2, $3, k}')
if [ -z "$ksk" ]; then
  bad "NSEC3: dnsd on $N3:$N3P did not start or has no KSK:"; tail -5 "$WORK/n3/dnsd.log"
else
  printf 'trust-anchors {\n  example.test. static-key %s %s %s "%s";\n};\n' $ksk >"$WORK/n3/anchor"
  out=$(dig +norec +dnssec -p $N3P @$N3 example.test NSEC3PARAM)
  check "NSEC3: example.test. NSEC3PARAM 1 0 0 - (RFC 9276), signed" bash -c "grep -qE 'NSEC3PARAM\s+1 0 0 -' <<<\"\$1\" && grep -qE 'RRSIG\s+NSEC3PARAM' <<<\"\$1\"" _ "$out"
  out=$(dig +norec +dnssec -p $N3P @$N3 nope.example.test A)
  check "NSEC3: NXDOMAIN stays NXDOMAIN, proved by 3 NSEC3 white lies, no NSEC" bash -c "grep -q 'status: NXDOMAIN' <<<\"\$1\" && [ \$(grep -cE 'IN\s+NSEC3\s' <<<\"\$1\") -eq 3 ] && ! grep -qE '\sNSEC\s' <<<\"\$1\"" _ "$out"
  if command -v delv >/dev/null; then
    for q in "nope.example.test A:negative response, fully validated" "a.b.nope.example.test A:negative response, fully validated" \
             "www.example.test MX:negative response, fully validated" "lab.example.test A:negative response, fully validated" \
             "x.apps.example.test A:fully validated" "x.apps.example.test MX:negative response, fully validated" \
             "www.example.test A:fully validated" "example.test NSEC3PARAM:fully validated" \
             "example.test NSEC:negative response, fully validated" "www.example.test NSEC3:negative response, fully validated"; do
      # shellcheck disable=SC2086
      out=$(delv -p $N3P @$N3 -a "$WORK/n3/anchor" +root=example.test ${q%%:*} 2>&1)
      check "NSEC3: delv ${q%%:*}: ${q#*:}" has "$out" "^; ${q#*:}"
    done
  else skip "NSEC3: delv (bind9-dnsutils)"; fi
  # dnsd's own resolver, anchored at example.test.'s KSK
  cat >"$WORK/n3/resolver.yaml" <<YAML
admin: {listen: "$N3R:9155", token: e2e}
servers: [{listen: "$N3R:$N3P", zones: [], recursion: true}]
dnssec: {enabled: false}
resolver:
  stubs: [{name: example.test., addrs: ["$N3@$N3P"]}]
  dnssec: {validate: true, trust_anchor_file: "$WORK/n3/anchor"}
YAML
  "$BIN/dnsd" --config "$WORK/n3/resolver.yaml" >"$WORK/n3/resolver.log" 2>&1 & N3PIDS+=($!)
  for i in $(seq 100); do dig +time=1 +tries=1 -p $N3P @$N3R www.example.test A 2>/dev/null | grep -q 'status: NOERROR' && break; sleep 0.1; done
  for q in "nope.example.test A:NXDOMAIN" "www.example.test MX:NOERROR" "lab.example.test A:NOERROR" "x.apps.example.test A:NOERROR" "x.apps.example.test MX:NOERROR" \
           "example.test NSEC3PARAM:NOERROR" "example.test NSEC3:NOERROR"; do
    # shellcheck disable=SC2086
    out=$(dig +time=3 +tries=1 +dnssec -p $N3P @$N3R ${q%%:*})
    check "NSEC3: dnsd's resolver: ${q%%:*}: ${q#*:} with ad" bash -c "grep -q \"status: \$2\" <<<\"\$1\" && grep -q 'flags: qr rd ra ad;' <<<\"\$1\"" _ "$out" "${q#*:}"
  done
  # RRSIG records alone cannot be verified: NOERROR, never ad
  out=$(dig +time=3 +tries=1 +dnssec -p $N3P @$N3R example.test RRSIG)
  check "NSEC3: dnsd's resolver: example.test RRSIG: NOERROR, signatures, no ad" bash -c "grep -q 'status: NOERROR' <<<\"\$1\" && grep -qE '\sRRSIG\s' <<<\"\$1\" && ! grep -q 'flags: qr rd ra ad;' <<<\"\$1\"" _ "$out"
  if command -v unbound >/dev/null; then
    cat >"$WORK/n3/unbound.conf" <<EOC
server:
  interface: $N3U
  port: $N3P
  do-not-query-localhost: no
  username: ""
  chroot: ""
  directory: "$WORK/n3"
  pidfile: "$WORK/n3/unbound.pid"
  use-syslog: no
  logfile: "$WORK/n3/unbound.log"
  module-config: "validator iterator"
  trust-anchor: "example.test. DNSKEY $ksk"
  local-zone: "test." nodefault
stub-zone:
  name: "example.test."
  stub-addr: $N3@$N3P
EOC
    unbound -d -c "$WORK/n3/unbound.conf" >"$WORK/n3/unbound.out" 2>&1 & N3PIDS+=($!)
    for i in $(seq 50); do dig +time=1 +tries=1 -p $N3P @$N3U example.test SOA 2>/dev/null | grep -q 'status: NOERROR' && break; sleep 0.1; done
    for q in "nope.example.test A:NXDOMAIN" "www.example.test MX:NOERROR" "x.apps.example.test A:NOERROR"; do
      # shellcheck disable=SC2086
      out=$(dig +time=3 +tries=1 +dnssec -p $N3P @$N3U ${q%%:*})
      check "NSEC3: unbound: ${q%%:*}: ${q#*:}, secure (ad)" bash -c "grep -q \"status: \$2\" <<<\"\$1\" && grep -q 'flags: qr rd ra ad;' <<<\"\$1\"" _ "$out" "${q#*:}"
    done
  else skip "NSEC3: unbound"; fi
  # the transfer: the full NSEC3 chain
  if command -v ldns-verify-zone >/dev/null && command -v dnssec-verify >/dev/null; then
    dig +onesoa -p $N3P @$N3 example.test AXFR >"$WORK/n3/example.test.axfr"
    n=$(grep -cE 'IN\s+NSEC3\s' "$WORK/n3/example.test.axfr")
    check "NSEC3: dig AXFR: $n NSEC3 records (one per name, empty non-terminals too), no NSEC" bash -c "[ $n -ge 20 ] && ! grep -qE '\sNSEC\s' '$WORK/n3/example.test.axfr'"
    if command -v kdig >/dev/null; then
      k=$(kdig -p $N3P @$N3 example.test AXFR | grep -cE 'IN\s+NSEC3\s')
      check "NSEC3: kdig AXFR reads the same $k NSEC3 records" test "$k" -eq "$n"
    fi
    out=$(ldns-verify-zone "$WORK/n3/example.test.axfr" 2>&1)
    check "NSEC3: ldns-verify-zone on the AXFR copy: $(tail -1 <<<"$out")" has "$out" 'Zone is verified and complete'
    out=$(dnssec-verify -o example.test "$WORK/n3/example.test.axfr" 2>&1)
    check "NSEC3: dnssec-verify -o example.test on the AXFR copy: zone fully signed" has "$out" 'Zone fully signed'
  else skip "NSEC3: ldns-verify-zone / dnssec-verify (ldnsutils, bind9-utils)"; fi
  # NSD and Knot as secondaries serve the copy: its chain validates under delv;
  # after a change, NOTIFY, and an IXFR answered with the whole signed zone,
  # the new name validates there too
  if command -v nsd >/dev/null && command -v knotd >/dev/null && command -v delv >/dev/null; then
    nsd_secondary_conf "$WORK/n3/nsd" $N3S $N3P $N3 $N3P 127.0.0.0/8
    knot_secondary_conf "$WORK/n3/knot" $N3K $N3P $N3 $N3P 127.0.0.0/8
    nsd -d -c "$WORK/n3/nsd/nsd.conf" >"$WORK/n3/nsd.out" 2>&1 & N3PIDS+=($!)
    knotd -c "$WORK/n3/knot/knot.conf" >"$WORK/n3/knot.out" 2>&1 & N3PIDS+=($!)
    n3soa() { dig +short +norec +time=1 +tries=1 -p $N3P @"$1" example.test SOA 2>/dev/null | awk '/hostmaster/ {print $3}'; }
    n3wait() { for i in $(seq 100); do [ "$(n3soa $N3S)" = "$1" ] && [ "$(n3soa $N3K)" = "$1" ] && return 0; sleep 0.1; done; return 1; }
    want=$(n3soa $N3)
    check "NSEC3: NSD and Knot loaded the signed zone by AXFR (serial $want)" n3wait "$want"
    n3delv() { # server, then the checks: "name type:verdict"
      local srv=$1 q out; shift
      for q in "$@"; do
        # shellcheck disable=SC2086
        out=$(delv -p $N3P @"$srv" -a "$WORK/n3/anchor" +root=example.test ${q%%:*} 2>&1)
        check "NSEC3: secondary $srv (the transferred chain): delv ${q%%:*}: ${q#*:}" has "$out" "^; ${q#*:}"
      done
    }
    for srv in $N3S $N3K; do
      n3delv $srv "nope.example.test A:negative response, fully validated" "www.example.test MX:negative response, fully validated" "x.apps.example.test A:fully validated"
    done
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer e2e" -d '{"name":"new","type":"A","data":"127.0.0.77"}' "http://$N3:9155/api/v1/zones/example.test./records")
    want=$(n3soa $N3)
    check "NSEC3: a record added (HTTP $code); NSD and Knot follow by NOTIFY + IXFR (the whole signed zone) to serial $want" n3wait "$want"
    for srv in $N3S $N3K; do
      n3delv $srv "new.example.test A:fully validated" "new.example.test TXT:negative response, fully validated" "nope.example.test A:negative response, fully validated"
    done
  else skip "NSEC3: NSD and Knot secondaries (nsd, knot, delv)"; fi
fi
