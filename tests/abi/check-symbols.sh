#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: tests/abi/check-symbols.sh LIBRARY VERSION_SCRIPT [HEADER]
# The library's dynamic symbol table must be exactly what the version script
# exports: each name defined, in the node the script puts it in (name@@NODE,
# or unversioned for an anonymous node), and nothing else defined and
# global (a symbol leaked from an inline libstdc++ function, a new function
# left out of the script). With HEADER, every GRNDPOOL_API function it
# declares must be in the script (otherwise the library would hide it).
set -euo pipefail
[[ $# == 2 || $# == 3 ]] || { echo "usage: $0 LIBRARY VERSION_SCRIPT [HEADER]" >&2; exit 2; }
lib=$1 map=$2 header=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name@@NODE per global name of the script (comments stripped; NODE empty for
# an anonymous node).
sed 's|/\*.*\*/||g' "$map" | awk '
  /\/\*/ { comment = 1 } comment { if (/\*\//) comment = 0; next }
  /{/ { node = $1; if (node == "{") node = ""; section = "" }
  /global:/ { section = "global"; next }
  /local:/ { section = "local"; next }
  section == "global" && /^[[:space:]]*[A-Za-z_][A-Za-z0-9_]*;/ {
    gsub(/[[:space:];]/, ""); print (node == "" ? $0 : $0 "@@" node)
  }' | sort >"$tmp/expected"
[[ -s $tmp/expected ]] || { echo "check-symbols: no global name in $map" >&2; exit 1; }

# Defined global dynamic symbols, without the version definitions themselves
# (ABS entries named like their node).
readelf --dyn-syms -W "$lib" | awk '
  $1 ~ /^[0-9]+:$/ && $7 != "UND" && $5 != "LOCAL" {
    name = $8; split(name, parts, "@")
    if ($7 == "ABS" && parts[1] == parts[length(parts)]) next
    print name
  }' | sort >"$tmp/exported"

status=0
while read -r sym; do
  echo "check-symbols: $lib exports $sym, which $map does not (a leak, or a wrong node)" >&2
  status=1
done < <(comm -13 "$tmp/expected" "$tmp/exported")
while read -r sym; do
  echo "check-symbols: $map exports $sym, which $lib does not define" >&2
  status=1
done < <(comm -23 "$tmp/expected" "$tmp/exported")

if [[ -n $header ]]; then
  sed -n 's/^GRNDPOOL_API [^(]*[ *]\([a-z_0-9]*\)(.*/\1/p' "$header" | sort -u >"$tmp/declared"
  [[ -s $tmp/declared ]] || { echo "check-symbols: no GRNDPOOL_API in $header" >&2; exit 1; }
  sed 's/@.*//' "$tmp/expected" | sort -u >"$tmp/names"
  while read -r name; do
    echo "check-symbols: $header declares $name, which $map does not export" >&2
    status=1
  done < <(comm -23 "$tmp/declared" "$tmp/names")
fi
((status == 0)) || exit 1
echo "check-symbols: $(basename "$lib") exports exactly the $(wc -l <"$tmp/expected") symbols" \
  "of $(basename "$map"):" $(cat "$tmp/expected")
