# Sourced by e2e/xfr.sh and e2e/scale.sh: Knot and NSD as secondaries of a
# dnsd primary, and the Debian packages they need.

# need_pkgs CMD:PKG … installs, as root on Debian, the package of each
# command that is missing; returns 1 (after saying which) if one still is.
need_pkgs() {
  local want=() c
  for c in "$@"; do command -v "${c%%:*}" >/dev/null || want+=("${c#*:}"); done
  if [ ${#want[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${want[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null 2>&1; }
  fi
  for c in "$@"; do
    command -v "${c%%:*}" >/dev/null || { echo "missing: ${c%%:*} (root on Debian installs it: apt-get install ${c#*:})"; return 1; }
  done
  # the Debian services, if the install started them, must not hold our ports
  systemctl stop knot nsd >/dev/null 2>&1 || true
}

# knot_secondary_conf DIR LISTEN PORT PRIMARY PRIMARY_PORT ACL_PREFIX [KEY_NAME KEY_SECRET]
# writes DIR/knot.conf: example.test. from PRIMARY (signed with the key when
# given), NOTIFY and transfers allowed from ACL_PREFIX.
knot_secondary_conf() {
  local dir=$1 listen=$2 port=$3 primary=$4 pport=$5 acl=$6 kname=${7:-} ksecret=${8:-} keyline=""
  mkdir -p "$dir"
  {
    printf 'server:\n    listen: %s@%s\n    rundir: %s\n' "$listen" "$port" "$dir"
    if [ -n "$kname" ]; then
      printf 'key:\n  - id: %s\n    algorithm: hmac-sha256\n    secret: %s\n' "$kname" "$ksecret"
      keyline="    key: $kname"
    fi
    printf 'remote:\n  - id: primary\n    address: %s@%s\n%s\n' "$primary" "$pport" "$keyline"
    cat <<CONF
acl:
  - id: from-primary
    address: $acl
    action: notify
  - id: axfr-out
    address: $acl
    action: transfer
database:
    storage: $dir
zone:
  - domain: example.test.
    master: primary
    acl: [from-primary, axfr-out]
    file: $dir/example.test.zone
    zonefile-sync: -1
    journal-content: changes
CONF
  } >"$dir/knot.conf"
}

# nsd_secondary_conf DIR LISTEN PORT PRIMARY PRIMARY_PORT ACL_PREFIX writes DIR/nsd.conf:
# example.test. from PRIMARY (asked from LISTEN: the primary's ACL is by
# prefix), NOTIFY and transfers allowed from ACL_PREFIX.
nsd_secondary_conf() {
  local dir=$1 listen=$2 port=$3 primary=$4 pport=$5 acl=$6
  mkdir -p "$dir"
  cat >"$dir/nsd.conf" <<CONF
server:
    ip-address: $listen@$port
    zonesdir: "$dir"
    database: ""
    pidfile: "$dir/nsd.pid"
    xfrdfile: "$dir/xfrd.state"
    zonelistfile: "$dir/zone.list"
    xfrdir: "$dir"
    username: ""
    logfile: "$dir/nsd.log"
    verbosity: 1
    xfrd-reload-timeout: 0
remote-control:
    control-enable: no
zone:
    name: example.test.
    zonefile: "example.test.zone"
    allow-notify: $acl NOKEY
    request-xfr: $primary@$pport NOKEY
    outgoing-interface: $listen
    provide-xfr: $acl NOKEY
CONF
  chown -R nsd: "$dir" 2>/dev/null || true
}
