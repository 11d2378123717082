#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# check_cxx.sh CC CXX INCLUDE_DIR: the public headers as C++ users meet them.
#   - grndpool.h: `grndpool_stats st{};` compiles in C++11..C++2b (and the
#     C++98 form without braces), with -pedantic -Werror; C keeps the old
#     function name grndpool_stats() beside grndpool_get_stats().
#   - grndpool.hpp: compiles in C++20 and C++2b, also without exceptions;
#     before C++20 it stops with one error, which names C++20;
#     grndpool::uniform<bool> is refused by uniform()'s constraint, with no
#     error from inside <type_traits>.
set -euo pipefail
cc=$1 cxx=$2 inc=$3
flags=(-Wall -Wextra -pedantic -Werror -I"$inc" -fsyntax-only)
fail() { echo "check_cxx: $*" >&2; exit 1; }

cxx_stats='#include <grndpool/grndpool.h>
int f(void);
int f(void) { grndpool_stats st{}; grndpool_get_stats(&st); return (int)st.version; }'
for std in c++11 c++14 c++17 c++20 c++2b; do
  "$cxx" -std=$std "${flags[@]}" -x c++ - <<<"$cxx_stats" ||
    fail "$std: grndpool_stats st{}; does not compile"
done
"$cxx" -std=c++98 "${flags[@]}" -x c++ - <<<"${cxx_stats//st\{\}/st}" ||
  fail "c++98: grndpool_stats st; does not compile"

c_both='#include <grndpool/grndpool.h>
int f(void);
int f(void) { struct grndpool_stats a, b; a.size = b.size = sizeof a;
  grndpool_stats(&a); grndpool_get_stats(&b); return (int)(a.version + b.version); }'
for std in c89 c11; do
  "$cc" -std=$std "${flags[@]}" -x c - <<<"$c_both" || fail "$std: grndpool_stats() is gone from C"
done

hpp_use='#include <grndpool/grndpool.hpp>
int f();
int f() { grndpool_stats s = grndpool::stats(); return (int)s.version + grndpool::uniform(1, 6) +
  (int)grndpool::describe().size(); }'
for std in c++20 c++2b; do
  "$cxx" -std=$std "${flags[@]}" -x c++ - <<<"$hpp_use" || fail "$std: grndpool.hpp does not compile"
done
"$cxx" -std=c++20 -fno-exceptions "${flags[@]}" -x c++ - <<<"$hpp_use" ||
  fail "-fno-exceptions: grndpool.hpp does not compile"

for std in c++11 c++14 c++17; do
  if out=$("$cxx" -std=$std "${flags[@]}" -x c++ - <<<'#include <grndpool/grndpool.hpp>' 2>&1); then
    fail "$std: grndpool.hpp compiled"
  fi
  errors=$(grep -c ': error: ' <<<"$out" || true)
  grep -q ': error: .*grndpool.hpp needs C++20' <<<"$out" && ((errors == 1)) ||
    fail "$std: wanted the one #error naming C++20, got $errors errors:"$'\n'"$out"
done

bool_use='#include <grndpool/grndpool.hpp>
bool coin();
bool coin() { return grndpool::uniform<bool>(false, true); }'
if out=$("$cxx" -std=c++20 "${flags[@]}" -x c++ - <<<"$bool_use" 2>&1); then
  fail "uniform<bool> compiled"
fi
grep -q 'uniform_integral' <<<"$out" || fail "uniform<bool>: no word of the constraint:"$'\n'"$out"
! grep -q 'type_traits' <<<"$out" || fail "uniform<bool> fails inside <type_traits>:"$'\n'"$out"
echo "check_cxx: C struct usable from C++11..2b (and C++98), C keeps grndpool_stats();" \
  "grndpool.hpp builds in C++20/2b and -fno-exceptions, stops before C++20 with one" \
  "#error, refuses uniform<bool> by its constraint"
