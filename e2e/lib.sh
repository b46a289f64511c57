# e2e/lib.sh — the check helpers of the e2e scripts; source it after
# `cd` to the repository: counts in $pass and $fail.
#   ok TEXT / bad TEXT / skip TEXT   one line of the report
#   check TEXT COMMAND...             ok when the command succeeds, else bad
#   has TEXT REGEX                    TEXT matches the extended regex
pass=0; fail=0
ok()   { pass=$((pass+1)); echo "ok   - $*"; }
bad()  { fail=$((fail+1)); echo "FAIL - $*"; }
skip() { echo "skip - $*"; }
check() { # check "description" command... : passes when the command succeeds
  local what=$1; shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
has() { grep -qE -- "$2" <<<"$1"; }
