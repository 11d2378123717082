#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The provider through Debian's openssl(1), one case per run:
#
#   cli_test.sh CASE OPENSSL CNF MODULES_DIR SANDBOX_EXEC RNGTEST_CHECK
#
#   list          `openssl list -random-generators` shows GRNDPOOL (control: stock does not)
#   rngtest       20 MiB of `openssl rand` through it passes rngtest (tests/stats/rngtest-check.sh)
#   tls13         s_server and s_client on 127.0.0.1 complete a TLS 1.3 handshake with
#                 GRNDPOOL as their only RAND, then again with getrandom(2) denied to both
#   seccomp       `openssl rand` with getrandom denied (EPERM, ENOSYS) works through
#                 the provider; stock OpenSSL 3.0 fails the same way (the control)
#   seccomp-seed  the same with `seed = GRNDPOOL` (OpenSSL's CTR-DRBG seeded by grndpool)
set -euo pipefail
(($# == 6)) || { echo "usage: $0 CASE OPENSSL CNF MODULES_DIR SANDBOX_EXEC RNGTEST_CHECK" >&2; exit 2; }
case=$1 openssl=$2 cnf=$3 modules=$4 sandbox=$5 rngcheck=$6
export OPENSSL_MODULES=$modules
tmp=$(mktemp -d "${TMPDIR:-/tmp}/grndpool-provider.XXXXXX")
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
with() { OPENSSL_CONF=$cnf "$@"; }
stock() { OPENSSL_CONF=/dev/null "$@"; }
# bytes_served from GRNDPOOL_STATS=1's exit print in FILE (0 when absent).
served() { sed -n 's/.*bytes_served=\([0-9]*\).*/\1/p' "$1" | head -n 1 | grep . || echo 0; }

case $case in
list)
  out=$(with "$openssl" list -random-generators)
  echo "$out"
  grep -q 'GRNDPOOL @ grndpool' <<<"$out" || fail "GRNDPOOL not listed"
  control=$(stock "$openssl" list -random-generators)
  grep -q 'CTR-DRBG' <<<"$control" || fail "control: stock OpenSSL lists no CTR-DRBG"
  ! grep -q 'GRNDPOOL' <<<"$control" || fail "control: GRNDPOOL listed without the configuration"
  ;;

rngtest)
  bytes=20971520
  GRNDPOOL_STATS=1 with bash "$rngcheck" "$bytes" "$openssl" rand "$bytes" 2>"$tmp/stats"
  cat "$tmp/stats"
  (($(served "$tmp/stats") >= bytes)) || fail "grndpool served fewer than $bytes bytes"
  ;;

tls13)
  with "$openssl" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>"$tmp/req.log" ||
    { cat "$tmp/req.log"; fail "openssl req"; }
  for round in plain getrandom-denied; do
    wrap=()
    [[ $round == getrandom-denied ]] && wrap=("$sandbox" --deny getrandom:EPERM --)
    echo "== handshake, $round"
    # s_server ends its session at EOF on its input: hold a FIFO open until the client is done.
    rm -f "$tmp/server.in"
    mkfifo "$tmp/server.in"
    GRNDPOOL_STATS=1 OPENSSL_CONF=$cnf "${wrap[@]}" "$openssl" s_server -accept 127.0.0.1:0 \
      -tls1_3 -naccept 1 -cert "$tmp/cert.pem" -key "$tmp/key.pem" \
      >"$tmp/server.out" 2>"$tmp/server.err" <"$tmp/server.in" &
    server_pid=$!
    exec 3>"$tmp/server.in"
    port=
    for _ in $(seq 100); do
      port=$(sed -n 's/^ACCEPT 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/server.out")
      [[ -n $port ]] && break
      sleep 0.1
    done
    [[ -n $port ]] || { cat "$tmp/server.out" "$tmp/server.err"; fail "s_server did not start"; }
    echo "hello over TLS 1.3" | GRNDPOOL_STATS=1 OPENSSL_CONF=$cnf "${wrap[@]}" timeout 30 \
      "$openssl" s_client -connect "127.0.0.1:$port" -tls1_3 -brief -CAfile "$tmp/cert.pem" \
      -verify_return_error >"$tmp/client.out" 2>"$tmp/client.err" ||
      { cat "$tmp/client.out" "$tmp/client.err"; fail "s_client failed ($round)"; }
    exec 3>&-
    wait "$server_pid" || true
    server_pid=
    cat "$tmp/client.err"
    grep -q '^CONNECTION ESTABLISHED' "$tmp/client.err" || fail "no connection ($round)"
    grep -q '^Protocol version: TLSv1.3' "$tmp/client.err" || fail "not TLS 1.3 ($round)"
    grep -q '^Verification: OK' "$tmp/client.err" || fail "certificate not verified ($round)"
    grep -q 'hello over TLS 1.3' "$tmp/server.out" || fail "the server did not read the data ($round)"
    client=$(served "$tmp/client.err") server=$(served "$tmp/server.err")
    echo "grndpool bytes served: client $client, server $server"
    ((client > 0 && server > 0)) || fail "a side did not draw from grndpool ($round)"
    if [[ $round == getrandom-denied ]]; then
      grep -q 'urandom_fallbacks=[1-9]' "$tmp/client.err" ||
        fail "the client's getrandom was not denied"
    fi
  done
  ;;

seccomp | seccomp-seed)
  conf=$cnf
  if [[ $case == seccomp-seed ]]; then
    conf=$tmp/seed.cnf
    sed 's/^random = GRNDPOOL$/seed = GRNDPOOL/' "$cnf" >"$conf"
    grep -q '^seed = GRNDPOOL$' "$conf" || fail "could not make the seed configuration"
  fi
  for err in EPERM ENOSYS; do
    echo "== getrandom answers $err"
    out=$(GRNDPOOL_STATS=1 OPENSSL_CONF=$conf "$sandbox" --deny "getrandom:$err" -- \
      "$openssl" rand -hex 32 2>"$tmp/err") || { cat "$tmp/err"; fail "openssl rand failed ($err)"; }
    echo "$out"
    [[ $out =~ ^[0-9a-f]{64}$ ]] || fail "not 32 random bytes in hex: $out"
    grep -q 'urandom_fallbacks=[1-9]' "$tmp/err" || fail "grndpool did not fall back to /dev/urandom"
    if OPENSSL_CONF=/dev/null "$sandbox" --deny "getrandom:$err" -- "$openssl" rand -hex 32 \
      >"$tmp/stock.out" 2>"$tmp/stock.err"; then
      fail "control: stock OpenSSL 3.0 worked with getrandom denied: $(cat "$tmp/stock.out")"
    fi
    echo "control, stock OpenSSL: $(head -n 1 "$tmp/stock.err")"
  done
  ;;

*)
  echo "cli_test.sh: unknown case '$case'" >&2
  exit 2
  ;;
esac
echo PASS
