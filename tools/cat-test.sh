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
    # getopt_long forms: attached values, long forms, unambiguous prefixes.
    expect_count 8 -n8
    expect_count 8 --bytes=8
    expect_count 8 --bytes 8
    expect_count 8 --by=8
    expect_count 4096 -n4K -t2
    expect_count 4096 -n 4K --threads=2 --refill=direct
    ;;
  repeats)
    # A repeated option is refused, whichever form each time, naming both values.
    expect_usage_error -n 1M -n 2M
    grep -q '"1M", then "2M"' "$tmp/err" || fail "the repeat does not name both values"
    expect_usage_error -n 1M --bytes=2M
    expect_usage_error --threads 2 -t 3
    expect_usage_error --strategy mutex --strategy slab
    expect_usage_error --stats --stats
    expect_usage_error --describe --describe
    ;;
  tty)
    # Endless output to a terminal is refused; a count, or a pipe, is served.
    # script(1) gives the program a pseudo-terminal as stdout.
    out=$(timeout 10 script -qec "$cat_bin" /dev/null)
    rc=$?
    [[ $rc == 2 ]] || fail "no -n on a terminal: status $rc, wanted 2 (124: it wrote until killed)"
    grep -q 'refusing to write endless random bytes to a terminal' <<<"$out" ||
      fail "no -n on a terminal: $out"
    echo "ok: no -n on a terminal -> status 2, $(tr -d '\r' <<<"$out")"
    timeout 10 script -qec "$cat_bin -n 16" /dev/null >"$tmp/out" || fail "-n 16 on a terminal failed"
    echo "ok: -n 16 on a terminal is written"
    timeout 10 script -qec "$cat_bin --describe" /dev/null >"$tmp/out" ||
      fail "--describe on a terminal failed"
    "$cat_bin" 2>"$tmp/err" | head -c 1000 | wc -c | grep -qx 1000 || fail "no -n into a pipe"
    echo "ok: no -n into a pipe is written"
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
    expect_usage_error --sl=4K  # ambiguous: --slab-bytes or --slice-bytes
    expect_usage_error -x
    expect_usage_error -t
    expect_usage_error -n 8 leftover
    expect_usage_error --help=1
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
                GRNDPOOL_REKEY_BYTES -n --bytes -t --threads --describe 'given once'; do
      grep -q -- "$flag" "$tmp/out" || fail "--help does not mention $flag"
    done
    # A flag's own words: --stats takes no value, unlike its variable's 0|1.
    grep -A1 -- '^  --stats ' "$tmp/out" | grep -q 'takes no value; sets GRNDPOOL_STATS=1' ||
      fail "--stats help: $(grep -A1 -- '--stats' "$tmp/out")"
    ! grep -A1 -- '^  --stats ' "$tmp/out" | grep -q '^  --stats *1 ' ||
      fail "--stats help still describes the variable's value"
    echo "ok: --help lists every option"
    ;;
  *) echo "unknown case $2" >&2; exit 2 ;;
esac
