#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Applies a systemd unit's system call filter as a real seccomp filter and
# runs grndpool under it through each way in:
#
#   systemd_unit_test.sh UNIT SANDBOX_EXEC SANDBOX_CHILD ARC4_TEST ARC4_SO OPENSSL CNF MODULES
#
# The unit's SystemCallFilter= lines are read in order, as systemd does: the
# first, an allow list, sets what may run; a later `~` line takes syscalls
# away. Groups (@system-service, ...) are expanded by systemd-analyze
# syscall-filter, recursively. A syscall off the list gets the unit's
# SystemCallErrorNumber=, or SIGSYS when there is none (systemd's default).
# Under it: sandbox_child (threads, fork, describe), the arc4random drop-in
# preloaded into a program that never linked grndpool, and `openssl rand`
# through the provider. The control: the same list with the kill action kills
# the preloaded program, as the issue reported, and no longer does once
# @memlock is allowed again: mlock is what kills.
set -euo pipefail
(($# == 8)) || { echo "usage: $0 UNIT SANDBOX_EXEC SANDBOX_CHILD ARC4_TEST ARC4_SO OPENSSL CNF MODULES" >&2; exit 2; }
unit=$1 sandbox=$2 child=$3 arc4_test=$4 arc4_so=$5 openssl=$6 cnf=$7 modules=$8
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not found (Debian package systemd)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/grndpool-unit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# expand ITEM: the syscall names of a group (recursively) or the name itself.
declare -A seen_group=()
expand() {
  local item=$1 line
  if [[ $item != @* ]]; then
    echo "${item%%:*}"  # name[:errno]: the name
    return
  fi
  [[ -n ${seen_group[$item]:-} ]] && return
  seen_group[$item]=1
  local listing
  listing=$(systemd-analyze syscall-filter --no-pager "$item") || fail "systemd-analyze does not know $item"
  while read -r line; do
    [[ -z $line || $line == \#* || $line == "$item" ]] && continue
    expand "$line"
  done <<<"$listing"
}

declare -A allowed=()
first=1 errno_action=
while IFS= read -r raw; do
  line=${raw%%#*}
  line=$(sed 's/^[[:space:]]*//; s/[[:space:]]*$//' <<<"$line")
  case $line in
  SystemCallErrorNumber=*) errno_action=${line#*=} ;;
  SystemCallFilter=*)
    value=${line#*=}
    invert=0
    [[ $value == ~* ]] && { invert=1; value=${value#\~}; }
    ((first && invert)) && fail "the first SystemCallFilter= is a deny list: only allow lists are handled"
    first=0
    for item in $value; do
      while read -r name; do
        [[ -z $name ]] && continue
        if ((invert)); then unset "allowed[$name]"; else allowed[$name]=1; fi
      done < <(expand "$item")
    done
    ;;
  esac
done <"$unit"
((first == 0)) || fail "no SystemCallFilter= in $unit"
printf '%s\n' "${!allowed[@]}" | sort >"$tmp/allowed"
echo "$unit: $(wc -l <"$tmp/allowed") syscalls allowed, others answer ${errno_action:-SIGSYS (kill)}"
for needed in getrandom mmap munmap madvise futex openat read; do
  grep -qx "$needed" "$tmp/allowed" || fail "the unit refuses $needed"
done
! grep -qx mlock "$tmp/allowed" || fail "expected the unit to refuse mlock (~@memlock)"
[[ -n $errno_action ]] || fail "the unit kills on a refused syscall (no SystemCallErrorNumber=)"

# Through the unit's filter; --expect checks it refuses mlock with the unit's errno.
run() { "$sandbox" --allow-file "$tmp/allowed" --default "$errno_action" --expect "mlock:$errno_action" -- "$@"; }

echo "== sandbox_child (threads, fork, describe)"
run "$child" -- droppable || fail "sandbox_child under the unit's filter"

echo "== the arc4random drop-in, preloaded"
GRNDPOOL_STATS=1 LD_PRELOAD=$arc4_so run "$arc4_test" 2>"$tmp/arc4.err" || { cat "$tmp/arc4.err"; fail "arc4random_test"; }
grep -q 'bytes_served=[1-9]' "$tmp/arc4.err" || { cat "$tmp/arc4.err"; fail "the drop-in did not draw from grndpool"; }
grep -q 'mlock_failures=[1-9]' "$tmp/arc4.err" || fail "mlock was not refused"

echo "== openssl rand through the provider"
out=$(GRNDPOOL_STATS=1 OPENSSL_CONF=$cnf OPENSSL_MODULES=$modules run "$openssl" rand -hex 32 2>"$tmp/ssl.err") ||
  { cat "$tmp/ssl.err"; fail "openssl rand"; }
[[ $out =~ ^[0-9a-f]{64}$ ]] || fail "openssl rand printed '$out'"
grep -q 'bytes_served=[1-9]' "$tmp/ssl.err" || fail "openssl did not draw from grndpool"

echo "== control: the same list with the kill action"
set +e
LD_PRELOAD=$arc4_so "$sandbox" --allow-file "$tmp/allowed" --default kill -- "$arc4_test" 2>/dev/null
status=$?
set -e
echo "arc4random_test exit status $status"
((status == 128 + 31)) || fail "control: expected death by SIGSYS (159), got $status"
# ... and it is mlock that kills: with @memlock allowed again the same program runs.
{ cat "$tmp/allowed"; expand @memlock; } >"$tmp/allowed+memlock"
LD_PRELOAD=$arc4_so "$sandbox" --allow-file "$tmp/allowed+memlock" --default kill -- "$arc4_test" \
  >/dev/null || fail "control: the kill filter with @memlock allowed still kills"
echo "with @memlock allowed: exit status 0"
echo PASS
