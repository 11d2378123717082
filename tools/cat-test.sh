#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: tools/cat-test.sh GRNDPOOL_CAT CASE
# The command-line contract of grndpool-cat, one CASE per CTest test.
set -uo pipefail
cat_bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_count BYTES ARGS...: exactly BYTES bytes on stdout, status 0, silent stderr.
expect_count() {
  local want=$1; shift
  local got
  got=$("$cat_bin" "$@" 2>"$tmp/err" | wc -c) || fail "$* exited nonzero"
  [[ $got == "$want" ]] || fail "$*: wrote $got bytes, wanted $want"
  [[ ! -s $tmp/err ]] || fail "$*: stderr: $(cat "$tmp/err")"
  echo "ok: $* -> $got bytes"
}

# expect_usage_error ARGS...: status 2, one line on stderr, nothing on stdout.
expect_usage_error() {
  "$cat_bin" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [[ $rc == 2 ]] || fail "$*: status $rc, wanted 2"
  [[ ! -s $tmp/out ]] || fail "$*: wrote to stdout"
  [[ $(wc -l <"$tmp/err") == 1 ]] || fail "$*: stderr is not one line: $(cat "$tmp/err")"
  echo "ok: $* -> $(cat "$tmp/err")"
}

case $2 in
  count)
    expect_count 0 -n 0
    expect_count 1 -n 1
    expect_count 100001 -n 100001
    expect_count 3145728 -n 3M
    expect_count 3145728 -n 3m --threads 3
    expect_count 1000003 -n 1000003 --threads 4 --refill direct
    expect_count 2048 -n 2K --threads 7 --strategy mutex
    ;;
  threads-distinct)
    # 64 chunks of 64 KiB from 4 threads: a chunk written twice or left unfilled
    # (a slot handed out of order) shows up as a repeated hash.
    "$cat_bin" -n 4M --threads 4 >"$tmp/out" || fail "grndpool-cat exited nonzero"
    distinct=$(split -b 65536 --filter=sha256sum "$tmp/out" | sort -u | wc -l)
    [[ $distinct == 64 ]] || fail "$distinct distinct chunks of 64, wanted 64"
    echo "ok: 64 distinct 64 KiB chunks"
    ;;
  epipe)
    for threads in 1 4; do
      "$cat_bin" --threads "$threads" 2>"$tmp/err" | head -c 100000 >/dev/null
      rc=${PIPESTATUS[0]}
      [[ $rc == 0 ]] || fail "--threads $threads: status $rc after the reader left, wanted 0"
      [[ ! -s $tmp/err ]] || fail "--threads $threads: stderr: $(cat "$tmp/err")"
      echo "ok: --threads $threads, closed pipe -> status 0, quiet"
    done
    ;;
  bad-args)
    expect_usage_error -n 12X
    expect_usage_error -n
    expect_usage_error -n 99999999999999999999
    expect_usage_error --threads 0
    expect_usage_error --threads 257
    expect_usage_error --strategy nope
    expect_usage_error --refill=aes
    expect_usage_error --slice-bytes 1000
    expect_usage_error --stats=2
    expect_usage_error --bogus
    ;;
  options)
    "$cat_bin" --strategy mutex --refill direct --slice-bytes 512 --describe >"$tmp/out" ||
      fail "--describe exited nonzero"
    grep -q 'strategy=mutex .*refill=direct slab=[0-9]*B slice=512B' "$tmp/out" ||
      fail "--describe: $(cat "$tmp/out")"
    echo "ok: $(cat "$tmp/out")"
    "$cat_bin" -n 1K --stats 2>"$tmp/err" >/dev/null || fail "--stats exited nonzero"
    grep -q 'bytes_served' "$tmp/err" || fail "--stats printed no counters: $(cat "$tmp/err")"
    echo "ok: --stats prints the counters"
    ;;
  help)
    "$cat_bin" --help >"$tmp/out" || fail "--help exited nonzero"
    # Every row of the options table is a flag, with the variable it sets.
    for flag in --strategy --source --refill --slab-bytes --slice-bytes --rekey-bytes --stats \
                GRNDPOOL_REKEY_BYTES -n --threads --describe; do
      grep -q -- "$flag" "$tmp/out" || fail "--help does not mention $flag"
    done
    echo "ok: --help lists every option"
    ;;
  *) echo "unknown case $2" >&2; exit 2 ;;
esac
