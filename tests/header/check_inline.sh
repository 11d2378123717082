#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# check_inline.sh CC CXX INCLUDE_DIR SOURCE: the public header's inline draws
# compile as C89, C11 and C++20 with -Wall -Wextra -pedantic -Werror, also at
# -O0; inlined, the draw loop reads grndpool_thread_v1 and calls the library
# only off the fast path; with GRNDPOOL_NO_INLINE it reads nothing and calls
# the functions; on x86_64 a 16-byte token is copied by two movsq, and
# every copy width assembles in AT&T and Intel syntax.
set -euo pipefail
cc=$1 cxx=$2 inc=$3 src=$4
warn=(-Wall -Wextra -pedantic -Werror -I"$inc" -S -o -)
flags=(-O2 "${warn[@]}")
fail() { echo "check_inline: $*" >&2; exit 1; }

c_asm=$("$cc" -std=c11 "${flags[@]}" -x c "$src")
"$cc" -std=c89 "${flags[@]}" -x c "$src" >/dev/null || fail "C89: the header does not compile"
"$cc" -std=c11 -O0 "${warn[@]}" -x c "$src" >/dev/null || fail "-O0: the header does not compile"
instrumented_asm=$("$cc" -std=c11 -O2 -finstrument-functions "${warn[@]}" -x c "$src") ||
  fail "-finstrument-functions: the header does not compile"
grep -q 'grndpool_thread_v1' <<<"$instrumented_asm" ||
  fail "-finstrument-functions: the draw is not inlined"
# No symbol exists for the header's helpers: nothing may refer to one.
if grep -q 'grndpool_take_' <<<"$instrumented_asm"; then
  fail "-finstrument-functions: a reference to grndpool_take_, which no library defines"
fi
cxx_asm=$("$cxx" -std=c++20 "${flags[@]}" -x c++ "$src")
noinline_asm=$("$cc" -std=c11 -DGRNDPOOL_NO_INLINE "${flags[@]}" -x c "$src")

for lang in c cxx; do
  var=${lang}_asm
  grep -qi 'grndpool_thread_v1@gottpoff' <<<"${!var}" ||
    fail "$lang: the draw does not read the exported thread block (not inlined?)"
done
! grep -q 'grndpool_thread_v1' <<<"$noinline_asm" ||
  fail "GRNDPOOL_NO_INLINE still inlines the draw"
grep -Eq '(callq?|jmpq?)\s+grndpool_u32' <<<"$noinline_asm" ||
  fail "GRNDPOOL_NO_INLINE does not call grndpool_u32"
# x86_64: a 16-byte token is copied memory to memory by two movsq, not by
# rep movsb (whose start-up cost 3.5 times as much here) and not through a
# register.
if [[ $("$cc" -dumpmachine) == x86_64-* ]]; then
  token_asm=$(awk '/^token:/,/\.size[ \t]+token,/' <<<"$c_asm")
  [[ $(grep -cw 'movsq' <<<"$token_asm") == 2 ]] && ! grep -q 'rep movsb' <<<"$token_asm" ||
    fail "x86_64: the inline 16-byte draw is not two movsq: $(grep -E 'movs|rep' <<<"$token_asm" | tr -s '\t\n' '  ')"
  # The per-CPU word section is inlined too: its descriptor in __rseq_cs and
  # its abort handler in __rseq_failure (clang rewrites the directives).
  grep -Eq '^\s*\.(push)?section\s+__rseq_cs' <<<"$c_asm" &&
    grep -Eq '^\s*\.(push)?section\s+__rseq_failure' <<<"$c_asm" ||
    fail "x86_64: the inline draws carry no per-CPU section (descriptor or abort handler)"
  # Two C++ files with the same inline function that draws: the linker keeps
  # one copy, and no descriptor may point into the dropped one.
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  for unit in a b; do
    printf '#include <grndpool/grndpool.h>\ninline unsigned draw() { return grndpool_u32() + grndpool_u64(); }\nunsigned use_%s() { return draw(); }\n' \
      "$unit" | "$cxx" -std=c++20 -O2 -fPIC -I"$inc" -c -x c++ -o "$tmp/$unit.o" - ||
      fail "x86_64: an inline function that draws does not compile"
  done
  "$cxx" -shared -o "$tmp/both.so" "$tmp/a.o" "$tmp/b.o" ||
    fail "x86_64: two copies of an inline function that draws do not link (a descriptor in a dropped COMDAT?)"
  # x32 (ILP32 on x86_64: 32-bit pointers) assembles too; the per-CPU
  # section is for LP64 only. Freestanding: no x32 libc is needed.
  "$cc" -mx32 -ffreestanding -std=c11 -O2 -Wall -Wextra -pedantic -Werror -I"$inc" -c \
    -o /dev/null -x c "$src" || fail "x32: the inline draws do not assemble"
  # Every string move width assembles in both syntaxes (movsl is movsd in Intel's).
  for syntax in att intel; do
    "$cc" -std=c11 -O2 -masm=$syntax -Wall -Wextra -pedantic -Werror -I"$inc" -c -o /dev/null \
      -x c "$src" || fail "x86_64: the inline draws do not assemble with -masm=$syntax"
  done
fi
echo "check_inline: C89, C11 and C++20 inline draws compile cleanly and read" \
  "grndpool_thread_v1; GRNDPOOL_NO_INLINE calls the functions"
