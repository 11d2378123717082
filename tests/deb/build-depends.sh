#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: tests/deb/build-depends.sh CMAKE_CACHE DEBIAN_CONTROL
# Build-Depends must name what the package build uses. Every file the package
# build's CMake found (FILEPATH entries, and <Package>_DIR of find_package)
# must belong to a package in Build-Depends, build-essential, or what they
# depend on. Fails, naming the file and its package, on anything else: a
# dependency the package build picks up without debian/control saying so
# (GoogleTest, say, if debian/rules stopped turning the tests off).
set -euo pipefail
[[ $# == 2 && -f $1 && -f $2 ]] || { echo "usage: $0 CMAKE_CACHE DEBIAN_CONTROL" >&2; exit 2; }
cache=$1 control=$2

# Build-Depends without versions, architectures or profiles; alternatives all count.
build_depends=$(sed -n '/^Build-Depends:/,/^[A-Za-z-]*:/{/^Build-Depends:/{s/^Build-Depends://;p;d};/^[A-Za-z-]*:/d;p}' "$control" |
  tr ',|' '\n\n' | sed 's/([^)]*)//g; s/\[[^]]*\]//g; s/<[^>]*>//g; s/:any//; s/[[:space:]]//g' | sed '/^$/d')
[[ -n $build_depends ]] || { echo "no Build-Depends in $control" >&2; exit 1; }
# debhelper-compat is provided by debhelper.
roots=$(printf '%s\n' $build_depends build-essential | sed 's/^debhelper-compat$/debhelper/')

# What the roots pull in, as installed here.
# shellcheck disable=SC2086  # one argument per package
allowed=$(apt-cache depends --recurse --installed --no-recommends --no-suggests --no-conflicts \
            --no-breaks --no-replaces --no-enhances $roots 2>/dev/null |
          grep -v '^ ' | sed 's/:.*//' | sort -u)

build_dir=$(sed -n 's/^CMAKE_CACHEFILE_DIR:INTERNAL=//p' "$cache")
source_dir=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$cache")
checked=0 bad=0
while IFS='=' read -r key path; do
  case $path in
    /*) ;;
    *) continue ;;  # NOTFOUND, empty, relative
  esac
  case $path in
    "$build_dir"* | "$source_dir"* | /usr/share/cmake*) continue ;;
  esac
  [[ -e $path ]] || continue
  pkg=$(dpkg -S "$(realpath "$path")" 2>/dev/null | head -n 1 | sed 's/:.*//; s/,.*//') || true
  if [[ -z $pkg ]]; then
    echo "build-depends: ${key%%:*}=$path belongs to no package" >&2
    bad=$((bad + 1))
  elif ! grep -qx "$pkg" <<<"$allowed"; then
    echo "build-depends: ${key%%:*}=$path is from $pkg, which Build-Depends does not bring" >&2
    bad=$((bad + 1))
  fi
  checked=$((checked + 1))
done < <(grep -E '^[A-Za-z0-9_.+-]+:FILEPATH=|^[A-Za-z0-9_.+-]+_DIR:PATH=' "$cache")
((checked > 0)) || { echo "build-depends: no path checked in $cache" >&2; exit 1; }
((bad == 0)) || exit 1
echo "build-depends: the $checked files the package build found come from" \
  "Build-Depends ($(tr '\n' ' ' <<<"$build_depends"| sed 's/ $//')) or build-essential"
