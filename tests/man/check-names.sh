#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: tests/man/check-names.sh MANDIR HEADER
# The installed man pages as a user meets them (MANPATH=MANDIR only):
#   - every name in the NAME line of every grndpool page, and every public
#     function HEADER declares (GRNDPOOL_API, but the *_outline aliases), is
#     found by `man NAME` and renders without a groff warning;
#   - grndpool(3)'s SEE ALSO names every other grndpool page, and each of
#     them names grndpool(3).
# Pages may be gzipped (the .deb) or not (cmake --install).
set -euo pipefail
[[ $# == 2 && -d $1 && -f $2 ]] || { echo "usage: $0 MANDIR HEADER" >&2; exit 2; }
mandir=$(cd "$1" && pwd) header=$2
export MANPATH=$mandir MANWIDTH=80
fail() { echo "check-names: $*" >&2; exit 1; }

# The roff text of a section (".SH NAME" ... next ".SH") of a page.
section() { zcat -f "$1" | awk -v want="$2" '/^\.SH/ { inside = ($2 == want); next } inside'; }

pages=()
for page in "$mandir"/man[0-9]/grndpool* "$mandir"/man[0-9]/libgrndpool*; do
  [[ -f $page && ! -L $page ]] && pages+=("$page")
done
((${#pages[@]} >= 3)) || fail "only ${#pages[@]} grndpool pages in $mandir: ${pages[*]}"

names=()
for page in "${pages[@]}"; do
  warnings=$(man --warnings -l "$page" 2>&1 >/dev/null)
  [[ -z $warnings ]] || fail "$page: $warnings"
  # NAME: "a, b, c \- what they do"; roff's \- in a name is a hyphen.
  line=$(section "$page" NAME | tr '\n' ' ')
  line=${line%% \\- *}
  IFS=, read -ra page_names <<<"${line//\\-/-}"
  for name in "${page_names[@]}"; do names+=("$(tr -d ' ' <<<"$name")"); done
done
while read -r fn; do
  [[ $fn == *_outline ]] || names+=("$fn")
done < <(sed -n 's/^GRNDPOOL_API [^(]*[ *]\([a-z_0-9]*\)(.*/\1/p' "$header")

for name in "${names[@]}"; do
  found=$(man -w "$name" 2>&1) || fail "man $name: $found"
  [[ $found == "$mandir"/* ]] || fail "man $name finds $found, not a page in $mandir"
  man "$name" 2>/dev/null | grep -q '^NAME' || fail "man $name renders nothing"
done
echo "check-names: man finds all of: $(printf '%s\n' "${names[@]}" | sort -u | tr '\n' ' ')"

# SEE ALSO, by page name and section: grndpool(3) <-> every other page.
ref() { local base; base=$(basename "$1" .gz); echo "${base%.*}(${base##*.})"; }
see_also() {
  section "$1" "SEE" | sed -n 's/^\.BR \([^ ]*\) (\([0-9a-z]*\)).*/\1(\2)/p' | sed 's/\\-/-/g; s/\\%//g'
}
main=$mandir/man3/grndpool.3
[[ -f $main ]] || main=$main.gz
main_refs=$(see_also "$main")
for page in "${pages[@]}"; do
  [[ $(ref "$page") == "grndpool(3)" ]] && continue
  grep -qxF "$(ref "$page")" <<<"$main_refs" || fail "grndpool(3) SEE ALSO lacks $(ref "$page")"
  see_also "$page" | grep -qxF "grndpool(3)" || fail "$(ref "$page") SEE ALSO lacks grndpool(3)"
done
echo "check-names: grndpool(3) and the ${#pages[@]} pages name each other in SEE ALSO"
