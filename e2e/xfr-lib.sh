# Shared by e2e/xfr.sh and e2e/xfr-in.sh (sourced, with NAME set): the
# ok/FAIL counters, and the tools a check needs from Debian packages.
pass=0; fail=0
ok()   { pass=$((pass+1)); echo "ok   - $*"; }
bad()  { fail=$((fail+1)); echo "FAIL - $*"; }
finish() { echo "$NAME e2e: $pass passed, $fail failed"; [ $fail -eq 0 ]; exit $?; }

# need tool:package ...: as root on Debian, installs the packages of the
# tools missing; when one is still missing, the check skips (exit 0).
need() {
  local missing=() pkgs=() tp
  for tp in "$@"; do
    command -v "${tp%%:*}" >/dev/null || { missing+=("${tp%%:*}"); pkgs+=("${tp#*:}"); }
  done
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null 2>&1; }
  fi
  for tp in "${missing[@]}"; do
    command -v "$tp" >/dev/null || { echo "skip - $tp is missing (root on Debian installs it: apt-get install ${pkgs[*]})"; exit 0; }
  done
}
