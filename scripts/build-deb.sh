#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the Debian packages (libgrndpool0, libgrndpool-dev, grndpool-tools,
# grndpool-openssl-provider)
# with `dpkg-buildpackage -us -uc -b` from a copy of the working tree, runs
# lintian on them (any error fails), checks Build-Depends against what the
# package build found (tests/deb/build-depends.sh), then installs them into a
# temporary root and builds and runs a consumer against them (tests/deb/check.sh).
# Installs its own Debian 12 build dependencies.
#
#   bash scripts/build-deb.sh [OUT_DIR]     default OUT_DIR: build-deb/
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-$root/build-deb}

need=(build-essential debhelper dpkg-dev lintian cmake pkg-config liburcu-dev libssl-dev man-db)
missing=()
# The native package: a bare name installed for two architectures (the arm64
# cross build's) is ambiguous to dpkg -s.
for p in "${need[@]}"; do
  dpkg -s "$p:$(dpkg --print-architecture)" >/dev/null 2>&1 || dpkg -s "$p" >/dev/null 2>&1 ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  echo "build-deb: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/grndpool-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# dpkg-buildpackage writes its results next to the source tree and its work
# files inside it: build from a copy, without build trees or git metadata.
src=$tmp/grndpool-$version
mkdir -p "$src"
tar -C "$root" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$src" -xf -

echo "== dpkg-buildpackage -us -uc -b ($src)"
(cd "$src" && DEB_BUILD_OPTIONS="parallel=2 ${DEB_BUILD_OPTIONS:-}" nice \
  dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 || {
  tail -n 60 "$tmp/build.log"; echo "build-deb: dpkg-buildpackage failed" >&2; exit 1; }

echo "== Build-Depends against what the package build found"
bash "$root/tests/deb/build-depends.sh" "$(ls "$src"/obj-*/CMakeCache.txt)" "$src/debian/control"

mkdir -p "$out"
rm -f "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo
cp "$tmp"/*.deb "$tmp"/*.changes "$tmp"/*.buildinfo "$out"/
ls -l "$out"/*.deb

echo "== lintian"
# lintian exits nonzero when it reports an error; warnings are only printed.
lintian --display-info "$out"/*.changes | tee "$out/lintian.txt"
echo "lintian: $(grep -c '^E:' "$out/lintian.txt" || true) errors," \
  "$(grep -c '^W:' "$out/lintian.txt" || true) warnings"

bash "$root/tests/deb/check.sh" "$out"
